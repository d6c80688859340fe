"""The JSON text of every answer: bytes the official SDKs reproduce when they re-serialise it.

The SDKs verify a signature over their own re-serialisation of the parsed envelope: the JS SDK
with ``JSON.stringify``, the PHP and Laravel SDKs with ``json_encode(..., JSON_UNESCAPED_SLASHES
| JSON_UNESCAPED_UNICODE)`` after ``json_decode(..., true)``. :func:`dumps` writes every value in
the one form both of them write back unchanged, so the signed bytes are the body's bytes:

- compact, no whitespace; ``/`` and non-ASCII characters unescaped (UTF-8);
- ``"`` ``\\`` and the control characters escaped as both do (``\\n``..., else ``\\u001f``);
  U+2028 and U+2029 as ``\\u2028`` / ``\\u2029`` (PHP's form: the two serialisers cannot agree on
  them, see docs/ingest.md); lone surrogates (not valid Unicode) become U+FFFD;
- object members in JavaScript's own-key order (integer keys ascending first, then the rest in
  insertion order); an object PHP decodes into a list (no keys, or exactly ``"0"``..``"n-1"``)
  is written as that list, e.g. ``{}`` as ``[]``;
- an integer of magnitude at most 2^53 - 1 and a float of magnitude in [0.0001, 2^53) as a JSON
  number (an integral float without fraction: ``50.0`` as ``50``; ``-0.0`` as ``0``); any other
  finite number as a JSON *string* of its shortest round-trip decimal (``"1e-7"``,
  ``"0.00001"``, ``"9007199254740993"``), because JS and PHP write those numbers differently or
  JS cannot hold them; NaN and the infinities as ``null``.

The value is first normalised into these forms (Python, one pass) and then written by orjson;
orjson's own number text is only relied on where it is the shortest plain decimal (floats in
[0.0001, 2^53), integers up to 2^53 - 1), which the property tests check against both SDKs.
"""

from __future__ import annotations

import math
import re
from typing import Any

import orjson

MAX_SAFE_INTEGER = 2**53 - 1  # JavaScript's Number.MAX_SAFE_INTEGER
_MIN_PLAIN_FLOAT = 1e-4  # PHP writes smaller magnitudes in exponent form, JS only below 1e-6
_MAX_ARRAY_INDEX = 2**32 - 2  # the largest key JavaScript orders as an array index
_INDEX_KEY = re.compile(r"0|[1-9][0-9]{0,9}")
_SURROGATE = re.compile("[\ud800-\udfff]")
_LINE_SEPARATOR, _PARAGRAPH_SEPARATOR = "\u2028".encode(), "\u2029".encode()


def dumps(value: Any) -> bytes:
    """The canonical UTF-8 JSON text of ``value`` (dicts, lists/tuples, str, int, float, bool, None)."""
    text = orjson.dumps(normalise(value))
    if _LINE_SEPARATOR in text or _PARAGRAPH_SEPARATOR in text:
        # Raw U+2028/U+2029 bytes only occur inside strings, where the escape means the same.
        text = text.replace(_LINE_SEPARATOR, b"\\u2028").replace(_PARAGRAPH_SEPARATOR, b"\\u2029")
    return text


def normalise(value: Any) -> Any:
    """``value`` with every number, text and object already in the form described above."""
    kind = type(value)
    if kind is str:
        return value if value.isascii() else _text(value)
    if kind is float:
        return _float(value)
    if kind is int:
        return value if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else str(value)
    if value is None or kind is bool:
        return value
    if kind is dict:
        return _object(value)
    if kind is list or kind is tuple:
        return [normalise(item) for item in value]
    return normalise(_plain(value))


def number_text(value: float) -> str:
    """ECMAScript ``Number::toString`` of a finite float: shortest round-trip digits."""
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    mantissa, _, exponent = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    every = whole + fraction
    significant = every.lstrip("0")
    point = len(whole) + int(exponent or 0) - (len(every) - len(significant))
    digits = significant.rstrip("0")
    count = len(digits)
    if count <= point <= 21:
        return sign + digits + "0" * (point - count)
    if 0 < point <= 21:
        return sign + digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return sign + "0." + "0" * -point + digits
    power = point - 1
    tail = f"e{'+' if power >= 0 else '-'}{abs(power)}"
    return sign + (digits if count == 1 else digits[0] + "." + digits[1:]) + tail


def _text(value: str) -> str:
    """Lone surrogates (no valid Unicode; PHP cannot decode their escapes) become U+FFFD."""
    return _SURROGATE.sub("\ufffd", value)


def _float(value: float) -> float | int | str | None:
    if value.is_integer():
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return int(value)  # also turns -0.0 into 0
    elif _MIN_PLAIN_FLOAT <= abs(value) < 2**53:
        return value
    if not math.isfinite(value):
        return None
    return number_text(value)


def _object(members: dict[Any, Any]) -> Any:
    out: dict[str, Any] = {}
    digit_key = False
    for key, value in members.items():
        kind = type(value)
        # The common scalars inline: this loop is the cost of a page of records.
        if kind is str:
            if not value.isascii():
                value = _text(value)
        elif kind is float:
            value = _float(value)
        elif kind is int:
            if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
                value = str(value)
        elif value is not None and kind is not bool:
            value = normalise(value)
        if type(key) is not str:
            key = _key(key)
        elif not key.isascii():
            key = _text(key)
        if "0" <= key[:1] <= "9":
            digit_key = True
        out[key] = value
    if not out:
        return []  # PHP decodes {} into an empty array and writes it back as []
    return _javascript_order(out) if digit_key else out


def _javascript_order(members: dict[str, Any]) -> Any:
    """Array-index keys first, ascending (as JS orders them); keys 0..n-1 are a list (as PHP has it)."""
    indexed = sorted((key for key in members if _is_index(key)), key=int)
    if not indexed:
        return members
    if len(indexed) == len(members) and int(indexed[-1]) == len(indexed) - 1:
        return [members[key] for key in indexed]
    return {key: members[key] for key in [*indexed, *(key for key in members if not _is_index(key))]}


def _is_index(key: str) -> bool:
    return _INDEX_KEY.fullmatch(key) is not None and int(key) <= _MAX_ARRAY_INDEX


def _key(key: Any) -> str:
    if isinstance(key, str):
        return _text(str.__str__(key))
    if isinstance(key, int) and type(key) is not bool:
        return str(int(key))
    raise TypeError(f"cannot write a {type(key).__name__} key as JSON")


def _plain(value: Any) -> Any:
    """Subclasses (enums...) as their base type; anything else is a programming error."""
    if isinstance(value, str):
        return str.__str__(value)  # a str enum's text, not its name
    kinds: tuple[type[Any], ...] = (bool, int, float, dict, tuple, list)
    for kind in kinds:
        if isinstance(value, kind):
            return kind(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
