"""Pure validation of a telemetry submission -> Laravel-style field errors (the 831 answer).

Errors come in the platform's field order. Context fields are optional for *acceptance*
but required for a *correct* format. Empty and whitespace-only values count as absent,
as they do on the platform (its input is trimmed and empty strings become null).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

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


def validate(fields: Mapping[str, Any], product_exists: ProductCheck) -> FieldErrors:
    """Every error of a submission, keyed by field in ``FIELD_ORDER``; empty when correct.

    ``product_exists(product_id)`` answers for the authenticated key's tenant.
    """
    errors: FieldErrors = {}
    data_type = fields.get("data_type")
    for name in FIELD_ORDER:
        message = _check(name, fields.get(name), data_type, product_exists)
        if message:
            errors[name] = [message]
    return errors


def _check(name: str, value: Any, data_type: Any, product_exists: ProductCheck) -> str | None:
    if name in NUMERIC_FIELDS:
        return _check_numeric(name, value, data_type)
    if name == "text_data":
        if not present(value):
            return f"The {label(name)} field is required when data type is text." if data_type == "text" else None
        return _check_text(name, value)
    if not present(value):
        return f"The {label(name)} field is required."
    message = _check_text(name, value)
    if message:
        return message
    if name == "data_type" and value not in DATA_TYPES:
        return f"The selected {label(name)} is invalid."
    if name == "product_id" and not product_exists(as_text(value) or ""):
        return f"The selected {label(name)} is invalid."
    return None


def _check_text(name: str, value: Any) -> str | None:
    text = as_text(value)
    if text is None:
        return f"The {label(name)} field must be a string."
    if len(text) > MAX_LENGTH[name]:
        return f"The {label(name)} field must not be greater than {MAX_LENGTH[name]} characters."
    return None


def _check_numeric(name: str, value: Any, data_type: Any) -> str | None:
    wanted = NUMERIC_FIELDS[name]
    if not present(value):
        return f"The {label(name)} field is required when data type is {wanted}." if data_type == wanted else None
    if parse_number(value) is None:
        return f"The {label(name)} field must be a number."
    return None
