"""The DLQ replay's record mapping and summary (the Kafka loop runs in the integration suite)."""

from __future__ import annotations

import pytest

from processors import dlq
from processors.replay import Summary, main, replay_record


def test_a_dead_letter_goes_back_to_its_source_with_original_headers() -> None:
    headers = [
        ("trace", b"abc"),
        (dlq.REASON, b"undecodable raw event: not JSON"),
        (dlq.SOURCE_TOPIC, b"telemetry.raw.v1"),
        (dlq.SOURCE_OFFSET, b"9"),
        (dlq.REPLAYED_FROM, b"older"),
    ]
    record = replay_record("telemetry.dlq.v1", 0, 17, b"id", b"payload", headers)
    assert record is not None
    assert (record.topic, record.key, record.value) == ("telemetry.raw.v1", b"id", b"payload")
    assert record.headers == (("trace", b"abc"), (dlq.REPLAYED_FROM, b"telemetry.dlq.v1/0@17"))


def test_a_dead_letter_without_source_cannot_be_replayed() -> None:
    assert replay_record("q", 0, 1, None, b"v", [(dlq.REASON, b"x")]) is None


def test_summary_lines() -> None:
    summary = Summary()
    summary.replayed["telemetry.raw.v1"] += 3
    summary.reasons["undecodable raw event: not JSON"] += 3
    summary.skipped = 1
    assert summary.total == 4
    assert summary.describe(dry_run=True).splitlines() == [
        "would replay 3 records (telemetry.raw.v1: 3); skipped 1 without a source",
        "reasons: 3 x undecodable raw event: not JSON",
    ]
    assert Summary().describe(dry_run=False) == "replayed 0 records (nothing); skipped 0 without a source"


def test_bad_arguments_and_settings_exit_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--limit", "0"]) == 2
    assert capsys.readouterr().err.strip() == "telemetry-replay-dlq: --limit must be at least 1"
    monkeypatch.setenv("TELEMETRY_DLQ_WINDOW", "many")
    assert main([]) == 2
    assert (
        capsys.readouterr().err.strip() == "telemetry-replay-dlq: TELEMETRY_DLQ_WINDOW must be an integer, got 'many'"
    )
