"""Flag names and the pure rules that compute them from an event and the reference data.

Flags use the reference data as known when the event is processed; stored records are
never rewritten when it changes later.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from telemetry_core.events import FieldErrors, Flags
from telemetry_core.reference import ReferenceLookup

FLAG_NAMES = ("license_key_exists", "product_exists", "product_version_exists", "is_correct_format", "has_red_flags")

RED_FLAG_REASONS = (
    "format_errors",
    "product_unknown",
    "product_version_unknown",
    "license_unknown",
    "license_revoked",
    "license_expired",
    "license_suspended",
    "license_product_mismatch",
    "activation_unknown",
)


def _text(value: Any) -> str | None:
    return value if type(value) is str else None


def compute_flags(tenant_id: str, values: Mapping[str, Any], errors: FieldErrors, ref: ReferenceLookup) -> Flags:
    """The flags of one event of ``tenant_id`` whose validation (``telemetry_core.validation.check``)
    produced ``errors`` and the stored ``values`` (texts already stripped, blanks already None)."""
    get = values.get
    product_id, version = _text(get("product_id")), _text(get("product_version"))
    license_key, activation = _text(get("license_key")), _text(get("activation_identifier"))

    product = ref.product(tenant_id, product_id) if product_id else None
    version_known = product is not None and version is not None and version in product.versions
    license_ = ref.license(tenant_id, license_key) if license_key else None

    reasons: list[str] = []
    if errors:
        reasons.append("format_errors")
    if product is None:
        reasons.append("product_unknown")
    if not version_known:
        reasons.append("product_version_unknown")
    if license_ is None:
        reasons.append("license_unknown")
    else:
        if license_.status in ("revoked", "expired", "suspended"):
            reasons.append(f"license_{license_.status}")
        if product_id is not None and license_.product != product_id:
            reasons.append("license_product_mismatch")
        if activation is None or activation not in license_.activations:
            reasons.append("activation_unknown")
    # In the field order of Flags (is_correct_format, product_exists, product_version_exists,
    # license_key_exists, has_red_flags, red_flags), made with tuple.__new__ (one per event; a
    # NamedTuple's own __new__ is a Python function). Reasons were appended in RED_FLAG_REASONS order.
    found = (not errors, product is not None, version_known, license_ is not None, bool(reasons), tuple(reasons))
    return tuple.__new__(Flags, found)
