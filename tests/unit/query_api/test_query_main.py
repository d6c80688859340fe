from __future__ import annotations

import pytest

from query_api import __main__ as entry


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("TELEMETRY_QUERY_PORT", "eighty", "TELEMETRY_QUERY_PORT"),
        ("TELEMETRY_CLICKHOUSE_URL", "ftp://x", "TELEMETRY_CLICKHOUSE_URL"),
        ("TELEMETRY_NO_SUCH_THING", "1", "TELEMETRY_NO_SUCH_THING"),
    ],
)
def test_bad_settings_exit_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], variable: str, value: str, named: str
) -> None:
    monkeypatch.setenv(variable, value)
    assert entry.main() == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("telemetry-query: ") and named in err
