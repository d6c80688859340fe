from __future__ import annotations

import json
from urllib.parse import parse_qsl

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest_api.parsing import (
    MAX_DEPTH,
    MAX_FIELDS,
    BodyError,
    MediaTypeError,
    count_fields,
    parse_batch,
    parse_event,
    parse_form,
)

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def test_form_keeps_blank_values_and_the_last_of_repeated_names() -> None:
    assert parse_event(FORM, b"a=1&b=&a=2&c=%C3%A9+x") == {"a": "2", "b": "", "c": "é x"}


_FORM_TEXT = st.text(alphabet=st.sampled_from("ab=&%+é\u00ff\u4e16 0"), max_size=30)


@given(_FORM_TEXT)
def test_form_reads_as_parse_qsl_with_blank_values(text: str) -> None:
    body = text.encode()
    try:
        expected = dict(parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict"))
    except UnicodeDecodeError:
        with pytest.raises(BodyError, match="UTF-8"):
            parse_form(body)
        return
    assert parse_form(body) == expected


def test_form_that_is_not_utf8_is_malformed() -> None:
    for body in (b"a=\xff", b"a=%FF", b"\xc3=1"):
        with pytest.raises(BodyError, match="not valid UTF-8"):
            parse_form(body)


def test_json_object_keeps_scalars_verbatim() -> None:
    body = b'{"product_id": 1, "x": 1.5, "flag": true, "none": null, "t": "\\u00e9"}'
    assert parse_event(JSON, body) == {"product_id": 1, "x": 1.5, "flag": True, "none": None, "t": "é"}


def test_vendor_json_type_is_json() -> None:
    assert parse_event("application/vnd.telemetry+json", b'{"a": "b"}') == {"a": "b"}


def test_empty_body_has_no_fields_whatever_its_type() -> None:
    assert parse_event("", b"") == {}
    assert parse_event("application/octet-stream", b"") == {}


def test_unknown_type_with_a_body_is_a_media_type_error() -> None:
    with pytest.raises(MediaTypeError, match="text/plain is not accepted"):
        parse_event("text/plain", b"x")
    with pytest.raises(MediaTypeError, match="content type none"):
        parse_event("", b"x")


def test_too_many_fields() -> None:
    form = "&".join(f"f{i}=1" for i in range(MAX_FIELDS + 1)).encode()
    with pytest.raises(BodyError, match="more than"):
        parse_event(FORM, form)
    with pytest.raises(BodyError, match="more than"):
        parse_event(JSON, ("{" + ",".join(f'"f{i}":1' for i in range(MAX_FIELDS + 1)) + "}").encode())


def test_sdk_extras_nested_objects_and_lists_are_kept_verbatim() -> None:
    body = (
        b'{"hwid": "HW-1", "country": "BE", "flags": {"beta": true, "ids": [1, 2.5, null]},'
        b' "metadata": [{"os": "linux"}, "x", []], "empty": {}}'
    )
    assert parse_event(JSON, body) == {
        "hwid": "HW-1",
        "country": "BE",
        "flags": {"beta": True, "ids": [1, 2.5, None]},
        "metadata": [{"os": "linux"}, "x", []],
        "empty": {},
    }


def test_nested_members_count_against_the_field_budget() -> None:
    """One per top-level field, plus one per member (object key or array element) at any depth."""
    assert count_fields({"a": 1, "flags": {"x": [1, 2], "y": {}}, "m": []}) == 3 + 2 + 2
    fits = {"a": 1, "flags": {f"k{i}": [i] for i in range((MAX_FIELDS - 2) // 2)}}
    assert count_fields(fits) <= MAX_FIELDS
    assert parse_event(JSON, json.dumps(fits).encode()) == fits
    over = {"a": 1, "flags": {"x": list(range(MAX_FIELDS - 2))}}
    assert count_fields(over) == MAX_FIELDS + 1
    with pytest.raises(BodyError, match=f"more than {MAX_FIELDS} fields"):
        parse_event(JSON, json.dumps(over).encode())
    with pytest.raises(BodyError, match=r"events\[0\] has more than"):
        parse_batch(JSON, json.dumps([over]).encode())


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    deep: object = 1
    for _ in range(MAX_DEPTH):
        deep = [deep]
    assert parse_event(JSON, json.dumps({"m": deep}).encode()) == {"m": deep}
    with pytest.raises(BodyError, match=f"nested more than {MAX_DEPTH} levels deep"):
        parse_event(JSON, json.dumps({"m": [deep]}).encode())


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"a": [1, [2, NaN]]}', "not valid JSON"),
        (b'{"a": {"b": "\\ud800"}}', "a.b: not valid Unicode"),
        (b'{"a": -Infinity}', "not valid JSON"),
        (b'"text"', "must be a JSON object"),
    ],
)
def test_json_bodies_the_event_cannot_carry(body: bytes, message: str) -> None:
    with pytest.raises(BodyError, match=message):
        parse_event(JSON, body)


def test_batch_array_wrapper_and_ndjson() -> None:
    assert parse_batch(JSON, b'[{"a": 1}, {}]') == ([{"a": 1}, {}], {})
    assert parse_batch(JSON, b'{"api_key": "k", "events": [{"a": 1}]}') == ([{"a": 1}], {"api_key": "k"})
    assert parse_batch("application/x-ndjson", b'{"a": 1}\n\n  \n{"b": 2}') == ([{"a": 1}, {"b": 2}], {})


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        (JSON, b'{"events": {"a": 1}}', "a batch is a JSON array"),
        (JSON, b'{"api_key": "k"}', "a batch is a JSON array"),
        (JSON, b'{"events": [], "other": 1}', "unknown batch member 'other'"),
        (JSON, b'[{"a": 1}, "x"]', r"events\[1\] must be a JSON object"),
        (JSON, b'[{"a": {"b": 1e999}}]', r"events\[0\]\.a\.b: number out of range"),
        ("application/x-ndjson", b'{"a": 1}\n[1]', r"events\[1\] must be a JSON object"),
        ("application/x-ndjson", b'{"a": 1}\n{oops', "line 2 is not valid JSON"),
    ],
)
def test_bad_batches(content_type: str, body: bytes, message: str) -> None:
    with pytest.raises(BodyError, match=message):
        parse_batch(content_type, body)


def test_batch_of_form_is_a_media_type_error() -> None:
    with pytest.raises(MediaTypeError):
        parse_batch(FORM, b"a=1")
