"""Faults on real Kafka and ClickHouse: nothing acknowledged by Kafka is lost and each event id
is stored once when the sink dies between insert and commit, ClickHouse becomes unreachable,
the flagger dies mid-batch, or one of two sinks leaves its group. Rows are counted with and
without FINAL, and in the hourly aggregate."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

from clickhouse_connect.driver.client import Client
from processors_harness import Pipeline, counts, eventually, hourly_events, sigkill, stored

HERE = Path(__file__).parent


def assert_once(client: Client, tenant: str, expected: int) -> None:
    """Every event stored exactly once: as rows, as rows under FINAL, as ids, in the aggregate."""
    assert counts(client, tenant) == (expected, expected, expected)
    assert hourly_events(client, tenant) == expected


async def test_sink_killed_between_insert_and_commit(pipeline: Pipeline, clickhouse_client: Client) -> None:
    events = [pipeline.raw() for _ in range(1500)]
    await pipeline.produce(events)
    flagger = pipeline.start("flagger")
    crashing = pipeline.start("sink", script=HERE / "crashing_sink.py", sink_batch_size=200, sink_batch_seconds=0.5)
    assert await crashing.exit_code(timeout=90) == -9  # SIGKILLed itself right after its 2nd insert
    rows = counts(clickhouse_client, pipeline.tenant)[0]
    committed = await pipeline.committed(pipeline.names.sink_group, pipeline.names.topics.flagged)
    assert rows > sum(offset or 0 for offset in committed.values())  # stored, not committed
    sink = pipeline.start("sink")
    await asyncio.gather(flagger.ready(), sink.ready())
    await stored(clickhouse_client, pipeline.tenant, len(events), timeout=90)
    assert_once(clickhouse_client, pipeline.tenant, len(events))
    assert sink.metric("telemetry_sink_duplicates_total") >= 1  # the re-read rows were recognised


class Proxy:
    """A TCP forwarder we control: ``down()`` closes the port and cuts open connections."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.writers: set[asyncio.StreamWriter] = set()

    async def up(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        for writer in list(self.writers):
            writer.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True)
        self.writers -= {writer, up_writer}

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            with contextlib.suppress(Exception):
                writer.close()


async def test_clickhouse_unreachable_for_ten_seconds_behind_a_closed_proxy(
    pipeline: Pipeline, clickhouse_client: Client
) -> None:
    host, port = pipeline.settings.clickhouse_url.rsplit("//", 1)[1].split(":")
    proxy = Proxy(host, int(port))
    await proxy.up()
    flagger = pipeline.start("flagger")
    sink = pipeline.start("sink", clickhouse_url=f"http://127.0.0.1:{proxy.port}")
    await asyncio.gather(flagger.ready(), sink.ready())
    first = [pipeline.raw() for _ in range(300)]
    await pipeline.produce(first)
    await stored(clickhouse_client, pipeline.tenant, len(first))
    committed_before = await pipeline.committed(pipeline.names.sink_group, pipeline.names.topics.flagged)

    await proxy.down()
    during = [pipeline.raw() for _ in range(600)]
    await pipeline.produce(during)
    await eventually(lambda: sink.metric("telemetry_sink_backpressure") == 1, 30, "the sink to back off")
    await asyncio.sleep(10)
    assert counts(clickhouse_client, pipeline.tenant)[2] == len(first)
    assert await pipeline.committed(pipeline.names.sink_group, pipeline.names.topics.flagged) == committed_before
    assert sink.metric("telemetry_sink_retries_total") >= 2
    assert sink.process.poll() is None

    await proxy.up()
    await stored(clickhouse_client, pipeline.tenant, len(first) + len(during), timeout=60)
    await eventually(lambda: sink.metric("telemetry_sink_backpressure") == 0, 10, "the sink to recover")
    assert_once(clickhouse_client, pipeline.tenant, len(first) + len(during))
    await proxy.down()


async def test_flagger_killed_mid_batch(pipeline: Pipeline, clickhouse_client: Client) -> None:
    events = [pipeline.raw() for _ in range(6000)]
    await pipeline.produce(events)
    sink = pipeline.start("sink")
    flagger = pipeline.start("flagger", flagger_batch_size=1000)
    await flagger.ready()
    await eventually(lambda: flagger.metric("telemetry_flagger_commits_total") >= 1, 60, "a first flagger commit")
    sigkill(flagger)
    assert await flagger.exit_code() == -9
    committed = await pipeline.committed(pipeline.names.flagger_group, pipeline.names.topics.raw)
    assert sum(offset or 0 for offset in committed.values()) < len(events)  # killed before the end
    restarted = pipeline.start("flagger")
    await asyncio.gather(sink.ready(), restarted.ready())
    await stored(clickhouse_client, pipeline.tenant, len(events), timeout=120)
    await asyncio.sleep(1)  # let re-published duplicates arrive: they must not add rows
    assert_once(clickhouse_client, pipeline.tenant, len(events))


async def test_two_sinks_share_the_partitions_and_one_leaves(pipeline: Pipeline, clickhouse_client: Client) -> None:
    flagger = pipeline.start("flagger")
    leaving, staying = pipeline.start("sink"), pipeline.start("sink")
    await asyncio.gather(flagger.ready(), leaving.ready(), staying.ready())
    produced: list[int] = []

    async def produce_steadily() -> None:
        for _ in range(30):
            await pipeline.produce([pipeline.raw() for _ in range(100)])
            produced.append(100)
            await asyncio.sleep(0.2)

    producing = asyncio.create_task(produce_steadily())
    await eventually(
        lambda: (
            leaving.metric("telemetry_sink_commits_total") >= 1 and staying.metric("telemetry_sink_commits_total") >= 1
        ),
        60,
        "both sinks to commit (each owns partitions)",
    )
    leaving.signal(signal.SIGTERM)
    assert await leaving.exit_code(timeout=60) == 0
    await producing
    await stored(clickhouse_client, pipeline.tenant, sum(produced), timeout=90)
    await asyncio.sleep(1)
    assert_once(clickhouse_client, pipeline.tenant, sum(produced))
