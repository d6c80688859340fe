"""Python re-implementations of how the official SDKs re-serialise an envelope they verify.

Written from the language specifications, independently of ``telemetry_core.canonical_json``:

- JS SDK: ``JSON.stringify(JSON.parse(body) without signature)``. ``JSON.parse`` makes every
  number an IEEE double and orders object keys as ECMAScript's OrdinaryOwnPropertyKeys does
  (array-index keys ascending, then the others in creation order); ``JSON.stringify`` writes
  numbers with ``Number::toString`` (shortest round-trip digits, plain notation for
  1e-6 <= |x| < 1e21), strings with QuoteJSONString (lone surrogates as ``\\udxxx``).
- PHP and Laravel SDKs: ``json_encode(json_decode(body, true) without signature,
  JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE)`` with ``serialize_precision = -1``.
  ``json_decode`` turns integer literals into PHP ints (floats beyond int64), canonical decimal
  keys into int keys, fails on a lone surrogate escape; ``json_encode`` writes an array whose
  keys are 0..n-1 as a list, floats through ``php_gcvt`` (17 digits, mode 0: plain for
  1e-4 <= |x| < 1e17, else ``d.ddde+x`` with at least one fraction digit), U+2028/U+2029
  escaped. Checked against PHP 8.2's php-cli.

Parsed values are Python objects: JS numbers are ``float``; a PHP array is a ``PhpArray``.
"""

from __future__ import annotations

import json
import math
import re
from fractions import Fraction
from typing import Any

_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")
_PHP_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class SdkParseError(ValueError):
    """The SDK's own parser refuses the body (PHP: json_decode returns null)."""


def shortest_digits(value: float) -> tuple[str, int]:
    """The fewest significant digits s (and n) with s x 10^(n-k) reading back as ``value`` > 0;
    among several such s, the one closest to ``value``, on a tie the even one (ECMAScript
    Number::toString, dtoa mode 0).

    Candidates are the correctly rounded k-digit value and its two neighbours: at a power of two
    the rounding interval is asymmetric and the nearest k-digit value may not read back.
    """
    exact = Fraction(value)
    for k in range(1, 18):
        mantissa, exponent = f"{value:.{k - 1}e}".split("e")
        nearest, power = int(mantissa.replace(".", "")), int(exponent) - (k - 1)
        fits = [m for m in (nearest - 1, nearest, nearest + 1) if m > 0 and float(f"{m}e{power}") == value]
        if fits:
            best = min(fits, key=lambda m: (abs(Fraction(m) * Fraction(10) ** power - exact), m % 2))
            digits = str(best)
            n = power + len(digits)
            return digits.rstrip("0"), n
    raise AssertionError(f"no round-trip digits for {value!r}")


# --- JavaScript --------------------------------------------------------------------------------


def _js_index(key: str) -> bool:
    return _ARRAY_INDEX.fullmatch(key) is not None and int(key) <= 2**32 - 2


def _js_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members: dict[str, Any] = {}
    for key, value in pairs:
        members[key] = value  # a repeated key keeps its first position, takes the last value
    indexed = sorted((key for key in members if _js_index(key)), key=int)
    return {key: members[key] for key in [*indexed, *(key for key in members if not _js_index(key))]}


def js_parse(text: str) -> Any:
    return json.loads(text, parse_int=float, object_pairs_hook=_js_object)


def js_number(value: float) -> str:
    """ECMAScript Number::toString(value), radix 10."""
    if math.isnan(value) or math.isinf(value):
        return "null"  # JSON.stringify writes non-finite numbers as null
    if value == 0:
        return "0"
    if value < 0:
        return "-" + js_number(-value)
    digits, n = shortest_digits(value)
    k = len(digits)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    e = n - 1
    sign = "+" if e >= 0 else "-"
    return (digits if k == 1 else digits[0] + "." + digits[1:]) + "e" + sign + str(abs(e))


