"""The 831 field errors (platform field order, messages, the spec's example byte for byte) and
the values ``check`` stores alongside them."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry_core import validation
from telemetry_core.envelope import response_bytes
from telemetry_core.validation import (
    DATA_TYPES,
    FIELD_ORDER,
    Checked,
    ProductCheck,
    check,
    parse_number,
    present,
    validate,
)

SPEC_831_BASE64 = (
    "eyJjb2RlIjo4MzEsIm1lc3NhZ2UiOiJJbmNvcnJlY3QgZm9ybWF0IGRhdGEgc2F2ZWQiLCJlcnJvcnMiOnsicHJvZHVjdF9pZCI6WyJUaGUgc2Vs"
    "ZWN0ZWQgcHJvZHVjdCBpZCBpcyBpbnZhbGlkLiJdLCJ1c2VyX2lkZW50aWZpZXIiOlsiVGhlIHVzZXIgaWRlbnRpZmllciBmaWVsZCBpcyByZXF1"
    "aXJlZC4iXSwibGljZW5zZV9rZXkiOlsiVGhlIGxpY2Vuc2Uga2V5IGZpZWxkIGlzIHJlcXVpcmVkLiJdLCJhY3RpdmF0aW9uX2lkZW50aWZpZXIi"
    "OlsiVGhlIGFjdGl2YXRpb24gaWRlbnRpZmllciBmaWVsZCBpcyByZXF1aXJlZC4iXSwicHJvZHVjdF92ZXJzaW9uIjpbIlRoZSBwcm9kdWN0IHZl"
    "cnNpb24gZmllbGQgaXMgcmVxdWlyZWQuIl0sImRhdGFfdHlwZSI6WyJUaGUgZGF0YSB0eXBlIGZpZWxkIGlzIHJlcXVpcmVkLiJdLCJkYXRhX2dy"
    "b3VwIjpbIlRoZSBkYXRhIGdyb3VwIGZpZWxkIGlzIHJlcXVpcmVkLiJdfSwidGltZXN0YW1wIjoxNzA4OTk5MDU3fQ=="
)

CORRECT = {
    "data_type": "numeric-single-value",
    "numeric_data_single_value": "50",
    "product_id": "1",
    "user_identifier": "554dddsqfqs4dqd5qsd74q",
    "license_key": "9cc2cc83-4c74-49f9-98f5-f0e1c1eb1541",
    "activation_identifier": "12135644",
    "product_version": "1.0.1",
    "data_group": "test_group",
}


def known_product(product_id: str) -> bool:
    return product_id == "1"


def test_spec_831_example_errors_byte_for_byte() -> None:
    errors = validate({"api_key": "k", "product_id": "unknown"}, known_product)
    signed = response_bytes(
        {"code": 831, "message": "Incorrect format data saved", "errors": errors, "timestamp": 1708999057}
    )
    assert signed == base64.b64decode(SPEC_831_BASE64)


def test_spec_correct_example_has_no_errors() -> None:
    assert validate(CORRECT, known_product) == {}


def test_errors_follow_the_platform_field_order() -> None:
    errors = validate({"data_type": "numeric-xy-axis"}, known_product)
    assert list(errors) == [name for name in FIELD_ORDER if name in errors]
    assert list(errors)[-3:] == ["numeric_data_x", "numeric_data_y", "data_group"]


def _case(**changes: Any) -> dict[str, Any]:
    fields = dict(CORRECT)
    for name, value in changes.items():
        if value is None:
            fields.pop(name, None)
        else:
            fields[name] = value
    return fields


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (_case(product_id=None), {"product_id": ["The product id field is required."]}),
        (_case(product_id="  "), {"product_id": ["The product id field is required."]}),
        (_case(product_id="2"), {"product_id": ["The selected product id is invalid."]}),
        (_case(product_id=1), {}),
        (_case(data_type="graph"), {"data_type": ["The selected data type is invalid."]}),
        (_case(data_type=None), {"data_type": ["The data type field is required."]}),
        (
            _case(numeric_data_single_value=None),
            {
                "numeric_data_single_value": [
                    "The numeric data single value field is required when data type is numeric-single-value."
                ]
            },
        ),
        (
            _case(numeric_data_single_value="abc"),
            {"numeric_data_single_value": ["The numeric data single value field must be a number."]},
        ),
        (_case(numeric_data_single_value=" -1.5e3 "), {}),
        (_case(numeric_data_single_value=7), {}),
        (
            _case(numeric_data_single_value=True),
            {"numeric_data_single_value": ["The numeric data single value field must be a number."]},
        ),
        (
            _case(data_type="numeric-xy-axis", numeric_data_single_value=None),
            {
                "numeric_data_x": ["The numeric data x field is required when data type is numeric-xy-axis."],
                "numeric_data_y": ["The numeric data y field is required when data type is numeric-xy-axis."],
            },
        ),
        (_case(data_type="numeric-xy-axis", numeric_data_x="1", numeric_data_y="2"), {}),
        (_case(data_type="text", text_data="hello"), {}),
        (_case(data_type="text"), {"text_data": ["The text data field is required when data type is text."]}),
        (
            _case(data_type="text", text_data="x" * 65_536),
            {"text_data": ["The text data field must not be greater than 65535 characters."]},
        ),
        (
            _case(data_group="g" * 256),
            {"data_group": ["The data group field must not be greater than 255 characters."]},
        ),
        (_case(user_identifier=True), {"user_identifier": ["The user identifier field must be a string."]}),
        (_case(license_key=None), {"license_key": ["The license key field is required."]}),
    ],
)
def test_validation_table(fields: dict[str, Any], expected: dict[str, list[str]]) -> None:
    assert validate(fields, known_product) == expected


def test_unknown_fields_are_ignored() -> None:
    assert validate({**CORRECT, "colour": "red"}, known_product) == {}


@pytest.mark.parametrize(
    ("value", "given"), [(None, False), ("", False), ("  ", False), ("0", True), (0, True), (False, True)]
)
def test_present(value: object, given: bool) -> None:
    assert present(value) is given


@pytest.mark.parametrize(
    ("value", "number"),
    [
        ("1", 1.0),
        (" 2.5 ", 2.5),
        (".5", 0.5),
        ("1e3", 1000.0),
        ("1e999", None),
        ("nan", None),
        ("0x10", None),
        (True, None),
    ],
)
def test_parse_number(value: object, number: float | None) -> None:
    assert parse_number(value) == number


def test_check_gives_the_errors_of_validate_and_a_value_for_every_known_field() -> None:
    fields = {**CORRECT, "numeric_data_single_value": "abc", "colour": "red"}
    checked = check(fields, known_product)
    assert isinstance(checked, Checked) and checked.errors == validate(fields, known_product)
    assert list(checked.values) == list(FIELD_ORDER)  # unknown fields are not values


def test_check_stores_texts_stripped_and_numbers_parsed() -> None:
    fields = {**CORRECT, "product_id": 1, "user_identifier": "  u  ", "numeric_data_single_value": " -1.5e3 "}
    values = check(fields, known_product).values
    assert (values["product_id"], values["user_identifier"]) == ("1", "u")
    assert values["numeric_data_single_value"] == -1500.0 and values["numeric_data_x"] is None
    assert values["data_type"] == "numeric-single-value" and values["text_data"] is None


def test_check_stores_text_data_verbatim_and_only_strings() -> None:
    spaced = check({**CORRECT, "data_type": "text", "text_data": "  spaced  "}, known_product)
    assert spaced.values["text_data"] == "  spaced  " and spaced.errors == {}
    number = check({**CORRECT, "data_type": "text", "text_data": 42}, known_product)
    assert number.values["text_data"] is None and number.errors == {}
    blank = check({**CORRECT, "data_type": "text", "text_data": "   "}, known_product)
    assert blank.values["text_data"] is None
    assert blank.errors == {"text_data": ["The text data field is required when data type is text."]}


def test_check_keeps_values_of_invalid_texts_and_drops_invalid_numbers() -> None:
    fields = {**CORRECT, "product_id": " 2 ", "data_group": "g" * 256, "numeric_data_x": "1e999"}
    checked = check(fields, known_product)
    assert checked.values["product_id"] == "2"
    assert checked.errors["product_id"] == ["The selected product id is invalid."]
    assert checked.values["data_group"] == "g" * 256 and "data_group" in checked.errors
    assert checked.values["numeric_data_x"] is None and "numeric_data_x" in checked.errors


@pytest.mark.parametrize("nested", [{"a": 1}, [1, 2], True])
def test_a_non_scalar_in_a_text_field_is_not_a_string_and_stores_none(nested: object) -> None:
    checked = check({**CORRECT, "license_key": nested}, known_product)
    assert checked.errors == {"license_key": ["The license key field must be a string."]}
    assert checked.values["license_key"] is None


def test_a_nested_value_in_a_numeric_field_is_not_a_number() -> None:
    checked = check({**CORRECT, "numeric_data_single_value": {"v": 1}}, known_product)
    assert checked.errors == {"numeric_data_single_value": ["The numeric data single value field must be a number."]}
    assert checked.values["numeric_data_single_value"] is None


def test_check_asks_for_the_product_only_when_its_id_is_valid_text() -> None:
    asked: list[str] = []

    def product_exists(product_id: str) -> bool:
        asked.append(product_id)
        return True

    check({**CORRECT, "product_id": " 7 "}, product_exists)
    check({**CORRECT, "product_id": "p" * 256}, product_exists)
    check({**CORRECT, "product_id": None}, product_exists)
    assert asked == ["7"]


@pytest.mark.parametrize("data_type", [" text ", "TEXT", 5])
def test_a_data_type_is_compared_verbatim(data_type: object) -> None:
    checked = check({**CORRECT, "data_type": data_type}, known_product)
    assert checked.errors["data_type"] == ["The selected data type is invalid."]
    assert list(checked.errors) == [name for name in FIELD_ORDER if name in checked.errors]


def _reference_check(fields: dict[str, Any], product_exists: ProductCheck) -> Checked:
    """``check`` without its fast paths: every field through the rules of ``_check``."""
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    data_type = fields.get("data_type")
    for name in FIELD_ORDER:
        message, values[name] = validation._check(name, fields.get(name), data_type, product_exists)
        if message:
            errors[name] = [message]
    product_id = values["product_id"]
    if "product_id" not in errors and isinstance(product_id, str) and not product_exists(product_id):
        errors["product_id"] = ["The selected product id is invalid."]
    if "data_type" not in errors and data_type not in DATA_TYPES:
        errors["data_type"] = ["The selected data type is invalid."]
    return Checked({name: errors[name] for name in FIELD_ORDER if name in errors}, values)


_TEXTS = st.one_of(
    st.text(alphabet=" \t1.e-+x5", max_size=6),
    st.sampled_from(["1", " 1 ", "", "   ", "1e999", "nan", "٣", *DATA_TYPES, " text "]),
    st.builds(lambda n, pad: pad + "x" * n + pad, st.sampled_from([254, 255, 256, 65_535, 65_536]),
              st.sampled_from(["", " "])),
)
_VALUES = st.one_of(st.none(), _TEXTS, st.integers(), st.floats(), st.booleans(), st.just([1]), st.just({"a": 1}))


@given(st.dictionaries(st.sampled_from([*FIELD_ORDER, "colour"]), _VALUES),
       st.sampled_from([None, *DATA_TYPES, "graph", 5]))
@settings(max_examples=200, deadline=None)
def test_check_equals_the_rules_field_by_field(fields: dict[str, Any], data_type: Any) -> None:
    if data_type is not None:
        fields["data_type"] = data_type
    expected = _reference_check(fields, known_product)
    checked = check(fields, known_product)
    assert checked.errors == expected.errors and list(checked.errors) == list(expected.errors)
    assert list(checked.values) == list(FIELD_ORDER)
    assert checked.values.keys() == expected.values.keys()
    for name in FIELD_ORDER:  # NaN-free: a NaN never parses; compare types too (1 vs 1.0 vs True)
        got, want = checked.values[name], expected.values[name]
        assert (type(got), got) == (type(want), want), name
