"""``telemetry-replay-dlq``: re-publish dead letters to the topic they came from, after a fix.

Reads ``telemetry.dlq.v1`` with the consumer group ``telemetry-dlq-replay`` up to the end
offsets seen at start, and sends each record (same key and value, its original headers, plus
``dlq.replayed_from``) to the topic named by its ``dlq.source_topic`` header. Offsets are
committed only after the re-published records were acknowledged (acks=all), so an interrupted
replay resumes where it stopped; one replay of a group at a time. A record without a source
header cannot be replayed: it is counted as skipped and left in the DLQ (its retention applies).

``--dry-run`` reads from the group's position and prints what would be replayed, writing and
committing nothing. ``--limit N`` stops after N records. Exit codes: 0 done, 1 Kafka failed,
2 bad settings or arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from processors import dlq
from processors.app import names
from telemetry_core.kafka_publisher import KafkaPublisher, OutRecord, PublishError
from telemetry_core.settings import Settings, SettingsError

GROUP = "telemetry-dlq-replay"
CHUNK = 500


@dataclass
class Summary:
    replayed: Counter[str] = field(default_factory=Counter)  # by target topic
    reasons: Counter[str] = field(default_factory=Counter)
    skipped: int = 0

    @property
    def total(self) -> int:
        return sum(self.replayed.values()) + self.skipped

    def describe(self, dry_run: bool) -> str:
        verb = "would replay" if dry_run else "replayed"
        targets = ", ".join(f"{topic}: {n}" for topic, n in sorted(self.replayed.items())) or "nothing"
        reasons = "; ".join(f"{n} x {reason}" for reason, n in self.reasons.most_common(5))
        text = f"{verb} {sum(self.replayed.values())} records ({targets}); skipped {self.skipped} without a source"
        return f"{text}\nreasons: {reasons}" if reasons else text


def replay_record(topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None,
                  headers: Sequence[tuple[str, bytes]]) -> OutRecord | None:  # fmt: skip
    """The record that re-publishes one dead letter, or ``None`` if it names no source topic."""
    source = dlq.header(headers, dlq.SOURCE_TOPIC)
    if not source:
        return None
    kept = tuple((k, v) for k, v in headers if not k.startswith(dlq.PREFIX))
    origin = (dlq.REPLAYED_FROM, f"{topic}/{partition}@{offset}".encode())
    return OutRecord(source, key, value or b"", (*kept, origin))


async def replay(settings: Settings, dlq_topic: str, group: str, *, dry_run: bool, limit: int | None) -> Summary:
    """Replay the DLQ up to its current end; see the module docstring for the guarantees."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=group, enable_auto_commit=False, client_id=group
    )
    publisher = KafkaPublisher(settings, client_id=group)
    await consumer.start()
    try:
        if not dry_run:
            await publisher.start()
        partitions = [TopicPartition(dlq_topic, p) for p in await _partitions(settings, dlq_topic)]
        consumer.assign(partitions)
        await _seek_to_committed(consumer, partitions)
        end = await consumer.end_offsets(partitions)
        summary = Summary()
        for tp in partitions:
            await _replay_partition(consumer, publisher, tp, end[tp], summary, dry_run=dry_run, limit=limit)
        return summary
    finally:
        await consumer.stop()
        await publisher.stop()


async def _partitions(settings: Settings, topic: str) -> list[int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if described.get("error_code") or not described.get("partitions"):
        raise KafkaError(f"topic {topic} does not exist")
    return sorted(int(p["partition"]) for p in described["partitions"])


async def _seek_to_committed(consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> None:
    for tp in partitions:
        committed = await consumer.committed(tp)
        if committed is None:
            await consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, committed)


async def _replay_partition(
    consumer: AIOKafkaConsumer,
    publisher: KafkaPublisher,
    tp: TopicPartition,
    end: int,
    summary: Summary,
    *,
    dry_run: bool,
    limit: int | None,
) -> None:
    while await consumer.position(tp) < end and (limit is None or summary.total < limit):
        room = CHUNK if limit is None else min(CHUNK, limit - summary.total)
        batch = (await consumer.getmany(tp, timeout_ms=1000, max_records=room)).get(tp, [])
        records: list[OutRecord] = []
        last: int | None = None
        for message in batch:
            if message.offset >= end:
                break
            record = replay_record(tp.topic, tp.partition, message.offset, message.key, message.value, message.headers)
            summary.reasons[dlq.header(message.headers, dlq.REASON) or "(no reason)"] += 1
            if record is None:
                summary.skipped += 1
            else:
                records.append(record)
                summary.replayed[record.topic] += 1
            last = message.offset
        if last is None or dry_run:
            continue
        if records:
            await publisher.publish(records)
        await consumer.commit({tp: last + 1})


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="telemetry-replay-dlq", description=__doc__.split("\n")[0] if __doc__ else "")
    parser.add_argument("--dry-run", action="store_true", help="print what would be replayed; write nothing")
    parser.add_argument("--limit", type=int, default=None, help="stop after this many dead letters")
    parser.add_argument("--namespace", default="", help="prefix of topic and group names (isolated pipelines)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.limit is not None and args.limit < 1:
        print("telemetry-replay-dlq: --limit must be at least 1", file=sys.stderr)
        return 2
    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as exc:
        print(f"telemetry-replay-dlq: {exc}", file=sys.stderr)
        return 2
    stream_names = names(args.namespace)
    group = f"{args.namespace}.{GROUP}" if args.namespace else GROUP
    try:
        summary = asyncio.run(replay(settings, stream_names.topics.dlq, group, dry_run=args.dry_run, limit=args.limit))
    except (KafkaError, PublishError, OSError) as exc:
        print(f"telemetry-replay-dlq: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(summary.describe(args.dry_run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
