"""Every flag rule and red-flag reason of ``compute_flags``, against an in-memory reference store."""

from __future__ import annotations

from typing import Any

import pytest

from telemetry_core.events import Flags
from telemetry_core.flags import FLAG_NAMES, RED_FLAG_REASONS, compute_flags
from telemetry_core.reference import License, Product, ReferenceStore, Tenant
from telemetry_core.validation import check

TENANT = "acme"
GOOD: dict[str, Any] = {
    "product_id": "1",
    "product_version": "1.0.1",
    "license_key": "LIC-OK",
    "activation_identifier": "ACT-1",
}


@pytest.fixture
def ref() -> ReferenceStore:
    store = ReferenceStore()
    store.put(Tenant(TENANT))
    store.put(Product(TENANT, "1", "App", frozenset({"1.0.1", "2.0"})))
    store.put(Product(TENANT, "2", "Other", frozenset({"1.0.1"})))
    store.put(License(TENANT, "LIC-OK", "1", "active", frozenset({"ACT-1"})))
    for status in ("revoked", "expired", "suspended"):
        store.put(License(TENANT, f"LIC-{status}", "1", status, frozenset({"ACT-1"})))
    store.put(License(TENANT, "LIC-OTHER", "2", "active", frozenset({"ACT-1"})))
    # Same identifiers under another tenant must never match.
    store.put(Product("other", "9", "", frozenset({"1.0.1"})))
    store.put(License("other", "LIC-FOREIGN", "9", "active", frozenset({"ACT-1"})))
    return store


def flags(ref: ReferenceStore, errors: dict[str, list[str]] | None = None, **fields: Any) -> Flags:
    """The flags of the event ``GOOD`` + ``fields``, from its checked values as the flagger has them."""
    return compute_flags(TENANT, check({**GOOD, **fields}, lambda _: True).values, errors or {}, ref)


def test_a_clean_event_has_every_positive_flag_and_no_red_flags(ref: ReferenceStore) -> None:
    result = flags(ref)
    assert result == Flags(True, True, True, True, False, ())


def test_format_errors_clear_is_correct_format_and_raise_format_errors(ref: ReferenceStore) -> None:
    result = flags(ref, {"data_group": ["The data group field is required."]})
    assert not result.is_correct_format
    assert result.has_red_flags and result.red_flags == ("format_errors",)


@pytest.mark.parametrize("product_id", ["404", None, "", "   ", "9"])
def test_unknown_or_foreign_product(ref: ReferenceStore, product_id: str | None) -> None:
    result = flags(ref, product_id=product_id)
    assert not result.product_exists and not result.product_version_exists
    assert "product_unknown" in result.red_flags and "product_version_unknown" in result.red_flags


def test_numeric_product_id_matches_its_text_form(ref: ReferenceStore) -> None:
    assert flags(ref, product_id=1).product_exists


@pytest.mark.parametrize("version", ["9.9", None, ""])
def test_unknown_or_missing_version_of_a_known_product(ref: ReferenceStore, version: str | None) -> None:
    result = flags(ref, product_version=version)
    assert result.product_exists and not result.product_version_exists
    assert result.red_flags == ("product_version_unknown",)


@pytest.mark.parametrize("license_key", ["NOPE", None, "  ", "LIC-FOREIGN"])
def test_unknown_missing_or_foreign_license(ref: ReferenceStore, license_key: str | None) -> None:
    result = flags(ref, license_key=license_key)
    assert not result.license_key_exists
    assert result.red_flags == ("license_unknown",)


@pytest.mark.parametrize("status", ["revoked", "expired", "suspended"])
def test_license_status_other_than_active_is_a_red_flag(ref: ReferenceStore, status: str) -> None:
    result = flags(ref, license_key=f"LIC-{status}")
    assert result.license_key_exists
    assert result.red_flags == (f"license_{status}",)


def test_license_of_another_product(ref: ReferenceStore) -> None:
    result = flags(ref, license_key="LIC-OTHER")
    assert result.license_key_exists and result.red_flags == ("license_product_mismatch",)


def test_license_without_product_id_is_no_mismatch_but_product_unknown(ref: ReferenceStore) -> None:
    result = flags(ref, product_id=None)
    assert "license_product_mismatch" not in result.red_flags
    assert "product_unknown" in result.red_flags


@pytest.mark.parametrize("activation", ["ACT-404", None, ""])
def test_unknown_or_missing_activation(ref: ReferenceStore, activation: str | None) -> None:
    result = flags(ref, activation_identifier=activation)
    assert result.red_flags == ("activation_unknown",)


def test_activation_is_only_checked_when_the_license_exists(ref: ReferenceStore) -> None:
    assert flags(ref, license_key="NOPE", activation_identifier=None).red_flags == ("license_unknown",)


def test_surrounding_whitespace_is_ignored_as_on_the_platform(ref: ReferenceStore) -> None:
    result = flags(ref, product_id=" 1 ", license_key=" LIC-OK ", activation_identifier=" ACT-1 ")
    assert result.red_flags == ()


def test_reasons_come_in_the_documented_order(ref: ReferenceStore) -> None:
    result = flags(ref, {"x": ["bad"]}, product_id="404", license_key="LIC-revoked", activation_identifier="no")
    assert result.red_flags == (
        "format_errors",
        "product_unknown",
        "product_version_unknown",
        "license_revoked",
        "license_product_mismatch",
        "activation_unknown",
    )
    assert list(result.red_flags) == [r for r in RED_FLAG_REASONS if r in result.red_flags]


def test_unknown_tenant_knows_nothing(ref: ReferenceStore) -> None:
    result = compute_flags("nobody", check(GOOD, lambda _: True).values, {}, ref)
    assert (result.product_exists, result.license_key_exists) == (False, False)
    assert result.red_flags == ("product_unknown", "product_version_unknown", "license_unknown")


def test_has_red_flags_is_exactly_any_reason(ref: ReferenceStore) -> None:
    for fields in ({}, {"license_key": "NOPE"}, {"product_version": "0"}):
        result = flags(ref, None, **fields)
        assert result.has_red_flags == bool(result.red_flags)


def test_flag_and_reason_names_are_stable() -> None:
    assert FLAG_NAMES == (
        "license_key_exists",
        "product_exists",
        "product_version_exists",
        "is_correct_format",
        "has_red_flags",
    )
    assert len(RED_FLAG_REASONS) == 9
