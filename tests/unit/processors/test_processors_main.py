"""Entry points: bad settings are one line and exit 2, before anything connects."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from processors.__main__ import flagger, main, sink


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
