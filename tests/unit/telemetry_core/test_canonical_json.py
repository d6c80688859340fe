"""The canonical JSON of answers: both SDKs' re-serialisations reproduce it byte for byte.

Property-based over arbitrary numbers, texts and nesting, against the re-implementations of
JS ``JSON.stringify(JSON.parse(...))`` and PHP ``json_encode(json_decode(..., true), ...)`` in
tests/sdk_serialisers.py; the real node and php run in tests/integration/test_sdk_verification.py.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sdk_serialisers import (
    js_number,
    js_parse,
    js_reserialise,
    js_stringify,
    php_decode,
    php_encode,
    php_float,
    php_reserialise,
    verifies_like_the_sdks,
)

from telemetry_core.canonical_json import MAX_SAFE_INTEGER, dumps, number_text
from telemetry_core.envelope import EnvelopeSigner
from telemetry_core.settings import Settings
from telemetry_core.signing import Signer, load_or_create_signer

SPECIAL_CHARACTERS = ["\u2028", "\u2029", "\x00", "\x1f", "\x7f", "/", "\\", '"', "\ud800", "\udfff", "é", "😀"]
texts = st.text(st.characters(codec=None, exclude_categories=()) | st.sampled_from(SPECIAL_CHARACTERS), max_size=12)
keys = texts | st.integers(0, 12).map(str) | st.sampled_from(["4294967294", "4294967295", "-1", "01", "-0", "1e3"])
edge_floats = st.sampled_from([0.0, -0.0, 1e-4, 9.999e-5, 1e-6, 1e-7, 1e16, 1e17, 2.0**53, 2.0**63, 1e21, 5e-324])
numbers = st.integers() | st.floats() | edge_floats | st.integers(-(2**64), 2**64)
scalars = st.none() | st.booleans() | numbers | texts
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4), max_leaves=25
)
# The PHP and JS outputs of real php 8.2 (serialize_precision=-1) and node 20 for these inputs.
OBSERVED = [
    ("50.0", "50", "50"),
    ("1e25", "1.0e+25", "1e+25"),
    ("1.5e25", "1.5e+25", "1.5e+25"),
    ("0.00001", "1.0e-5", "0.00001"),
    ("0.0001", "0.0001", "0.0001"),
    ("1.5e-7", "1.5e-7", "1.5e-7"),
    ("1e16", "10000000000000000", "10000000000000000"),
    ("1e17", "1.0e+17", "100000000000000000"),
    ("9223372036854775808", "9.223372036854776e+18", "9223372036854776000"),
    ("1152921504606847000", "1152921504606847000", "1152921504606847000"),
    ("-0", "0", "0"),
    ("-0.0", "-0", "0"),
    ("5e-324", "5.0e-324", "5e-324"),
    ("{}", "[]", "{}"),
    ('{"0":"a","1":"b"}', '["a","b"]', '{"0":"a","1":"b"}'),
    ('{"b":1,"1":2}', '{"b":1,"1":2}', '{"1":2,"b":1}'),
    (
        '{"a":0,"4294967295":2,"4294967294":1}',
        '{"a":0,"4294967295":2,"4294967294":1}',
        '{"4294967294":1,"a":0,"4294967295":2}',
    ),
    ('"\\u2028"', '"\\u2028"', '"\u2028"'),
    ('"\\u0001\\u001f\\u007f/\\u00e9"', '"\\u0001\\u001f\x7f/é"', '"\\u0001\\u001f\x7f/é"'),
]


@pytest.mark.parametrize(("given_json", "php", "js"), OBSERVED)
def test_the_reimplementations_match_what_php_and_node_printed(given_json: str, php: str, js: str) -> None:
    assert php_encode(php_decode(given_json)) == php
    assert js_stringify(js_parse(given_json)) == js


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_number_text_is_ecmascript_number_to_string(value: float) -> None:
    assert number_text(value) == js_number(value)
    assert float(number_text(value)) == value


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (50.0, b"50"),
        (-0.0, b"0"),
        (0.1, b"0.1"),
        (1e-4, b"0.0001"),
        (123456.789, b"123456.789"),
        (MAX_SAFE_INTEGER, b"9007199254740991"),
        (MAX_SAFE_INTEGER + 1, b'"9007199254740992"'),
        (-(2**70), b'"-1180591620717411303424"'),
        (1e-5, b'"0.00001"'),
        (1e-7, b'"1e-7"'),
        (2.0**60, b'"1152921504606847000"'),
        (1e21, b'"1e+21"'),
        (math.nan, b"null"),
        (-math.inf, b"null"),
        ({}, b"[]"),
        ({"0": "a", "1": "b"}, b'["a","b"]'),
        ({"b": 1, "2": 2, "a": 3, "0": 4}, b'{"0":4,"2":2,"b":1,"a":3}'),
        ({"a": 0, "4294967295": 2, "4294967294": 1}, b'{"4294967294":1,"a":0,"4294967295":2}'),
        ("\u2028 \u2029", b'"\\u2028 \\u2029"'),
        ("a\ud800b", '"a\ufffdb"'.encode()),
        ("é/\x1f\x7f", '"é/\\u001f\x7f"'.encode()),
    ],
)
def test_written_forms(value: Any, written: bytes) -> None:
    assert dumps(value) == written


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_php_and_js_reproduce_the_bytes(value: Any) -> None:
    written = dumps(value)
    assert php_encode(php_decode(written.decode())).encode() == written
    parsed = json.loads(written)
    js = js_stringify(js_parse(written.decode())).encode()
    if _has_line_terminator(parsed):  # the documented exception: JS writes them raw
        assert js == written.replace(b"\\u2028", "\u2028".encode()).replace(b"\\u2029", "\u2029".encode())
    else:
        assert js == written


@given(numbers)
def test_numbers_keep_their_value(value: int | float) -> None:
    parsed = json.loads(dumps(value))
    if isinstance(value, float) and not math.isfinite(value):
        assert parsed is None
    elif isinstance(parsed, str):
        assert (float(parsed) if isinstance(value, float) else int(parsed)) == value
    else:
        assert parsed == value
        assert isinstance(value, int) or not value.is_integer() or isinstance(parsed, int)


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> Signer:
    return load_or_create_signer(Settings(data_dir=tmp_path_factory.mktemp("canonical")))


records = st.fixed_dictionaries(
    {"id": texts, "numeric_data_single_value": numbers | st.none(), "text_data": texts},
    optional={"metadata": values, "flags": values},
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(records, max_size=4), texts)
def test_envelopes_of_arbitrary_records_verify_like_the_sdks(
    signer: Signer, data: list[dict[str, Any]], message: str
) -> None:
    body = EnvelopeSigner(signer).envelope({"code": 200, "message": message, "data": data, "timestamp": 1})
    if _has_line_terminator(json.loads(body)):
        assert php_reserialise(body) == body[: body.rindex(b',"signature"')] + b"}"
        assert js_reserialise(body) != php_reserialise(body)
    else:
        assert verifies_like_the_sdks(signer.public_key_pem, body)


def _has_line_terminator(value: Any) -> bool:
    if isinstance(value, str):
        return "\u2028" in value or "\u2029" in value
    if isinstance(value, dict):
        return any(_has_line_terminator(k) or _has_line_terminator(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_line_terminator(item) for item in value)
    return False


def test_php_float_layout_examples() -> None:
    assert [php_float(x) for x in (1e25, 1e-5, 0.0001, 1e16, 1e17, 0.5, 123.0)] == [
        "1.0e+25", "1.0e-5", "0.0001", "10000000000000000", "1.0e+17", "0.5", "123",
    ]  # fmt: skip

