"""Pure validation of a telemetry submission -> Laravel-style field errors (the 831 answer).

Errors come in the platform's field order. Context fields are optional for *acceptance*
but required for a *correct* format. Empty and whitespace-only values count as absent,
as they do on the platform (its input is trimmed and empty strings become null).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from telemetry_core.events import FieldErrors

DATA_TYPES = ("numeric-single-value", "numeric-xy-axis", "text")

FIELD_ORDER = (
    "product_id",
    "user_identifier",
    "license_key",
    "activation_identifier",
    "product_version",
    "data_type",
    "numeric_data_single_value",
    "numeric_data_x",
    "numeric_data_y",
    "text_data",
    "data_group",
)
CONTEXT_FIELDS = ("user_identifier", "license_key", "activation_identifier", "product_version")
NUMERIC_FIELDS = {
    "numeric_data_single_value": "numeric-single-value",
    "numeric_data_x": "numeric-xy-axis",
    "numeric_data_y": "numeric-xy-axis",
}
MAX_LENGTH = {name: 255 for name in FIELD_ORDER}
MAX_LENGTH["text_data"] = 65_535
# Stored as received (not stripped): text is the payload, data_type is compared verbatim.
_VERBATIM = frozenset({"text_data", "data_type"})
# How ``check`` walks the fields on its fast path, in FIELD_ORDER (so ``Checked.values`` is in
# that order): the plain texts before data_type (stripped, at most 255 characters), data_type
# (verbatim), the numbers, text_data (verbatim, 65,535), the plain texts after it.
_PLAIN_TEXTS = tuple(name for name in FIELD_ORDER if name not in NUMERIC_FIELDS and name not in _VERBATIM)
_LEADING_TEXTS = _PLAIN_TEXTS[: FIELD_ORDER.index("data_type")]
_TRAILING_TEXTS = _PLAIN_TEXTS[len(_LEADING_TEXTS) :]
_NUMBERS = tuple(NUMERIC_FIELDS.items())
_LONGEST_PLAIN_TEXT = 255
_LONGEST_TEXT_DATA = MAX_LENGTH["text_data"]
assert all(MAX_LENGTH[name] == _LONGEST_PLAIN_TEXT for name in _PLAIN_TEXTS)
assert (*_LEADING_TEXTS, "data_type", *NUMERIC_FIELDS, "text_data", *_TRAILING_TEXTS) == FIELD_ORDER

# PHP is_numeric: optional surrounding whitespace, sign, decimal digits, exponent.
_NUMERIC = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")

ProductCheck = Callable[[str], bool]


def label(name: str) -> str:
    """The attribute as it appears in messages: ``numeric_data_x`` -> ``numeric data x``."""
    return name.replace("_", " ")


def present(value: Any) -> bool:
    """A value counts as given unless it is absent, null, or a blank string."""
    if value is None:
        return False
    return not (isinstance(value, str) and not value.strip())


def as_text(value: Any) -> str | None:
    """The string form of a scalar (JSON numbers are accepted as ids); ``None`` for others."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return str(value)


def parse_number(value: Any) -> float | None:
    """The finite number a field holds, or ``None`` when it is not one."""
    if isinstance(value, bool):
        return None
    if not (isinstance(value, int | float) or (isinstance(value, str) and _NUMERIC.match(value))):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


Normal = str | float | None


class Checked(NamedTuple):
    """A submission checked once: its field errors (the 831 answer) and every known field's value
    as stored (texts stripped, numbers parsed; ``None`` when absent or not a valid value). A tuple:
    the flagger makes one per event, and a frozen dataclass costs several times as much to make."""

    errors: FieldErrors
    values: dict[str, Normal]


def validate(fields: Mapping[str, Any], product_exists: ProductCheck) -> FieldErrors:
    """Every error of a submission, keyed by field in ``FIELD_ORDER``; empty when correct.

    ``product_exists(product_id)`` answers for the authenticated key's tenant.
    """
    return check(fields, product_exists).errors


