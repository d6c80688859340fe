"""Erasure of one end user's telemetry: the subject, the audit record, and the erasure list.

Pure: what an erasure request means, how it is checked, and how the sink recognises a row of an
erased subject that was still in Kafka when the erasure ran. Running it against ClickHouse is
``telemetry_core.clickhouse.erasures``; the guarantees are explained once, in docs/erasure.md.

A subject is one tenant's ``user_identifier``, ``license_key`` or ``activation_identifier``, matched
exactly against the stored (validated) column. An erasure removes every stored event of the subject
received before ``erased_at``; events received later are new telemetry and are stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import msgspec

from telemetry_core.clickhouse.rows import EVENT_COLUMNS
from telemetry_core.validation import MAX_LENGTH

SUBJECT_KINDS = ("user_identifier", "license_key", "activation_identifier")
# How long the sinks keep an erasure in their list, and the plaintext subject in the audit table
# (the column TTL of migration 0005): longer than any topic keeps a record (raw and flagged: the
# broker's retention, 7 days by default; the dead-letter topic, which can be replayed: 30 days).
ERASURE_WINDOW_DAYS = 30
DAY_MS = 86_400_000
_TENANT = EVENT_COLUMNS.index("tenant_id")
_COLUMN = {kind: EVENT_COLUMNS.index(kind) for kind in SUBJECT_KINDS}
_IDENTIFIERS = tuple(_COLUMN.values())
_decoder = msgspec.json.Decoder()


@dataclass(frozen=True)
class Subject:
    """Whose telemetry goes: one tenant's events whose ``kind`` column equals ``value``."""

    tenant: str
    kind: str
    value: str

    @property
    def sha256(self) -> str:
        """Kept in the audit record forever (the plaintext only for ``ERASURE_WINDOW_DAYS``)."""
        return hashlib.sha256(f"{self.tenant}\n{self.kind}\n{self.value}".encode()).hexdigest()


@dataclass(frozen=True)
class Erasure:
    """One audit record: who erased which subject when, and how much went."""

    erasure_id: str
    subject: Subject
    requested_by: str
    via: str  # "http" or "cli"
    reason: str
    erased_at_ms: int
    events: int  # distinct event ids deleted from ``events``
    rows: int  # rows deleted from ``events`` (a retried event may be stored twice)
    aggregate_rows: int  # rows deleted from the aggregates keyed by the identifier

    def to_json(self) -> dict[str, object]:
        return {
            "erasure_id": self.erasure_id,
            "subject": self.subject.kind,
            "value": self.subject.value,
            "erased_at": self.erased_at_ms / 1000,
            "requested_by": self.requested_by,
            "reason": self.reason,
            "events": self.events,
            "rows": self.rows,
            "aggregate_rows": self.aggregate_rows,
        }


def parse_subject(tenant: str, fields: Mapping[str, str]) -> Subject | dict[str, list[str]]:
    """The subject named by exactly one of ``SUBJECT_KINDS`` in ``fields``, or field errors."""
    given = [kind for kind in SUBJECT_KINDS if kind in fields]
    if len(given) != 1:
        message = f"Exactly one of {', '.join(SUBJECT_KINDS)} is required."
        return {kind: [message] for kind in (given or SUBJECT_KINDS)}
    kind = given[0]
    value = fields[kind]
    problem = subject_problem(kind, value)
    return {kind: [problem]} if problem else Subject(tenant, kind, value)


def subject_problem(kind: str, value: str) -> str | None:
    """Why ``value`` cannot be a stored ``kind`` (the ingest's own limits), or None."""
    label = kind.replace("_", " ")
    if kind not in SUBJECT_KINDS:
        return f"The subject must be one of {', '.join(SUBJECT_KINDS)}."
    if value.strip() == "":
        return f"The {label} field must not be empty."
    if len(value) > MAX_LENGTH[kind]:
        return f"The {label} field must not be greater than {MAX_LENGTH[kind]} characters."
    if any(ord(c) < 32 for c in value):
        return f"The {label} field must not contain control characters."
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return f"The {label} field must be valid UTF-8 text."
    return None


class ErasureList:
    """The recent erasures a sink checks each flagged row against, before inserting it.

    Per row: one comparison of its Kafka timestamp (the ingest's receive time) with the newest
    erasure. Only a row received before it has its tenant read (two byte searches at the start of
    the row) and looked up; only a row of a tenant with an erasure newer than the row is decoded,
    and its three identifier columns looked up: the cost does not grow with the number of erasures.
    """

    def __init__(self, erasures: Iterable[tuple[Subject, int]] = ()) -> None:
        self._subjects: dict[str, dict[tuple[int, str], int]] = {}  # tenant -> (column, value) -> erased at
        self._newest: dict[str, int] = {}  # tenant -> its newest erasure
        for subject, at in erasures:
            if subject.kind not in _COLUMN:
                continue
            key = (_COLUMN[subject.kind], subject.value)
            known = self._subjects.setdefault(subject.tenant, {})
            known[key] = max(at, known.get(key, at))
            self._newest[subject.tenant] = max(at, self._newest.get(subject.tenant, at))
        self.newest_ms = max(self._newest.values(), default=-1)

    def __len__(self) -> int:
        return sum(len(known) for known in self._subjects.values())

    def erased(self, row: bytes, received_at_ms: int) -> bool:
        """Whether ``row`` (a flagged record's value) is of a subject erased after it was received."""
        if received_at_ms >= self.newest_ms:
            return False
        tenant = _tenant_of(row)
        if tenant is not None and received_at_ms >= self._newest.get(tenant, -1):
            return False
        try:
            decoded = _decoder.decode(row)
        except (msgspec.DecodeError, UnicodeDecodeError, ValueError):
            return False  # not a row: the insert refuses it and it becomes a dead letter
        if not isinstance(decoded, list) or len(decoded) != len(EVENT_COLUMNS):
            return False
        known = self._subjects.get(decoded[_TENANT])
        if known is None:
            return False
        for column in _IDENTIFIERS:
            at = known.get((column, decoded[column]))
            if at is not None and received_at_ms < at:
                return True
        return False


def _tenant_of(row: bytes) -> str | None:
    """The tenant of a row ``["<event id>","<tenant>",...`` without decoding it; ``None`` when the
    two first strings hold an escape (then the caller decodes the row)."""
    first = row.find(b'","')
    second = row.find(b'","', first + 3)
    if not row.startswith(b'["') or first < 0 or second < 0 or b"\\" in row[:second]:
        return None
    return row[first + 3 : second].decode("utf-8", "replace")