def _quote(text: str, line_terminators_escaped: bool) -> str:
    out = ['"']
    for char in text:
        code = ord(char)
        if char == '"':
            out.append('\\"')
        elif char == "\\":
            out.append("\\\\")
        elif char in "\b\f\n\r\t":
            out.append({"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}[char])
        elif code < 0x20 or 0xD800 <= code <= 0xDFFF or (line_terminators_escaped and code in (0x2028, 0x2029)):
            out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def js_stringify(value: Any) -> str:
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, float):
        return js_number(value)
    if isinstance(value, str):
        return _quote(value, line_terminators_escaped=False)
    if isinstance(value, list):
        return "[" + ",".join(js_stringify(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(_quote(k, False) + ":" + js_stringify(v) for k, v in value.items()) + "}"
    raise TypeError(type(value).__name__)


def js_reserialise(body: bytes) -> bytes:
    """What the JS SDK hands to crypto.verify for ``body`` (a JS string, UTF-8 encoded)."""
    envelope = js_parse(body.decode("utf-8"))
    del envelope["signature"]
    return js_stringify(envelope).encode("utf-8", errors="surrogatepass")


# --- PHP ---------------------------------------------------------------------------------------


class PhpArray(dict[Any, Any]):
    """A PHP array: ordered, int or str keys."""


def _php_key(key: str) -> int | str:
    if _PHP_INT.fullmatch(key) and key != "-0" and INT64_MIN <= int(key) <= INT64_MAX:
        return int(key)
    return key


def _php_object(pairs: list[tuple[str, Any]]) -> PhpArray:
    array = PhpArray()
    for key, value in pairs:
        array[_php_key(key)] = value
    return array


def _php_int(text: str) -> int | float:
    number = int(text)
    return number if INT64_MIN <= number <= INT64_MAX else float(text)


def _php_string(text: str) -> str:
    if any(0xD800 <= ord(char) <= 0xDFFF for char in text):
        raise SdkParseError("Single unpaired UTF-16 surrogate in unicode escape")
    return text


def _php_strings(value: Any) -> Any:
    if isinstance(value, str):
        return _php_string(value)
    if isinstance(value, PhpArray):
        return PhpArray((_php_strings(k), _php_strings(v)) for k, v in value.items())
    if isinstance(value, list):
        return PhpArray(enumerate(_php_strings(item) for item in value))
    return value


def php_decode(text: str) -> Any:
    """json_decode($text, true): JSON arrays become PHP arrays with keys 0..n-1."""
    return _php_strings(json.loads(text, parse_int=_php_int, object_pairs_hook=_php_object))


def php_float(value: float) -> str:
    """php_gcvt(value, 17, '.', 'e') in mode 0, as json_encode uses with serialize_precision=-1."""
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign = "-" if value < 0 else ""
    value = abs(value)
    digits, decpt = shortest_digits(value)  # zend_dtoa mode 0
    if (decpt < -3) if decpt < 0 else (decpt > 17):
        power = decpt - 1
        sign_e = "-" if power < 0 else "+"
        return sign + digits[0] + "." + (digits[1:] or "0") + "e" + sign_e + str(abs(power))
    if decpt < 0:
        return sign + "0." + "0" * (-decpt) + digits
    whole = (digits[:decpt]).ljust(decpt, "0")
    rest = digits[decpt:]
    if rest:
        return sign + (whole or "0") + "." + rest
    return sign + whole


def php_encode(value: Any) -> str:
    """json_encode($value, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE)."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return php_float(value)
    if isinstance(value, str):
        return _quote(value, line_terminators_escaped=True)
    if isinstance(value, PhpArray):
        if list(value) == list(range(len(value))):
            return "[" + ",".join(php_encode(item) for item in value.values()) + "]"
        return "{" + ",".join(_quote(str(k), True) + ":" + php_encode(v) for k, v in value.items()) + "}"
    raise TypeError(type(value).__name__)


def php_reserialise(body: bytes) -> bytes:
    """What the PHP and Laravel SDKs hand to openssl_verify for ``body``."""
    envelope = php_decode(body.decode("utf-8"))
    del envelope["signature"]
    return php_encode(envelope).encode("utf-8")


def verifies_like_the_sdks(public_key_pem: bytes, body: bytes) -> bool:
    """True when the JS and the PHP SDK both accept ``body``'s signature (and so does a byte-exact check)."""
    from telemetry_core.envelope import signed_bytes
    from telemetry_core.signing import verify

    signature = json.loads(body)["signature"]
    exact = signed_bytes(body)
    return (
        js_reserialise(body) == exact
        and php_reserialise(body) == exact
        and verify(public_key_pem, exact, signature)
    )
