"""The one settings object, read from ``TELEMETRY_*`` environment variables.

Every value has a documented default or start-up fails with a message naming the
variable. Load it once in each ``__main__`` and pass it down; tests build
``Settings(...)`` directly.
"""

from __future__ import annotations

import dataclasses
import logging
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PREFIX = "TELEMETRY_"
LOCAL_TOPOLOGIES = ("single", "cluster")
EVENT_LOOPS = ("uvloop", "asyncio")


class SettingsError(ValueError):
    """A variable is present but cannot be parsed; the message names it."""


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


@dataclass(frozen=True)
class Settings:
    """Configuration shared by every service; each field maps to ``TELEMETRY_<NAME>``."""

    data_dir: Path = field(
        default=Path(".data"), metadata=_doc("local state: keys, Kafka and ClickHouse data, pid files, logs")
    )
    local_topology: str = field(
        default="single",
        metadata=_doc("what telemetry-local starts: single (one of each) or cluster (see docs/operations.md)"),
    )
    log_level: str = field(default="INFO", metadata=_doc("Python logging level"))
    event_loop: str = field(
        default="uvloop",
        metadata=_doc("event loop of the ingest and query services: uvloop or asyncio (the standard library's)"),
    )
    demo_events: int = field(
        default=600,
        metadata=_doc("sample events telemetry-local sends once per data folder, for the dashboard (0: none)"),
    )

    kafka_bootstrap: str = field(default="127.0.0.1:9092", metadata=_doc("Kafka bootstrap servers, comma separated"))
    kafka_controller_port: int = field(default=9093, metadata=_doc("KRaft controller port of the local Kafka launcher"))
    topic_partitions: int = field(
        default=6,
        metadata=_doc("partitions of the raw and flagged topics at creation; the replica cap of each consumer group"),
    )
    topic_replication: int = field(default=1, metadata=_doc("replication factor of created topics (3 in production)"))

    clickhouse_url: str = field(default="http://127.0.0.1:8123", metadata=_doc("ClickHouse HTTP(S) interface"))
    clickhouse_user: str = field(default="default", metadata=_doc("ClickHouse user"))
    clickhouse_password: str = field(default="", repr=False, metadata=_doc("ClickHouse password"))
    clickhouse_database: str = field(default="telemetry", metadata=_doc("database holding the telemetry tables"))
    clickhouse_cluster: str = field(
        default="", metadata=_doc("cluster name: when set, migrations use Replicated*/Distributed tables ON CLUSTER")
    )
    clickhouse_shards: str = field(
        default="",
        metadata=_doc(
            "HTTP URLs of every shard, comma separated: with CLUSTER set, the sharded unreplicated migrations "
            "are applied to each (no Keeper; the local cluster topology)"
        ),
    )

    ingest_host: str = field(default="127.0.0.1", metadata=_doc("ingest API bind address"))
    ingest_port: int = field(default=8080, metadata=_doc("ingest API port"))
    ingest_reuse_port: bool = field(
        default=False, metadata=_doc("bind the ingest port with SO_REUSEPORT, so several ingest processes share it")
    )
    ingest_processes: int = field(
        default=1,
        metadata=_doc(
            "ingest processes that enforce the per-key rate limits independently; each admits 1/N of a key's "
            "limit (docs/ingest.md#rate-limits)"
        ),
    )
    rate_limit_delay_s: float = field(
        default=0.5,
        metadata=_doc(
            "how long the ingest holds a 429 answer (at most its Retry-After), so that a client resending at once "
            "cannot keep the process busy with refusals; 0: answer at once"
        ),
    )
    query_host: str = field(default="127.0.0.1", metadata=_doc("query API bind address"))
    query_port: int = field(default=8081, metadata=_doc("query API port"))
    worker_metrics_host: str = field(
        default="127.0.0.1",
        metadata=_doc("bind address of the workers' metrics and health endpoints (0.0.0.0 in a pod)"),
    )
    flagger_metrics_port: int = field(default=9101, metadata=_doc("flagger worker's metrics port"))
    sink_metrics_port: int = field(default=9102, metadata=_doc("ClickHouse sink worker's metrics port"))

    signing_key_path: Path | None = field(
        default=None, metadata=_doc("PEM private key; unset: generated at first start in DATA_DIR/keys")
    )
    signing_key_bits: int = field(
        default=4096, metadata=_doc("size of a generated signing key (the official SDKs warn below 4096)")
    )
    signing_key_id: str = field(default="global", metadata=_doc("value of private_key_used in every envelope"))
    signing_key_check_s: float = field(
        default=1.0,
        metadata=_doc("how often each service checks the signing key file for a rotated key (docs/operations.md)"),
    )

    publish_timeout_s: float = field(default=5.0, metadata=_doc("how long ingest waits for Kafka before answering 503"))
    max_body_bytes: int = field(default=1_048_576, metadata=_doc("largest request body accepted (413 above)"))
    batch_max_events: int = field(default=1000, metadata=_doc("most events in one batch request"))
    trust_forwarded_for: bool = field(
        default=False,
        metadata=_doc("take the client IP from the last X-Forwarded-For hop (only behind a proxy that appends it)"),
    )

    flagger_batch_size: int = field(default=2000, metadata=_doc("events per flagger batch"))
    flagger_batch_seconds: float = field(default=0.1, metadata=_doc("longest wait to fill a flagger batch"))
    sink_batch_size: int = field(default=10_000, metadata=_doc("rows per ClickHouse insert"))
    sink_batch_seconds: float = field(default=0.5, metadata=_doc("longest wait to fill a sink batch"))
    erasure_refresh_seconds: float = field(
        default=5.0, metadata=_doc("how often a sink reloads the erasure list (docs/erasure.md), 0.1-300")
    )
    dlq_window: int = field(default=1000, metadata=_doc("messages in the dead-letter ratio window"))
    dlq_max_ratio: float = field(default=0.5, metadata=_doc("dead-letter share of the window that stops the worker"))
    default_retention_days: int = field(default=90, metadata=_doc("row TTL when the tenant sets none (1-730)"))

    query_default_limit: int = field(default=100, metadata=_doc("records per page when limit is not given"))
    query_max_limit: int = field(default=1000, metadata=_doc("largest limit accepted"))

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Build settings from ``environ``; unknown ``TELEMETRY_*`` names are errors too."""
        hints = typing.get_type_hints(cls)
        known = {PREFIX + f.name.upper() for f in dataclasses.fields(cls)}
        unknown = sorted(k for k in environ if k.startswith(PREFIX) and k not in known)
        if unknown:
            raise SettingsError(f"unknown setting {unknown[0]} (see docs/configuration.md)")
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            name = PREFIX + f.name.upper()
            if name in environ:
                values[f.name] = _parse(name, environ[name], hints[f.name])
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        """Range checks that need more than one value's type."""
        if not 1 <= self.default_retention_days <= 730:
            raise SettingsError(f"{PREFIX}DEFAULT_RETENTION_DAYS must be 1-730, got {self.default_retention_days}")
        if not 0.1 <= self.erasure_refresh_seconds <= 300:
            raise SettingsError(f"{PREFIX}ERASURE_REFRESH_SECONDS must be 0.1-300, got {self.erasure_refresh_seconds}")
        if not 0.0 < self.dlq_max_ratio <= 1.0:
            raise SettingsError(f"{PREFIX}DLQ_MAX_RATIO must be in (0, 1], got {self.dlq_max_ratio}")
        for name in (
            "topic_partitions",
            "topic_replication",
            "batch_max_events",
            "sink_batch_size",
            "flagger_batch_size",
            "dlq_window",
            "max_body_bytes",
            "query_max_limit",
            "ingest_processes",
        ):
            if getattr(self, name) < 1:
                raise SettingsError(f"{PREFIX}{name.upper()} must be at least 1")
        if self.log_level.upper() not in logging.getLevelNamesMapping():
            raise SettingsError(
                f"{PREFIX}LOG_LEVEL must be a logging level (DEBUG, INFO, WARNING, ...), got {self.log_level!r}"
            )
        if self.event_loop not in EVENT_LOOPS:
            raise SettingsError(f"{PREFIX}EVENT_LOOP must be one of {', '.join(EVENT_LOOPS)}, got {self.event_loop!r}")
        if self.local_topology not in LOCAL_TOPOLOGIES:
            raise SettingsError(
                f"{PREFIX}LOCAL_TOPOLOGY must be one of {', '.join(LOCAL_TOPOLOGIES)}, got {self.local_topology!r}"
            )
        if self.clickhouse_shards and not self.clickhouse_cluster:
            raise SettingsError(f"{PREFIX}CLICKHOUSE_SHARDS needs {PREFIX}CLICKHOUSE_CLUSTER (the cluster's name)")
        if not 0.0 <= self.rate_limit_delay_s <= 60.0:
            raise SettingsError(f"{PREFIX}RATE_LIMIT_DELAY_S must be 0-60, got {self.rate_limit_delay_s}")
        if not 0.0 < self.signing_key_check_s <= 3600.0:
            raise SettingsError(f"{PREFIX}SIGNING_KEY_CHECK_S must be in (0, 3600], got {self.signing_key_check_s}")
        if self.signing_key_bits < 2048:
            raise SettingsError(f"{PREFIX}SIGNING_KEY_BITS must be at least 2048")

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def shard_urls(self) -> list[str]:
        """``TELEMETRY_CLICKHOUSE_SHARDS`` as a list (empty unless the cluster is sharded locally)."""
        return [url.strip() for url in self.clickhouse_shards.split(",") if url.strip()]

    @staticmethod
    def describe() -> list[tuple[str, str, str]]:
        """(variable, default, meaning) for every setting, for the README and ``--help``."""
        rows = []
        for f in dataclasses.fields(Settings):
            default = "" if f.default is None else str(f.default)
            rows.append((PREFIX + f.name.upper(), default, f.metadata.get("doc", "")))
        return rows


_TRUE = {"true", "1"}
_FALSE = {"false", "0"}


def parse_bool(name: str, raw: str) -> bool:
    """Strict boolean: true/false/1/0 (any case); anything else is an error naming ``name``."""
    low = raw.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise SettingsError(f"{name} must be true/false/1/0, got {raw!r}")


def _parse(name: str, raw: str, kind: object) -> object:
    if kind is bool:
        return parse_bool(name, raw)
    if kind is int or kind is float:
        try:
            return kind(raw.strip())
        except ValueError:
            raise SettingsError(f"{name} must be {'an integer' if kind is int else 'a number'}, got {raw!r}") from None
    if kind is Path:
        return Path(raw)
    if kind == (Path | None):
        return Path(raw) if raw.strip() else None
    return raw
