"""The sink and erasures: rows of a subject erased after they were received are dropped before the
insert, later rows are stored, the list is reloaded between batches and a new erasure is swept."""

from __future__ import annotations

import dataclasses

import pytest
from metric_samples import samples
from processors_fakes import FakeTable, flagged_messages, raw_event, retry
from publisher_fakes import MemoryPublisher

from processors.batch import SourceBatch
from processors.dlq import DeadLetterPolicy, DeadLetters
from processors.metrics import SinkMetrics
from processors.sink import Sink, StoredIds, select
from telemetry_core.erasure import ErasureList, Subject

T0 = 1_700_000_000_000
USER = Subject("acme", "user_identifier", "u-gone")


def test_rows_received_before_the_erasure_are_dropped() -> None:
    before = raw_event(received_at_ms=T0 - 1, user_identifier="u-gone")
    after = raw_event(received_at_ms=T0 + 1, user_identifier="u-gone")
    other = raw_event(received_at_ms=T0 - 1, user_identifier="u-kept")
    chosen = select(flagged_messages([before, after, other]), StoredIds(), ErasureList([(USER, T0)]))
    assert [m.key for m in chosen.messages] == [after.event_id.encode(), other.event_id.encode()]
    assert chosen.erased == 1


@pytest.mark.parametrize(
    ("subject", "erased"),
    [
        (Subject("acme", "license_key", "LIC"), True),
        (Subject("acme", "activation_identifier", "A1"), True),
        (Subject("other-tenant", "license_key", "LIC"), False),  # same value, another tenant
        (Subject("acme", "activation_identifier", "LIC"), False),  # the value in another column
        (Subject("acme", "license_key", "LI"), False),  # a prefix is not the value
    ],
)
def test_a_row_matches_only_its_tenant_column_and_exact_value(subject: Subject, erased: bool) -> None:
    (message,) = flagged_messages([raw_event(received_at_ms=T0 - 1)])
    assert message.value is not None
    assert ErasureList([(subject, T0)]).erased(message.value, T0 - 1) is erased


def test_a_tenant_id_that_needs_escaping_is_still_matched() -> None:
    event = raw_event(received_at_ms=T0 - 1, user_identifier="u-gone")
    odd = dataclasses.replace(event, tenant_id='a","b\\c')
    (message,) = flagged_messages([odd])
    assert message.value is not None
    assert ErasureList([(Subject(odd.tenant_id, "user_identifier", "u-gone"), T0)]).erased(message.value, T0 - 1)
    assert not ErasureList([(USER, T0)]).erased(message.value, T0 - 1)


def test_the_value_in_another_field_or_an_empty_list_is_not_a_match() -> None:
    (message,) = flagged_messages([raw_event(received_at_ms=T0 - 1, text_data="u-gone")])
    assert message.value is not None and b'"u-gone"' in message.value
    assert not ErasureList([(USER, T0)]).erased(message.value, T0 - 1)
    assert not ErasureList().erased(message.value, 0)


def sink(table: FakeTable) -> tuple[Sink, SinkMetrics]:
    metrics = SinkMetrics()
    dead = DeadLetters("sink", "dlq", DeadLetterPolicy("sink", 100, 0.5), metrics)
    return Sink(table, MemoryPublisher(), dead, metrics, StoredIds(), probe_rows=0, erasure_refresh_s=0.1), metrics


async def test_the_sink_drops_erased_rows_and_sweeps_a_new_erasure() -> None:
    table = FakeTable()
    writer, metrics = sink(table)
    early = raw_event(received_at_ms=T0 - 10, user_identifier="u-gone")
    await writer.write(SourceBatch(1, flagged_messages([early])), retry)  # first load: no erasure yet
    assert table.ids == [early.event_id]
    table.erased.append((USER, T0))  # erased meanwhile; the sink does not know it yet
    late = raw_event(received_at_ms=T0 - 5, user_identifier="u-gone")
    writer.erasures._due = 0.0  # the refresh is due
    await writer.write(SourceBatch(1, flagged_messages([late], start=1)), retry)
    assert table.sweeps == [(USER, T0)] and table.ids == []  # swept what it had inserted, dropped the new row
    assert samples(metrics.erased)[("swept",)] == 1 and samples(metrics.erased)[("dropped",)] == 1
    await writer.write(SourceBatch(1, flagged_messages([late], start=2)), retry)
    assert table.sweeps == [(USER, T0)]  # an erasure is swept once


async def test_erasures_known_at_the_first_load_are_not_swept() -> None:
    table = FakeTable()
    table.erased.append((USER, T0))
    writer, _ = sink(table)
    event = raw_event(received_at_ms=T0 - 5, user_identifier="u-gone")
    await writer.write(SourceBatch(1, flagged_messages([event])), retry)
    assert table.sweeps == [] and table.ids == []
