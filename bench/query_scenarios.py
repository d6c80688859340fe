"""The benchmark's request mix and how each request is timed (see ``bench/query.py``).

Each scenario makes the parameters of one request for a random tenant (or for the heavy
stream). The direct side sends the statement the service itself builds from those parameters
(``query_api.params`` then ``query_api.queries``), through the same async driver, and reads
every row; the API side reads the whole signed body. The two alternate, request by request.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from query_data import GROUPS, HEAVY
from query_server import secret, tenant_name

from query_api import queries
from query_api.params import AggregateQuery, RecordQuery, parse_aggregates, parse_records

TYPES = ("numeric-single-value", "numeric-xy-axis", "text")
OCTOBER = 1_790_812_800  # 2026-10-01T00:00:00Z in epoch seconds: the dataset covers 30 days from here
DAY = 86_400
WARMUP = 5

Params = dict[str, str]


@dataclass(frozen=True)
class Scenario:
    name: str
    endpoint: str  # "records" or "aggregates"
    make: Callable[[random.Random, int], tuple[str, Params]]
    paged: bool = False  # measure the second page (cursor from an untimed first page)
    share: float = 1.0  # fraction of --requests to run (slow worst cases run fewer)


def _stream(rng: random.Random, tenants: int) -> tuple[str, Params]:
    tenant = tenant_name(rng.randrange(tenants))
    return tenant, {"data_type": rng.choice(TYPES), "data_group": rng.choice(GROUPS)}


def _heavy(rng: random.Random, tenants: int) -> tuple[str, Params]:
    return HEAVY[0], {"data_type": HEAVY[1], "data_group": HEAVY[2]}


def _with(base: Callable[[random.Random, int], tuple[str, Params]], extra: Callable[[random.Random], Params]) -> Any:
    def make(rng: random.Random, tenants: int) -> tuple[str, Params]:
        tenant, params = base(rng, tenants)
        return tenant, {**params, **extra(rng)}

    return make


def _day(rng: random.Random) -> Params:
    start = OCTOBER + rng.randrange(29) * DAY
    return {"from": str(start), "to": str(start + DAY)}


def _week(rng: random.Random) -> Params:
    start = OCTOBER + rng.randrange(23) * DAY
    return {"from": str(start), "to": str(start + 7 * DAY), "interval": "hour"}


def _user(rng: random.Random) -> Params:
    return {"user_identifier": f"user-{rng.randrange(5000)}"}


PAGES = (
    Scenario("type + group", "records", _stream),
    Scenario("+ has_red_flags=1", "records", _with(_stream, lambda r: {"has_red_flags": "1"})),
    Scenario("+ product_id", "records", _with(_stream, lambda r: {"product_id": f"prod-{r.randrange(7)}"})),
    Scenario("+ one day (from/to)", "records", _with(_stream, _day)),
    Scenario("+ user_identifier", "records", _with(_stream, _user)),
    Scenario("second page (cursor)", "records", _stream, paged=True),
    Scenario("heavy stream (1.1M rows)", "records", _heavy),
    Scenario("heavy stream, second page", "records", _heavy, paged=True),
    Scenario("heavy stream + has_red_flags=1", "records", _with(_heavy, lambda r: {"has_red_flags": "1"})),
    Scenario("heavy stream + user_identifier", "records", _with(_heavy, _user), share=0.34),
)
AGGREGATES = (
    Scenario("hourly, 7 days", "aggregates", _with(_stream, _week)),
    Scenario("daily, whole range", "aggregates", _with(_stream, lambda r: {"interval": "day"})),
    Scenario("heavy stream hourly, 7 days", "aggregates", _with(_heavy, _week)),
    Scenario("by user (from events)", "aggregates", _with(_stream, _user)),
)
DEDUP = (PAGES[0], PAGES[4], PAGES[6], PAGES[8], PAGES[9])


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"p50": statistics.median(ordered) * 1000, "p99": p99 * 1000, "n": len(ordered)}


class Bench:
    def __init__(self, session: aiohttp.ClientSession, client: Any, db: str, tenants: int) -> None:
        self.session, self.client, self.db, self.tenants = session, client, db, tenants
        self.rng = random.Random(20261122)

    def _path(self, scenario: Scenario) -> str:
        return "/api/v1/get-telemetry-data" if scenario.endpoint == "records" else "/api/v1/get-telemetry-aggregates"

    async def _api(self, path: str, tenant: str, params: Params) -> bytes:
        async with self.session.get(path, params={"api_key": secret(tenant), **params}) as response:
            body = await response.read()
            if response.status != 200:
                raise SystemExit(f"{path} answered {response.status}: {body[:300]!r}")
            return body

    def statement(self, scenario: Scenario, tenant: str, params: Params, dedup: queries.Dedup | None = None) -> Any:
        pairs = list(params.items())
        if scenario.endpoint == "records":
            query = parse_records(pairs, default_limit=100, max_limit=1000)
            assert isinstance(query, RecordQuery), query
            return queries.records_page(self.db, tenant, query, query.limit + 1, dedup)
        aggregate = parse_aggregates(pairs, default_limit=100, max_limit=1000)
        assert isinstance(aggregate, AggregateQuery), aggregate
        return queries.aggregates(self.db, tenant, aggregate)

    async def _direct(self, statement: Any) -> int:
        result = await self.client.query(statement.sql, parameters=statement.parameters, settings=statement.settings)
        return len(result.result_rows)

    async def _request(self, scenario: Scenario) -> tuple[str, Params]:
        tenant, params = scenario.make(self.rng, self.tenants)
        if scenario.paged:
            first = json.loads(await self._api(self._path(scenario), tenant, params))
            params["cursor"] = first["response"]["next_cursor"]
        return tenant, params

    async def compare(self, scenario: Scenario, requests: int) -> dict[str, Any]:
        count = max(10, int(requests * scenario.share))
        api: list[float] = []
        direct: list[float] = []
        for number in range(WARMUP + count):
            tenant, params = await self._request(scenario)
            statement = self.statement(scenario, tenant, params)
            sides = [("api", api), ("direct", direct)]
            for side, samples in sides if number % 2 == 0 else sides[::-1]:
                start = time.perf_counter()
                if side == "api":
                    await self._api(self._path(scenario), tenant, params)
                else:
                    await self._direct(statement)
                if number >= WARMUP:
                    samples.append(time.perf_counter() - start)
        result = {"name": scenario.name, "api": summary(api), "direct": summary(direct)}
        result["ratio"] = result["api"]["p50"] / result["direct"]["p50"]
        print(f"{scenario.endpoint:10s} {scenario.name:32s} api {result['api']} direct {result['direct']}", flush=True)
        return result

    async def export(self, fmt: str) -> dict[str, Any]:
        tenant, params = _heavy(self.rng, self.tenants)
        params = {**params, "format": fmt}
        start = time.perf_counter()
        api_bytes = api_lines = 0
        async with self.session.get("/api/v1/get-telemetry-data", params={"api_key": secret(tenant), **params}) as r:
            async for chunk in r.content.iter_any():
                api_bytes += len(chunk)
                api_lines += chunk.count(b"\n")
        api_seconds = time.perf_counter() - start
        query = parse_records(list(params.items()), default_limit=100, max_limit=1000)
        assert isinstance(query, RecordQuery)
        statement = queries.export(self.db, tenant, query)
        start = time.perf_counter()
        direct_lines = 0
        stream = await self.client.raw_stream(
            statement.sql, parameters=statement.parameters, settings=statement.settings, fmt=statement.fmt
        )
        async with stream:
            async for chunk in stream:
                direct_lines += chunk.count(b"\n")
        direct_seconds = time.perf_counter() - start
        rows = api_lines - (1 if fmt == "csv" else 0)
        print(f"export {fmt}: {rows:,} rows in {api_seconds:.2f} s (direct {direct_seconds:.2f} s)", flush=True)
        return {
            "format": fmt,
            "rows": rows,
            "bytes": api_bytes,
            "api_seconds": api_seconds,
            "direct_seconds": direct_seconds,
            "direct_rows": direct_lines - (1 if fmt == "csv" else 0),
        }

    async def dedup(self, scenario: Scenario, requests: int) -> dict[str, Any]:
        samples: dict[str, list[float]] = {"final": [], "limit_by": []}
        for number in range(WARMUP + requests):
            tenant, params = await self._request(scenario)
            for dedup in ("final", "limit_by") if number % 2 == 0 else ("limit_by", "final"):
                statement = self.statement(scenario, tenant, params, dedup)  # type: ignore[arg-type]
                start = time.perf_counter()
                await self._direct(statement)
                if number >= WARMUP:
                    samples[dedup].append(time.perf_counter() - start)
        result = {"name": scenario.name, "final": summary(samples["final"]), "limit_by": summary(samples["limit_by"])}
        print(f"dedup {scenario.name}: {result}", flush=True)
        return result
