"""README.md leads with the two commands; docs/ lists every setting and every response code."""

from __future__ import annotations

from pathlib import Path

import pytest

from telemetry_core import codes
from telemetry_core.settings import Settings

TOP = Path(__file__).resolve().parents[2]
README = (TOP / "README.md").read_text(encoding="utf-8")
CONFIGURATION = (TOP / "docs" / "configuration.md").read_text(encoding="utf-8")
CODES = (TOP / "docs" / "codes.md").read_text(encoding="utf-8")


def test_readme_leads_with_the_two_commands() -> None:
    first_block = README.split("```")[1]
    assert "make run" in first_block and "make test" in first_block


def test_readme_links_resolve() -> None:
    import re

    for page in [TOP / "README.md", *sorted((TOP / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(((?!https?:|#)[^)#]+)", page.read_text(encoding="utf-8")):
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


@pytest.mark.parametrize(("name", "default", "doc"), Settings.describe())
def test_every_setting_is_documented(name: str, default: str, doc: str) -> None:
    row = f"| `{name}` | `{default}` | {doc} |" if default else f"| `{name}` | (unset) | {doc} |"
    assert row in CONFIGURATION


@pytest.mark.parametrize("code", codes.ALL, ids=lambda c: f"{c.code}-{c.message[:20]}")
def test_every_code_is_documented(code: codes.Code) -> None:
    assert f"| {code.code} | {code.http_status} | {code.message} |" in CODES
