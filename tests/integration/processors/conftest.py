"""Fixtures of the processors' integration tests (servers come from tests/integration/conftest.py)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

HERE = str(Path(__file__).parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from processors_harness import Pipeline  # noqa: E402

from telemetry_core.settings import Settings  # noqa: E402


@pytest.fixture
async def pipeline(pipeline_settings: Settings, tmp_path: Path) -> AsyncIterator[Pipeline]:
    """A fresh namespace with its topics; every worker started through it is killed afterwards."""
    made = Pipeline(pipeline_settings, tmp_path)
    await made.create_topics()
    try:
        yield made
    finally:
        made.stop_all()
