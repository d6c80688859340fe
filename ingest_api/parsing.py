"""Request bodies -> field dicts (pure): a form or JSON object per event, a JSON array or NDJSON per batch.

Field values are kept verbatim: scalars (string, number, boolean, null) and, in JSON bodies,
nested objects and arrays (the SDKs' ``flags`` and ``metadata``). Anything the event schema
cannot carry (non-finite numbers, text that is not valid Unicode) or that is over the field
budget makes the whole body malformed instead of being altered.

The field budget (``MAX_FIELDS``) counts one per top-level field plus one per member of a
nested value (each key of an object, each element of an array, at any depth); a nested value
may be at most ``MAX_DEPTH`` levels deep. The byte budget is the body size limit.
"""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import unquote_to_bytes

Fields = dict[str, Any]

FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
JSON = "application/json"
NDJSON = frozenset({"application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines"})

MAX_FIELDS = 100
MAX_DEPTH = 8
_NESTED = (dict, list)
BATCH_WRAPPER_KEYS = frozenset({"api_key", "events"})


class BodyError(ValueError):
    """The body cannot be read as fields (HTTP 400); ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MediaTypeError(ValueError):
    """The content type is not one this endpoint reads (HTTP 415); ``accepted`` lists those it does."""

    def __init__(self, content_type: str, accepted: tuple[str, ...]) -> None:
        shown = content_type or "none"
        super().__init__(f"content type {shown} is not accepted; use {' or '.join(accepted)}")
        self.reason = str(self)


EVENT_TYPES = (FORM, MULTIPART, JSON)
BATCH_TYPES = (JSON, "application/x-ndjson")


def parse_event(content_type: str, body: bytes) -> Fields:
    """The fields of a single-event body; ``content_type`` is the bare media type ("" if absent).

    An empty body has no fields whatever its content type (they may all come from the query
    string). Multipart bodies are read by the HTTP layer, not here.
    """
    if not body:
        return {}
    if content_type == FORM:
        return parse_form(body)
    if content_type == JSON or content_type.endswith("+json"):
        return check_fields(_object(_load_json(body, "the JSON body"), "the JSON body"), "")
    raise MediaTypeError(content_type, EVENT_TYPES)


def parse_form(body: bytes) -> Fields:
    """``application/x-www-form-urlencoded`` in UTF-8; a repeated name keeps its last value.

    Same result as ``urllib.parse.parse_qsl(keep_blank_values=True)`` with strict UTF-8, but
    unquoting only the names and values that need it (this runs on every request).
    """
    try:
        if b"%" in body or b"+" in body:
            return {_unquote(name): _unquote(value) for name, _, value in _pairs(body)}
        # Nothing to unquote: decode once and split the text ('&' and '=' never occur inside a
        # UTF-8 sequence, so this is the same as decoding each name and value).
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BodyError("the form body is not valid UTF-8") from None
    pairs = [pair.partition("=") for pair in text.split("&") if pair]
    if len(pairs) > MAX_FIELDS:
        raise BodyError(_TOO_MANY_FORM_FIELDS)
    return {name: value for name, _, value in pairs}


_TOO_MANY_FORM_FIELDS = f"the form body has more than {MAX_FIELDS} fields"


def _pairs(body: bytes) -> list[tuple[bytes, bytes, bytes]]:
    pairs = [pair.partition(b"=") for pair in body.split(b"&") if pair]
    if len(pairs) > MAX_FIELDS:
        raise BodyError(_TOO_MANY_FORM_FIELDS)
    return pairs


def _unquote(raw: bytes) -> str:
    return unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")


def parse_batch(content_type: str, body: bytes) -> tuple[list[Fields], Fields]:
    """The events of a batch body and its wrapper object (``{}`` unless one was sent).

    JSON: an array of event objects, or ``{"api_key": ..., "events": [...]}``. NDJSON: one
    event object per line, blank lines ignored.
    """
    if content_type in NDJSON:
        lines = [line for line in body.split(b"\n") if line.strip()]
        return [_batch_item(_load_json(line, f"line {n + 1}"), n) for n, line in enumerate(lines)], {}
    if content_type != JSON and not content_type.endswith("+json"):
        raise MediaTypeError(content_type, BATCH_TYPES)
    document = _load_json(body)
    wrapper: Fields = {}
    if isinstance(document, dict):
        unknown = sorted(set(document) - BATCH_WRAPPER_KEYS)
        if unknown:
            raise BodyError(f"unknown batch member {unknown[0]!r} (expected api_key, events)")
        wrapper = {k: v for k, v in document.items() if k != "events"}
        document = document.get("events")
    if not isinstance(document, list):
        raise BodyError("a batch is a JSON array of event objects, or an object with an events array")
    return [_batch_item(item, n) for n, item in enumerate(document)], check_fields(wrapper, "")


def _batch_item(item: Any, index: int) -> Fields:
    return check_fields(_object(item, f"events[{index}]"), f"events[{index}].")


def _load_json(data: bytes, where: str = "the body") -> Any:
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise BodyError(f"{where} is not valid UTF-8") from None
    except RecursionError:
        raise BodyError(f"{where} is nested too deeply") from None
    except ValueError as exc:
        raise BodyError(f"{where} is not valid JSON: {exc}") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _object(value: Any, where: str) -> Fields:
    if not isinstance(value, dict):
        raise BodyError(f"{where} must be a JSON object")
    return value


def check_fields(fields: Fields, prefix: str) -> Fields:
    """``fields`` unchanged if every value is one the raw event can carry within the budgets; else ``BodyError``."""
    if len(fields) > MAX_FIELDS:
        raise BodyError(f"{prefix.rstrip('.') or 'the body'} has more than {MAX_FIELDS} fields")
    budget = MAX_FIELDS - len(fields)
    for name, value in fields.items():  # the scalar checks inline: this runs for every field of every event
        if not _valid_text(name):
            raise BodyError(f"{prefix}a field name is not valid Unicode")
        if isinstance(value, str):
            if not _valid_text(value):
                raise BodyError(f"{prefix}{name}: not valid Unicode")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise BodyError(f"{prefix}{name}: number out of range")
        elif isinstance(value, _NESTED):
            budget = _check_nested(value, f"{prefix}{name}", budget, 1)
            if budget < 0:
                where = prefix.rstrip(".") or "the body"
                raise BodyError(f"{where} has more than {MAX_FIELDS} fields (nested members count one each)")
        elif value is not None and not isinstance(value, int):
            raise BodyError(f"{prefix}{name}: must be a string, number, boolean, null, object or array")
    return fields


def count_fields(fields: Fields) -> int:
    """How much of the field budget ``fields`` uses (one per field and per nested member)."""
    return len(fields) + sum(_members(value) for value in fields.values() if isinstance(value, _NESTED))


def _members(value: dict[str, Any] | list[Any]) -> int:
    items = value.values() if isinstance(value, dict) else value
    return len(value) + sum(_members(item) for item in items if isinstance(item, _NESTED))


def _check_scalar(value: Any, where: str) -> None:
    if isinstance(value, str):
        if not _valid_text(value):
            raise BodyError(f"{where}: not valid Unicode")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise BodyError(f"{where}: number out of range")
    elif value is not None and not isinstance(value, int):
        raise BodyError(f"{where}: must be a string, number, boolean, null, object or array")


def _check_nested(value: dict[str, Any] | list[Any], where: str, budget: int, depth: int) -> int:
    """What is left of ``budget`` after ``value``'s members (negative: over budget, checking stops)."""
    if depth > MAX_DEPTH:
        raise BodyError(f"{where}: nested more than {MAX_DEPTH} levels deep")
    budget -= len(value)
    if budget < 0:
        return budget
    pairs = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in pairs:
        if isinstance(key, str) and not _valid_text(key):
            raise BodyError(f"{where}: a member name is not valid Unicode")
        inner = f"{where}.{key}" if isinstance(key, str) else f"{where}[{key}]"
        if isinstance(item, _NESTED):
            budget = _check_nested(item, inner, budget, depth + 1)
            if budget < 0:
                return budget
        else:
            _check_scalar(item, inner)
    return budget


def _valid_text(text: str) -> bool:
    """False for text with lone surrogates (JSON ``\\ud800`` escapes), which UTF-8 cannot encode."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
