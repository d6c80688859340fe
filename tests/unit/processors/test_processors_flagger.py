"""The flagger: the pure transform (raw event -> finished row, dead letters) and the worker's
``process`` composed by ``build_flagger`` (the DLQ cap, then one publish)."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any, cast

import pytest
from metric_samples import samples
from processors_fakes import message, raw_event, raw_messages, retry, row_dict, time_ms
from publisher_fakes import MemoryPublisher

from processors import dlq, flagger
from processors.app import Worker, build_flagger, names
from processors.batch import SourceBatch
from processors.errors import DeadLetterRatioExceeded
from processors.flagger import Flagged, FlagRules, flag_batch
from processors.metrics import FlaggerMetrics
from telemetry_core.events import RawEvent, encode_raw
from telemetry_core.reference import License, Product, ReferenceStore, Tenant
from telemetry_core.reference_feed import ReferenceFeed
from telemetry_core.settings import Settings

NOW = 1_800_000_000_000


@pytest.fixture
def ref() -> ReferenceStore:
    store = ReferenceStore()
    store.put(Tenant("acme", "Acme", 14))
    store.put(Tenant("plain"))
    store.put(Product("acme", "1", "", frozenset({"1.0"})))
    store.put(License("acme", "LIC", "1", "active", frozenset({"A1"})))
    return store


def run(ref: ReferenceStore, *events: RawEvent | bytes | None, same_partitions: bool = False) -> Flagged:
    messages = [
        message(
            e if isinstance(e, bytes | None) else encode_raw(e),
            offset=i,
            partition=3,
            topic="raw",
            key=e.event_id.encode() if isinstance(e, RawEvent) else b"k",
        )
        for i, e in enumerate(events)
    ]
    return flag_batch(messages, FlagRules(ref, "flagged", 90), NOW, same_partitions)


def row_of(out: Flagged, index: int = 0) -> dict[str, Any]:
    found = row_dict(out.records[index].value)
    assert found is not None
    return found


def test_a_correct_event_becomes_its_finished_row_keyed_by_id_stamped_with_received_at(ref: ReferenceStore) -> None:
    event = raw_event()
    out = run(ref, event)
    (record,) = out.records
    assert (record.topic, record.key, record.headers) == ("flagged", event.event_id.encode(), ())
    assert record.timestamp_ms == event.received_at_ms and record.partition is None
    row = row_of(out)
    assert (row["event_id"], row["tenant_id"], row["numeric_value"]) == (event.event_id, "acme", 5.0)
    assert row["errors"] == "{}" and row["red_flags"] == [] and row["has_red_flags"] == 0
    assert time_ms(row["received_at"]) == event.received_at_ms and time_ms(row["processed_at"]) == NOW
    assert row["retention_days"] == 14
    assert json.loads(row["raw_fields"]) == event.fields
    assert out.outcomes == (False,) and out.dead == () and out.flags[0].is_correct_format


def test_validation_is_redone_with_the_tenants_products(ref: ReferenceStore) -> None:
    # Ingest said the product was fine; the flagger knows better (and ignores the errors member
    # that raw records written by an older ingest still carry).
    event = RawEvent("e", 1, "acme", "k", "ip", "ua", {**raw_event().fields, "product_id": "404"})
    old_record = json.dumps({**json.loads(encode_raw(event)), "errors": {"x": ["stale"]}}).encode()
    out = run(ref, old_record)
    assert json.loads(row_of(out)["errors"]) == {"product_id": ["The selected product id is invalid."]}
    assert out.flags[0].red_flags[:2] == ("format_errors", "product_unknown")
    assert row_of(out)["red_flags"] == list(out.flags[0].red_flags)


def test_retention_falls_back_to_the_default(ref: ReferenceStore) -> None:
    for tenant in ("plain", "unknown-tenant"):
        event = RawEvent("e", 1, tenant, "k", "ip", "ua", raw_event().fields)
        assert row_of(run(ref, event))["retention_days"] == 90


def test_bad_messages_become_dead_letters_in_order_and_the_rest_continues(ref: ReferenceStore) -> None:
    good = raw_event()
    wrong_version = json.dumps({**json.loads(encode_raw(good)), "v": 7}).encode()
    out = run(ref, b"not json", None, good, wrong_version)
    assert out.outcomes == (True, True, False, True)
    reasons = [error.reason for _, error in out.dead]
    assert reasons[0].startswith("undecodable raw event: not JSON")
    assert reasons[1] == "undecodable raw event: no value (tombstone)"
    assert reasons[2] == "undecodable raw event: unknown schema version 7"
    assert [m.offset for m, _ in out.dead] == [0, 1, 3]
    first = out.dead[0][1]
    assert (first.topic, first.partition, first.offset) == ("raw", 3, 0)
    assert [r.key for r in out.records] == [good.event_id.encode()]


def test_unstorable_values_are_dead_letters(ref: ReferenceStore) -> None:
    too_late = raw_event(received_at_ms=10**15)
    too_early = raw_event(received_at_ms=-1)
    rules = FlagRules(ReferenceStore(), "flagged", 70_000)
    out = flag_batch([message(encode_raw(raw_event()), 0, topic="raw")], rules, NOW, False)
    assert [e.reason for _, e in out.dead] == [
        "undecodable raw event: unstorable event: retention_days 70000 outside 0-65535"
    ]
    reasons = [e.reason for _, e in run(ref, too_late, too_early).dead]
    assert reasons == [
        f"undecodable raw event: unstorable event: received_at_ms {10**15} outside 1970-2299",
        "undecodable raw event: unstorable event: received_at_ms -1 outside 1970-2299",
    ]


def test_an_event_with_a_lone_surrogate_escape_is_a_dead_letter(ref: ReferenceStore) -> None:
    value = encode_raw(raw_event(user_identifier="SURROGATE")).replace(b"SURROGATE", rb"\ud800")
    out = run(ref, value)
    assert out.records == () and out.outcomes == (True,)
    assert out.dead[0][1].reason.startswith("undecodable raw event: ")


def test_an_escaped_surrogate_pair_is_fine(ref: ReferenceStore) -> None:
    value = encode_raw(raw_event(user_identifier="PAIR")).replace(b"PAIR", rb"\ud83d\ude00")
    assert row_of(run(ref, value))["user_identifier"] == "😀"


def test_a_bug_in_the_rules_propagates_instead_of_becoming_a_dead_letter(
    ref: ReferenceStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("bug in the rules")

    monkeypatch.setattr(flagger, "compute_flags", broken)
    with pytest.raises(RuntimeError, match="bug in the rules"):
        run(ref, raw_event())


def test_the_source_partition_is_kept_only_for_equal_partition_counts_and_key_equal_to_the_id(
    ref: ReferenceStore,
) -> None:
    event = raw_event()
    assert run(ref, event, same_partitions=True).records[0].partition == 3
    assert run(ref, event, same_partitions=False).records[0].partition is None
    # Keyed otherwise (a foreign or replayed record): the publisher hashes the event id.
    foreign = message(encode_raw(event), 0, partition=3, topic="raw", key=b"other")
    out = flag_batch([foreign], FlagRules(ref, "flagged", 90), NOW, True)
    assert out.records[0].partition is None and out.records[0].key == event.event_id.encode()


def test_nested_values_are_kept_verbatim_in_raw_fields_and_big_integers_exactly(ref: ReferenceStore) -> None:
    event = raw_event(metadata={"a": [1, 2**70], "b": {"c": None}}, count=2**70)
    raw_fields = row_of(run(ref, event))["raw_fields"]
    assert json.loads(raw_fields) == event.fields
    assert '"metadata":{"a":[1,1180591620717411303424],"b":{"c":null}}' in raw_fields


def test_a_nested_value_in_a_known_field_is_a_format_error_not_a_dead_letter(ref: ReferenceStore) -> None:
    out = run(ref, raw_event(license_key={"k": 1}))
    row = row_of(out)
    assert row["license_key"] is None and row["is_correct_format"] == 0
    assert json.loads(row["errors"]) == {"license_key": ["The license key field must be a string."]}


def test_flags_are_reported_for_metrics(ref: ReferenceStore) -> None:
    out = run(ref, raw_event(), raw_event(license_key="NOPE"))
    assert [f.red_flags for f in out.flags] == [(), ("license_unknown",)]


# --- the worker's process, as build_flagger composes it -----------------------------------------


def flagger_worker(tmp_path: Path, publisher: MemoryPublisher, window: int = 100) -> Worker:
    settings = Settings(data_dir=tmp_path, dlq_window=window)
    worker = build_flagger(settings, names(), publisher=publisher)
    store = cast(ReferenceFeed, worker.resources[0]).store
    store.put(Tenant("acme", "", 7))
    store.put(Product("acme", "1", "", frozenset({"1.0"})))
    return worker


async def test_process_publishes_flagged_records_and_dead_letters_together(tmp_path: Path) -> None:
    publisher = MemoryPublisher()
    worker = flagger_worker(tmp_path, publisher)
    messages = [*raw_messages(2), message(b"junk", 2, topic="telemetry.raw.v1")]
    before = int(time.time() * 1000)
    await worker.loop.process(SourceBatch(1, messages), retry)
    assert publisher.attempts == 1
    flagged_topic, dlq_topic = names().topics.flagged, names().topics.dlq
    assert [r.topic for r in publisher.records] == [flagged_topic, flagged_topic, dlq_topic]
    row = row_dict(publisher.records[0].value) or {}
    assert before <= time_ms(row["processed_at"]) <= int(time.time() * 1000) and row["retention_days"] == 7
    assert dlq.header(publisher.records[2].headers, dlq.SOURCE_OFFSET) == "2"
    metrics = cast(FlaggerMetrics, worker.loop.metrics)
    assert samples(metrics.messages) == {(): 3.0}
    assert samples(metrics.flags)[("license_key_exists", "0")] == 2
    assert samples(metrics.red_flags)[("license_unknown",)] == 2
    assert samples(metrics.dead_letters) == {("undecodable",): 1.0}


async def test_process_keeps_source_partitions_when_both_topics_have_as_many(tmp_path: Path) -> None:
    topics = names().topics
    for raw_count, kept in ((4, True), (8, False)):
        publisher = MemoryPublisher(partitions={topics.raw: raw_count, topics.flagged: 4})
        worker = flagger_worker(tmp_path, publisher)
        await worker.loop.process(SourceBatch(1, raw_messages(1, partition=2)), retry)
        assert publisher.records[0].partition == (2 if kept else None)


async def test_process_retries_a_failed_publish_of_the_whole_batch(tmp_path: Path) -> None:
    publisher = MemoryPublisher(failures=2)
    worker = flagger_worker(tmp_path, publisher)
    await worker.loop.process(SourceBatch(1, raw_messages(3)), retry)
    assert publisher.attempts == 3 and len(publisher.records) == 3


async def test_process_retries_when_the_partition_counts_are_unknown_for_a_moment(tmp_path: Path) -> None:
    publisher = MemoryPublisher(metadata_failures=1)
    worker = flagger_worker(tmp_path, publisher)
    await worker.loop.process(SourceBatch(1, raw_messages(1)), retry)
    assert len(publisher.records) == 1


async def test_the_dlq_cap_stops_before_publishing(tmp_path: Path) -> None:
    publisher = MemoryPublisher()
    worker = flagger_worker(tmp_path, publisher, window=4)
    with pytest.raises(DeadLetterRatioExceeded):
        await worker.loop.process(SourceBatch(1, [message(b"junk", i, topic="raw") for i in range(4)]), retry)
    assert publisher.attempts == 0


def test_a_batch_flags_each_event_as_it_would_be_flagged_alone(ref: ReferenceStore) -> None:
    """flag_batch reuses the flags of an event context (tenant, product, version, license,
    activation, errors or not) and the tenant's retention within the batch: the result is the same
    as flagging every event on its own, in any mix of contexts."""
    variants: list[dict[str, Any]] = [
        {},
        {"activation_identifier": "B2"},
        {"license_key": "OTHER"},
        {"product_version": "9.9"},
        {"product_id": "2"},
        {"data_group": None},
        {"numeric_data_single_value": "abc"},
        {"license_key": " LIC "},
    ]
    events = [raw_event(**variants[i % len(variants)]) for i in range(3 * len(variants))]
    plain = RawEvent("p-1", NOW, "plain", "k", "ip", "ua", dict(events[0].fields))
    events += [plain, dataclasses.replace(plain, event_id="p-2")]
    rules = FlagRules(ref, "flagged", 90)
    out = run(ref, *events)
    for i, event in enumerate(events):
        _, _, value, flags = flagger.flag_record(encode_raw(event), rules, NOW)
        assert (out.records[i].value, out.flags[i]) == (value, flags)
    assert len({f for f in out.flags}) > 3  # the mix really has different flags
