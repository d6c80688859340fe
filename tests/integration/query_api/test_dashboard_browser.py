"""The dashboard in a real browser: Debian's chromium driven by Playwright, against the query
service on the session's real ClickHouse with known data.

The browser is the system one (``/usr/bin/chromium``, installed by ``make browser`` or here when
missing); Playwright's own browser download is never used. Without a browser the test fails.
Set ``DASHBOARD_SCREENSHOT=docs/dashboard.png`` to refresh the screenshot in the docs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from fixed_reference import FixedReference
from playwright.async_api import Browser, Page, async_playwright, expect

from query_api.app import create_app
from query_api.service import SERVICE
from query_api.storage import ClickHouseStorage
from telemetry_core.reference import ApiKey, ReferenceStore, hash_key
from telemetry_core.settings import Settings
from telemetry_core.signing import Signer

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
KEYS = {"acme-read": ("acme", {"telemetry:read"}), "acme-send": ("acme", {"telemetry:send"}),
        "empty-read": ("nobody", {"telemetry:read"})}  # fmt: skip
TIMEOUT_MS = 15_000


def ensure_chromium() -> str:
    """The system chromium, installed with apt when missing; fails (never skips) without one."""
    if not Path(CHROMIUM).exists() and shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=False, env=env, timeout=900)
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing and could not be installed: run `make browser` (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = ensure_chromium()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable, args=ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def service(fresh_settings: Settings, signer: Signer) -> AsyncIterator[TestClient[Any, Any]]:
    store = ReferenceStore()
    for secret, (tenant, capabilities) in KEYS.items():
        store.put(ApiKey(secret, tenant, hash_key(secret), frozenset(capabilities)))
    app = create_app(
        fresh_settings, storage=ClickHouseStorage(fresh_settings), reference=FixedReference(store), signer=signer
    )
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client


async def api(service: TestClient[Any, Any], name: str, **params: str) -> dict[str, Any]:
    response = await service.get(f"/api/v1/dashboard/{name}", params=params,
                                 headers={"Authorization": "Bearer acme-read"})  # fmt: skip
    return (await response.json())["response"]  # type: ignore[no-any-return]


def fmt(n: int) -> str:
    return f"{n:,}"


async def sign_in(page: Page, key: str) -> None:
    await page.get_by_label("Read API key").fill(key)
    await page.get_by_role("button", name="Sign in").click()


async def loaded(page: Page, after: int = 0) -> int:
    """Wait until the page finished a refresh newer than ``after``; its number.

    (Locators, not ``wait_for_function``: the page's CSP forbids evaluating strings.)
    """
    body = page.locator("body")
    await expect(body).to_have_attribute("data-loaded", re.compile(r"^\d+$"), timeout=TIMEOUT_MS)
    await expect(body).not_to_have_attribute("data-loaded", str(after), timeout=TIMEOUT_MS)
    return int(await body.get_attribute("data-loaded") or 0)


async def test_the_dashboard_shows_what_the_api_answers(
    browser: Browser, service: TestClient[Any, Any], write: Any, dashboard_events: Any, tmp_path: Path
) -> None:
    now = int(time.time() * 1000)
    write(dashboard_events(now))
    page = await browser.new_page(viewport={"width": 1366, "height": 900})
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    await page.goto(str(service.make_url("/dashboard")))

    # Wrong key and send-only key: the API's 100 and 102 messages on the page.
    await sign_in(page, "not-a-key")
    await expect(page.locator("#signin-error")).to_contain_text("100: Invalid API Key", timeout=TIMEOUT_MS)
    await sign_in(page, "acme-send")
    await expect(page.locator("#signin-error")).to_contain_text("102: The used API key", timeout=TIMEOUT_MS)

    await sign_in(page, "acme-read")
    generation = await loaded(page)
    stats = await api(service, "stats", range="7d")
    await expect(page.locator("#stat-lifetime .value")).to_have_text(fmt(stats["lifetime"]["records"]))
    await expect(page.locator("#stat-range .value")).to_have_text(fmt(stats["in_range"]["records"]))
    await expect(page.locator("#stat-flagged .value")).to_have_text(f"{stats['in_range']['flagged_pct']:.1f} %")
    await expect(page.locator("#stat-clean .value")).to_have_text(f"{stats['in_range']['clean_pct']:.1f} %")
    alerts = await api(service, "alerts", range="7d")
    for reason in alerts["reasons"]:
        row = page.locator(f"#alerts tr[data-reason={reason['reason']}]")
        await expect(row).to_have_attribute("data-records", str(reason["records"]))
    offenders = await api(service, "offenders", range="7d")
    top = offenders["license_keys"][0]
    await expect(page.locator("#top-licenses tbody tr").first).to_have_attribute("data-value", top["value"])
    await expect(page.locator("#top-licenses tbody tr").first).to_have_attribute("data-flagged", str(top["flagged"]))

    # The range filter: 24 hours.
    await page.get_by_label("24 hours").check()
    generation = await loaded(page, generation)
    day = await api(service, "stats", range="24h")
    await expect(page.locator("#stat-range .value")).to_have_text(fmt(day["in_range"]["records"]))
    assert await page.locator("#trend-table tbody tr").count() == 24

    # The product filter narrows the statistics.
    await page.locator("#f-product").select_option("p2")
    generation = await loaded(page, generation)
    p2 = await api(service, "stats", range="24h", product_id="p2")
    await expect(page.locator("#stat-range .value")).to_have_text(fmt(p2["in_range"]["records"]))
    await page.locator("#f-product").select_option("")
    generation = await loaded(page, generation)

    # An alert reason opens the raw view filtered on it, with the keyboard.
    reasons = (await api(service, "alerts", range="24h"))["reasons"]
    revoked = next(r for r in reasons if r["reason"] == "license_revoked")
    await page.locator("#alerts tr[data-reason=license_revoked] a").focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("#r-red_flag")).to_have_value("license_revoked")
    rows = page.locator("#raw-table tbody tr[data-id]")
    await expect(rows.first).to_be_visible(timeout=TIMEOUT_MS)
    stream_records = await _records(service, revoked, red_flag="license_revoked")
    await expect(rows).to_have_count(len(stream_records))
    for text in await rows.locator("td:nth-child(8)").all_inner_texts():
        assert "Revoked license" in text

    # A top license key opens its flagged records.
    await page.locator("#top-licenses tbody tr").first.locator("a").click()
    await expect(page.locator("#r-license_key")).to_have_value(top["value"])
    await expect(rows.first.locator("td:nth-child(4)")).to_have_text(top["value"], timeout=TIMEOUT_MS)
    for text in await rows.locator("td:nth-child(4)").all_inner_texts():
        assert text == top["value"]

    # The full stored payload of one record.
    await rows.first.get_by_role("button", name="Open").click()
    await expect(page.locator("#record-json")).to_contain_text('"payload"', timeout=TIMEOUT_MS)
    await expect(page.locator("#record-json")).to_contain_text(top["value"])

    # An export of the current filter, downloaded with the Bearer header.
    async with page.expect_download() as info:
        await page.get_by_role("button", name="Export CSV").click()
    download = await info.value
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    assert saved.read_text().count("\n") == 1 + await rows.count()

    await page.get_by_label("7 days").check()
    await loaded(page, generation)
    await page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=False)
    target = os.environ.get("DASHBOARD_SCREENSHOT")
    if target:
        await page.screenshot(path=target, full_page=False, type="png")
    assert not [url for url in requests if "acme-read" in url], "the key must never be in a URL"
    assert all(url.startswith(str(service.make_url("/"))) for url in requests), "no request may leave the service"


async def _records(service: TestClient[Any, Any], stream: dict[str, Any], **filters: str) -> list[Any]:
    window = (await api(service, "stats", range="24h"))["window"]
    params = {"data_type": stream["data_type"], "data_group": stream["data_group"], "from": window["from"],
              "to": window["to"], "limit": "1000", **filters}  # fmt: skip
    response = await service.get("/api/v1/get-telemetry-data", params=params,
                                 headers={"Authorization": "Bearer acme-read"})  # fmt: skip
    return (await response.json())["response"]["data"]  # type: ignore[no-any-return]


async def test_an_empty_tenant_and_an_unreachable_store(
    browser: Browser, service: TestClient[Any, Any], fresh_settings: Settings
) -> None:
    page = await browser.new_page()
    await page.goto(str(service.make_url("/dashboard")))
    await sign_in(page, "empty-read")
    await expect(page.locator("#empty")).to_be_visible(timeout=TIMEOUT_MS)
    await expect(page.locator("#banner")).to_be_hidden()

    # ClickHouse unreachable: a banner, and the page retries until the store answers again.
    app_service = service.app[SERVICE]
    real = app_service.storage
    down = Settings(clickhouse_url="http://127.0.0.1:9", clickhouse_database=fresh_settings.clickhouse_database)
    app_service.storage = ClickHouseStorage(down)
    await page.get_by_label("30 days").check()
    await expect(page.locator("#banner")).to_contain_text("unreachable", timeout=TIMEOUT_MS)
    await expect(page.locator("#banner")).to_contain_text("retrying")
    await app_service.storage.close()
    app_service.storage = real
    await expect(page.locator("#banner")).to_be_hidden(timeout=TIMEOUT_MS)
    await expect(page.locator("#empty")).to_be_visible()
