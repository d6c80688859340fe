"""Entry points: bad settings are one line and exit 2, before anything connects."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from publisher_fakes import MemoryPublisher

from processors.__main__ import faust_worker, flagger, main, sink
from processors.app import build_flagger, names
from telemetry_core.settings import Settings


@pytest.mark.parametrize("entry", [flagger, sink])
def test_bad_settings_exit_2_with_one_line(
    entry: Callable[[list[str]], int], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TELEMETRY_SINK_BATCH_SIZE", "lots")
    assert entry([]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "TELEMETRY_SINK_BATCH_SIZE must be an integer" in err


def test_unknown_setting_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TELEMETRY_SINK_BATCHSIZE", "1")
    assert main(["sink"]) == 2
    assert "unknown setting TELEMETRY_SINK_BATCHSIZE" in capsys.readouterr().err


def test_the_worker_must_be_named() -> None:
    with pytest.raises(SystemExit) as exited:
        main(["bogus"])
    assert exited.value.code == 2


@pytest.mark.parametrize("level", ["WARNING", "ERROR", "INFO"])
def test_the_worker_keeps_the_root_logger_at_its_level(level: str, tmp_path: Path) -> None:
    """faust's terminal spinner would set the root logger to DEBUG at WARNING and above (every
    library's debug call then builds a record); the workers run without it."""
    runner = faust_worker(build_flagger(Settings(data_dir=tmp_path), names("unit"), publisher=MemoryPublisher()), level)
    assert runner.spinner is None
    logger = logging.Logger("probe")
    logger.addHandler(logging.NullHandler())
    logger.setLevel(getattr(logging, level))
    runner.on_setup_root_logger(logger, getattr(logging, level))
    assert logger.level == getattr(logging, level) and len(logger.handlers) == 1
