"""The private faust APIs the workers rely on, pinned: an upgrade of faust that changes them
fails here, loudly, instead of in production (see ``processors.intake`` and ``FaustGroup``).

Relied on: ``Consumer._drain_messages(fetcher)`` is what the fetcher service runs;
``Consumer._wait_next_records(timeout)`` makes one fetch and returns ``(records by TP, active
partitions or None)``; ``Consumer._commit(offsets)`` commits explicit offsets (the aiokafka
driver delegates it to its thread, which drops partitions no longer assigned); ``App.transport``
can be set before the consumer is made; ``Conductor.add`` subscribes a topic.
"""

from __future__ import annotations

import inspect
import tomllib
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import faust
import pytest
from aiokafka.structs import ConsumerRecord
from faust.transport import consumer as faust_consumer
from faust.transport.conductor import Conductor
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from processors.app import FaustGroup, create_app
from processors.batch import SourceMessage, TopicPartition
from processors.intake import BatchConsumer, BatchTransport, use_batch_intake
from telemetry_core.settings import Settings

PYPROJECT = Path(__file__).parents[3] / "pyproject.toml"


def pinned(distribution: str) -> str:
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    (spec,) = [d for d in dependencies if d.startswith(f"{distribution}==")]
    return str(spec.split("==", 1)[1])


def parameters(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_faust_is_the_pinned_version() -> None:
    assert faust.__version__ == pinned("faust-streaming") == "0.15.3"


def test_the_private_consumer_methods_have_the_signatures_we_call() -> None:
    consumer = faust_aiokafka.Consumer
    assert issubclass(BatchConsumer, consumer)
    assert parameters(consumer._drain_messages) == ["self", "fetcher"]
    assert parameters(consumer._wait_next_records) == ["self", "timeout"]
    assert parameters(consumer._commit) == ["self", "offsets"]
    for method in (consumer._drain_messages, consumer._wait_next_records, consumer._commit):
        assert inspect.iscoroutinefunction(method)
    assert consumer.consumer_stopped_errors  # caught by BatchConsumer._drain_messages


def test_the_aiokafka_consumer_commits_through_its_thread() -> None:
    delegate = faust_consumer.ThreadDelegateConsumer
    assert faust_aiokafka.Consumer._commit is delegate._commit
    assert "self._thread.commit(offsets)" in inspect.getsource(delegate._commit)
    thread = faust_aiokafka.AIOKafkaConsumerThread
    assert parameters(thread.commit) == ["self", "offsets"]
    assert "in self.assignment()" in inspect.getsource(thread._commit)  # unassigned partitions are dropped


def test_the_app_transport_can_be_set_and_the_conductor_adds_topics() -> None:
    transport = inspect.getattr_static(faust.App, "transport")
    assert isinstance(transport, property) and transport.fset is not None
    assert parameters(Conductor.add) == ["self", "topic"]


class Recorder:
    def __init__(self) -> None:
        self.fetches: list[list[SourceMessage]] = []

    async def __call__(self, messages: Sequence[SourceMessage]) -> None:
        self.fetches.append(list(messages))


def app_with_intake(tmp_path: Path, handler: Recorder) -> faust.App:
    app = create_app(Settings(data_dir=tmp_path), "unit-intake")
    use_batch_intake(app, "src", handler)
    return app


def consumer_of(app: faust.App) -> BatchConsumer:
    consumer = app.consumer
    assert isinstance(consumer, BatchConsumer)
    return consumer


def record(topic: str, partition: int, offset: int, timestamp: int | None = 1_700_000_000_000) -> Any:
    return ConsumerRecord(topic, partition, offset, timestamp, 0, b"k%d" % offset, b"v%d" % offset, None, 2, 2, [])


def test_the_app_makes_its_consumer_from_the_batch_transport(tmp_path: Path) -> None:
    handler = Recorder()
    app = app_with_intake(tmp_path, handler)
    assert isinstance(app.transport, BatchTransport) and app.transport.handler is handler
    assert isinstance(app.consumer, BatchConsumer)
    assert [t.get_topic_name() for t in app.topics if isinstance(t, faust.Topic)] == ["src"]


async def test_drain_hands_each_fetch_of_active_partitions_to_the_handler(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = Recorder()
    app = app_with_intake(tmp_path, handler)
    app.consumer_generation_id = 7
    consumer = consumer_of(app)
    fetcher = SimpleNamespace(should_stop=False)
    active, paused = TP("src", 0), TP("src", 1)
    fetches: list[tuple[dict[TP, list[Any]], set[TP] | None]] = [
        ({}, {active}),  # nothing fetched: no call
        ({active: [record("src", 0, 5), record("src", 0, 6, None)], paused: [record("src", 1, 9)]}, {active}),
        ({paused: [record("src", 1, 10)]}, None),  # client-only: every partition is active
    ]
    timeouts: list[float] = []

    async def wait_next_records(timeout: float) -> tuple[dict[TP, list[Any]], set[TP] | None]:
        timeouts.append(timeout)
        result = fetches.pop(0)
        fetcher.should_stop = not fetches
        return result

    monkeypatch.setattr(consumer, "_wait_next_records", wait_next_records)
    await consumer._drain_messages(fetcher)
    assert timeouts == [1.0, 1.0, 1.0]
    assert handler.fetches == [
        [
            SourceMessage("src", 0, 5, b"k5", b"v5", 1_700_000_000_000, 7),
            SourceMessage("src", 0, 6, b"k6", b"v6", 0, 7),
        ],
        [SourceMessage("src", 1, 10, b"k10", b"v10", 1_700_000_000_000, 7)],
    ]


async def test_wait_next_records_returns_the_fetch_and_the_active_partitions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = app_with_intake(tmp_path, Recorder())
    consumer = consumer_of(app)
    active = {TP("src", 0)}
    fetched = {TP("src", 0): [record("src", 0, 1)]}

    async def getmany(active_partitions: set[TP], timeout: float) -> dict[TP, list[Any]]:
        assert (active_partitions, timeout) == (active, 0.5)
        return fetched

    monkeypatch.setattr(consumer, "_get_active_partitions", lambda: active)
    monkeypatch.setattr(consumer, "_getmany", getmany)
    assert await consumer._wait_next_records(0.5) == (fetched, active)


async def test_faust_group_commits_explicit_offsets_through_the_consumer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = app_with_intake(tmp_path, Recorder())
    committed: list[dict[TP, int]] = []

    async def commit(offsets: dict[TP, int]) -> bool:
        committed.append(dict(offsets))
        return True

    monkeypatch.setattr(app.consumer, "_commit", commit)
    group = FaustGroup(app)
    app.consumer_generation_id = 3
    assert group.generation == 3
    assert await group.commit({TopicPartition("src", 2): 11}) is True
    assert committed == [{TP("src", 2): 11}]
    assert group.highwater(TopicPartition("src", 2)) is None  # not started: nothing known
