from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.local import control, pidfiles
from deploy.local.errors import LaunchError
from deploy.local.processes import spawn

STAT_FIELDS_FROM_4 = " ".join(str(n) for n in range(4, 45))


def test_start_ticks_are_field_22_even_with_odd_command_names() -> None:
    assert pidfiles.parse_start_ticks(f"42 (python3) S {STAT_FIELDS_FROM_4}") == 22
    assert pidfiles.parse_start_ticks(f"42 (we ird) (name)) S {STAT_FIELDS_FROM_4}") == 22


def test_own_process_is_running() -> None:
    record = pidfiles.record_for("self", os.getpid(), sys.argv, [])
    assert record.start_ticks is not None
    assert pidfiles.is_running(record)


def test_reused_pid_is_not_our_process() -> None:
    record = pidfiles.record_for("self", os.getpid(), sys.argv, [])
    reused = pidfiles.PidRecord("self", os.getpid(), (record.start_ticks or 0) + 1, sys.argv, [])
    assert not pidfiles.is_running(reused)


def test_exited_process_is_not_running() -> None:
    child = subprocess.Popen(["true"])
    record = pidfiles.record_for("gone", child.pid, ["true"], [])
    child.wait()
    assert not pidfiles.is_running(record)


def test_write_then_read(tmp_path: Path) -> None:
    record = pidfiles.PidRecord("kafka", 123, 456, ["java", "kafka.Kafka"], [9092, 9093])
    path = pidfiles.write(tmp_path, record)
    assert path == tmp_path / "kafka.pid"
    assert pidfiles.read(path) == record


@pytest.mark.parametrize("text", ["", "123", "{not json", '{"name": "x"}', '{"name": "x", "pid": "abc"}'])
def test_unreadable_pid_files_read_as_none(tmp_path: Path, text: str) -> None:
    path = tmp_path / "x.pid"
    path.write_text(text)
    assert pidfiles.read(path) is None


def test_acquire_removes_stale_pid_files(tmp_path: Path) -> None:
    child = subprocess.Popen(["true"])
    pidfiles.write(tmp_path, pidfiles.record_for("kafka", child.pid, ["true"], [9092]))
    child.wait()
    (tmp_path / "query.pid").write_text("garbage")
    messages: list[str] = []
    with control.acquire(tmp_path, tmp_path, messages.append):
        assert list(tmp_path.glob("*.pid")) == []
    assert any("stale pid file" in m and "kafka.pid" in m and "not running" in m for m in messages)
    assert any("query.pid" in m and "unreadable" in m for m in messages)


def test_acquire_refuses_while_a_recorded_process_runs(tmp_path: Path) -> None:
    pidfiles.write(tmp_path, pidfiles.record_for("kafka", os.getpid(), sys.argv, [9092]))
    with pytest.raises(LaunchError, match=f"already running \\(kafka, pid {os.getpid()}\\); use make down"):
        control.acquire(tmp_path, tmp_path, print)


def test_a_second_launcher_on_the_same_folder_is_refused(tmp_path: Path) -> None:
    with control.acquire(tmp_path, tmp_path, print), pytest.raises(LaunchError, match="another telemetry-local"):
        control.hold_launcher_lock(tmp_path, tmp_path)


def test_down_stops_recorded_processes_and_cleans_stale_files(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "import time; time.sleep(60)"]
    child = spawn(argv, tmp_path / "logs" / "sleeper.log", tied=True)
    try:
        pidfiles.write(tmp_path, pidfiles.record_for("ingest", child.pid, argv, [8080]))
        pidfiles.write(tmp_path, pidfiles.PidRecord("query", child.pid, 1, argv, [8081]))  # a reused pid
        messages: list[str] = []
        assert control.down(tmp_path, messages.append) == 1
        assert child.wait(5) is not None
        assert list(tmp_path.glob("*.pid")) == []
        assert messages[0].startswith("stopped ingest")
        assert "query.pid" in messages[1] and "stale" in messages[1]
    finally:
        child.kill()
        child.wait()


def test_status_lines(tmp_path: Path) -> None:
    pidfiles.write(tmp_path, pidfiles.record_for("kafka", os.getpid(), sys.argv, [9092, 9093]))
    lines = control.status_lines(tmp_path, {"clickhouse": [8123]})
    assert lines[0].split() == ["kafka", "running", "pid", str(os.getpid()), "port", "9092,", "9093"]
    assert lines[1].split() == ["clickhouse", "stopped", "-", "port", "8123"]
    assert [line.split()[0] for line in lines] == list(control.COMPONENTS)


def test_down_stops_the_kafka_nodes_of_a_cluster_together(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "import time; time.sleep(60)"]
    children = [spawn(argv, tmp_path / "logs" / f"kafka-{n}.log", tied=True) for n in (1, 2, 3)]
    try:
        for n, child in enumerate(children, 1):
            pidfiles.write(tmp_path, pidfiles.record_for(f"kafka-{n}", child.pid, argv, [9090 + 2 * n]))
        messages: list[str] = []
        assert control.down(tmp_path, messages.append) == 3
        assert all(child.wait(5) is not None for child in children)
        assert list(tmp_path.glob("*.pid")) == []
        assert sorted(m.split()[1] for m in messages) == ["kafka-1", "kafka-2", "kafka-3"]
        assert all(m.startswith("stopped") for m in messages)
    finally:
        for child in children:
            child.kill()
            child.wait()