def check(fields: Mapping[str, Any], product_exists: ProductCheck) -> Checked:
    """``validate`` plus the parsed values, so a caller that stores the event parses each field once.

    A field that is a usable string, or absent where its data type does not need it (nearly every
    field of nearly every event), is handled inline, one loop per kind of field; everything else
    goes through ``_check`` (the reference rules)."""
    errors: FieldErrors = {}
    values: dict[str, Normal] = {}
    get = fields.get
    _plain_texts(_LEADING_TEXTS, fields, product_exists, errors, values)
    data_type = get("data_type")
    if type(data_type) is str and data_type in DATA_TYPES:
        values["data_type"] = data_type
    else:
        _slow("data_type", data_type, fields, product_exists, errors, values)
        if "data_type" not in errors:
            errors["data_type"] = [f"The selected {label('data_type')} is invalid."]
    for name, wanted in _NUMBERS:
        value = get(name)
        if value is None and wanted != data_type:
            values[name] = None  # absent, and not required for this data type
        elif type(value) is str and _NUMERIC.match(value) and math.isfinite(number := float(value)):
            values[name] = number
        else:
            _slow(name, value, fields, product_exists, errors, values)
    value = get("text_data")
    if value is None and data_type != "text":
        values["text_data"] = None
    elif type(value) is str and (text := value.strip()) and len(text) <= _LONGEST_TEXT_DATA:
        values["text_data"] = value
    else:
        _slow("text_data", value, fields, product_exists, errors, values)
    _plain_texts(_TRAILING_TEXTS, fields, product_exists, errors, values)
    if "product_id" not in errors:
        product_id = values["product_id"]
        if isinstance(product_id, str) and not product_exists(product_id):
            errors["product_id"] = [f"The selected {label('product_id')} is invalid."]
    if errors:  # back into the platform's field order
        errors = {name: errors[name] for name in FIELD_ORDER if name in errors}
    return tuple.__new__(Checked, (errors, values))  # one per event: skips the NamedTuple's Python __new__


def _plain_texts(
    names: tuple[str, ...], fields: Mapping[str, Any], product_exists: ProductCheck, errors: FieldErrors,
    values: dict[str, Normal],
) -> None:
    get = fields.get
    for name in names:
        value = get(name)
        if type(value) is str and (text := value.strip()) and len(text) <= _LONGEST_PLAIN_TEXT:
            values[name] = text
        else:
            _slow(name, value, fields, product_exists, errors, values)


def _slow(
    name: str, value: Any, fields: Mapping[str, Any], product_exists: ProductCheck, errors: FieldErrors,
    values: dict[str, Normal],
) -> None:
    message, values[name] = _check(name, value, fields.get("data_type"), product_exists)
    if message:
        errors[name] = [message]


def _check(name: str, value: Any, data_type: Any, product_exists: ProductCheck) -> tuple[str | None, Normal]:
    if name in NUMERIC_FIELDS:
        return _check_numeric(name, value, data_type)
    if not present(value):
        if name == "text_data":
            needed = data_type == "text"
            return (f"The {label(name)} field is required when data type is text." if needed else None), None
        return f"The {label(name)} field is required.", None
    text = as_text(value)
    if text is None:
        return f"The {label(name)} field must be a string.", None
    stored: Normal = text
    if name in _VERBATIM:  # as received, and only a string (a number given as text_data is not stored)
        stored = value if isinstance(value, str) else None
    if len(text) > MAX_LENGTH[name]:
        return f"The {label(name)} field must not be greater than {MAX_LENGTH[name]} characters.", stored
    return None, stored


def _check_numeric(name: str, value: Any, data_type: Any) -> tuple[str | None, Normal]:
    wanted = NUMERIC_FIELDS[name]
    if not present(value):
        needed = data_type == wanted
        return (f"The {label(name)} field is required when data type is {wanted}." if needed else None), None
    number = parse_number(value)
    if number is None:
        return f"The {label(name)} field must be a number.", None
    return None, number
