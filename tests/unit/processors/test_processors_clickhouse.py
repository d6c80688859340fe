"""The sink's ClickHouse table without a server: what an insert sends, and driver errors
translated by what a retry can do (the real server: tests/integration/processors)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from processors import clickhouse
from processors.clickhouse import DATA_ERRORS, SETUP_ERRORS, ClickHouseEvents, error_code
from processors.errors import RowsRejected, StorageError, StorageMisconfigured
from telemetry_core.clickhouse.rows import EVENT_COLUMNS, INSERT_SETTINGS, ROW_FORMAT
from telemetry_core.settings import Settings


def server_error(code: int, name: str = "SOME_ERROR", cls: type[DatabaseError] = DatabaseError) -> DatabaseError:
    """An error as clickhouse-connect raises it for a ClickHouse exception response."""
    return cls(
        f"Received ClickHouse exception, code: {code}, server response: Code: {code}. DB::Exception: "
        f"something went wrong: while executing 'FUNCTION x'. ({name}) (version 24.8.4.13 (official build))",
        code=code,
        name=name,
    )


class FakeClient:
    """Records calls; raises ``errors`` (one per call) first."""

    def __init__(self, errors: Sequence[BaseException] = (), rows: Sequence[tuple[Any, ...]] = ()) -> None:
        self.errors = list(errors)
        self.result_rows = list(rows)
        self.inserts: list[dict[str, Any]] = []
        self.queries: list[tuple[str, dict[str, Any], Any]] = []
        self.closed = False

    def _fail(self) -> None:
        if self.errors:
            raise self.errors.pop(0)

    def raw_insert(self, table: str, **kwargs: Any) -> None:
        self._fail()
        self.inserts.append({"table": table, **kwargs})

    def query(self, sql: str, parameters: dict[str, Any], external_data: Any) -> Any:
        self._fail()
        self.queries.append((sql, parameters, external_data))
        return self

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> list[FakeClient]:
    """The clients ``ClickHouseEvents`` connects, in order; a test appends the next ones."""
    made: list[FakeClient] = []
    pending: list[FakeClient] = []

    def connect(settings: Settings, **kwargs: Any) -> FakeClient:
        client = pending.pop(0) if pending else FakeClient()
        made.append(client)
        return client

    monkeypatch.setattr(clickhouse, "connect", connect)
    return pending


def table(tmp_path: Path, **changes: Any) -> ClickHouseEvents:
    return ClickHouseEvents(Settings(data_dir=tmp_path, **changes))


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (server_error(27), 27),
        (server_error(60, cls=OperationalError), 60),
        (DatabaseError("Code: 241. DB::Exception: Memory limit exceeded"), 241),
        (DatabaseError("HTTP driver received HTTP status 502"), None),
        (OperationalError("Network Error: connection reset"), None),
        (OSError("Code: 27. not a database error"), None),
        (ValueError("Code: 27."), None),
    ],
)
def test_error_code_reads_a_server_errors_code(exc: BaseException, code: int | None) -> None:
    assert error_code(exc) == code


def test_the_error_classes_do_not_overlap() -> None:
    assert not DATA_ERRORS & SETUP_ERRORS
    assert {27, 53, 117} <= DATA_ERRORS and {60, 16, 497} <= SETUP_ERRORS


def test_an_insert_sends_the_rows_as_one_block_with_its_token(tmp_path: Path, clients: list[FakeClient]) -> None:
    client = FakeClient()
    clients.append(client)
    events = table(tmp_path)
    events.insert([b'["a"]', b'["b"]'], "t/0:1-2#ab")
    (sent,) = client.inserts
    assert (sent["table"], sent["column_names"], sent["fmt"]) == ("events", EVENT_COLUMNS, ROW_FORMAT)
    assert sent["insert_block"] == b'["a"]\n["b"]'
    one_block = {"input_format_parallel_parsing": 0}
    assert sent["settings"] == {"insert_deduplication_token": "t/0:1-2#ab", **INSERT_SETTINGS, **one_block}


def test_a_cluster_insert_reaches_its_shard_before_it_returns(tmp_path: Path, clients: list[FakeClient]) -> None:
    client = FakeClient()
    clients.append(client)
    table(tmp_path, clickhouse_cluster="c1").insert([b"[]"], "t")
    assert client.inserts[0]["settings"]["distributed_foreground_insert"] == 1


@pytest.mark.parametrize("code", sorted(DATA_ERRORS))
def test_data_errors_reject_the_rows(tmp_path: Path, clients: list[FakeClient], code: int) -> None:
    client = FakeClient([server_error(code)])
    clients.append(client)
    events = table(tmp_path)
    with pytest.raises(RowsRejected, match=rf"insert of 2 rows rejected by ClickHouse: .*Code: {code}\."):
        events.insert([b"[]", b"[]"], "t")
    events.insert([b"[]"], "t2")  # the connection is kept
    assert not client.closed and len(client.inserts) == 1


@pytest.mark.parametrize("code", sorted(SETUP_ERRORS))
def test_setup_errors_stop_the_worker(tmp_path: Path, clients: list[FakeClient], code: int) -> None:
    clients.append(FakeClient([server_error(code)]))
    with pytest.raises(StorageMisconfigured, match="cannot succeed until ClickHouse is fixed"):
        table(tmp_path).insert([b"[]"], "t")


@pytest.mark.parametrize(
    "exc",
    [
        server_error(241, "MEMORY_LIMIT_EXCEEDED"),
        server_error(32, "ATTEMPT_TO_READ_AFTER_EOF"),  # a shard died mid-insert: the others kept theirs
        server_error(210, "NETWORK_ERROR"),
        server_error(202, "TOO_MANY_SIMULTANEOUS_QUERIES", cls=OperationalError),
        OperationalError("Network Error: connection reset"),
        ConnectionRefusedError(111, "Connection refused"),
    ],
)
def test_other_failures_are_retried_on_a_new_connection(
    tmp_path: Path, clients: list[FakeClient], exc: BaseException
) -> None:
    broken, fresh = FakeClient([exc]), FakeClient()
    clients.extend([broken, fresh])
    events = table(tmp_path)
    with pytest.raises(StorageError, match="insert of 1 rows failed: "):
        events.insert([b"[]"], "t")
    assert broken.closed
    events.insert([b"[]"], "t")
    assert len(fresh.inserts) == 1


def test_error_texts_are_one_short_line(tmp_path: Path, clients: list[FakeClient]) -> None:
    clients.append(FakeClient([DatabaseError("Code: 999.\n" + "x " * 1000)]))
    with pytest.raises(StorageError) as caught:
        table(tmp_path).insert([b"[]"], "t")
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 400


def test_stored_sends_the_ids_as_an_external_table_and_answers_by_id(tmp_path: Path, clients: list[FakeClient]) -> None:
    client = FakeClient(rows=[("a", 5), ("b\tc", 7)])
    clients.append(client)
    found = table(tmp_path).stored(["a", "b\tc", "missing"], since_ms=1000)
    assert found == {"a": 5, "b\tc": 7}
    ((sql, parameters, ids),) = client.queries
    assert parameters == {"since": 1000} and "FROM events" in sql and "probe_ids" in sql
    assert ids.files[0].data == b"a\nb\\tc\nmissing"  # TSV-escaped, one id a line


def test_a_failed_lookup_is_translated_too(tmp_path: Path, clients: list[FakeClient]) -> None:
    clients.append(FakeClient([server_error(60, "UNKNOWN_TABLE")]))
    with pytest.raises(StorageMisconfigured, match="looking up stored event ids"):
        table(tmp_path).stored(["a"], 0)
    clients.append(FakeClient([OperationalError("Network Error")]))
    with pytest.raises(StorageError, match="looking up stored event ids failed"):
        table(tmp_path).stored(["a"], 0)


def test_prepare_tolerates_an_unreachable_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable(settings: Settings, **kwargs: Any) -> FakeClient:
        raise OperationalError("Network Error: connection refused")

    monkeypatch.setattr(clickhouse, "connect", unreachable)
    events = table(tmp_path)
    events.prepare()  # logged; inserts retry later
    with pytest.raises(StorageError):
        events.insert([b"[]"], "t")
    events.close()
