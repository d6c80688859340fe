"""``service_http.serving.run``: the start-up and exit codes both services share."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvloop
from aiohttp import web
from aiohttp.web_runner import GracefulExit

from service_http import serving
from telemetry_core.settings import Settings
from telemetry_core.signing import Signer


def _app(settings: Settings, signer: Signer) -> web.Application:
    return web.Application()


def _run(port: int = 0) -> int:
    return serving.run("telemetry-test", _app, lambda s: ("127.0.0.1", port), shutdown_timeout_s=1.0)


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No TELEMETRY_* from the caller's shell; the root logger as it was (``run`` configures it)."""
    for name in [n for n in os.environ if n.startswith("TELEMETRY_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("TELEMETRY_DATA_DIR", str(tmp_path))
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


@pytest.mark.parametrize(
    ("variable", "value"),
    [("TELEMETRY_INGEST_PORT", "eighty"), ("TELEMETRY_LOG_LEVEL", "LOUD"), ("TELEMETRY_NO_SUCH_THING", "1")],
)
def test_a_bad_setting_is_exit_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    assert _run() == serving.EXIT_CONFIGURATION == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("telemetry-test: ") and variable in err


def test_an_unreadable_signing_key_is_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    key = tmp_path / "key.pem"
    key.write_text("not a key")
    monkeypatch.setenv("TELEMETRY_SIGNING_KEY_PATH", str(key))
    assert _run() == 2
    assert capsys.readouterr().err.startswith("telemetry-test: ")


def test_a_port_that_cannot_be_bound_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert _run(taken.getsockname()[1]) == 2
    assert "cannot listen on 127.0.0.1:" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["uvloop", "asyncio"])
def test_the_service_runs_on_the_configured_event_loop(monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    monkeypatch.setenv("TELEMETRY_EVENT_LOOP", kind)
    seen: list[asyncio.AbstractEventLoop] = []

    def factory(settings: Settings, signer: Signer) -> web.Application:
        app = web.Application()

        async def started(app: web.Application) -> None:
            seen.append(asyncio.get_running_loop())
            raise GracefulExit  # what SIGTERM raises: a clean stop

        app.on_startup.append(started)
        return app

    assert serving.run("telemetry-test", factory, lambda s: ("127.0.0.1", 0), shutdown_timeout_s=1.0) == 0
    assert isinstance(seen[0], uvloop.Loop) == (kind == "uvloop")


def test_the_default_event_loop_is_uvloop() -> None:
    assert Settings().event_loop == "uvloop"
    loop = serving.new_event_loop("uvloop")
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()


def test_the_collector_runs_its_first_generation_less_often() -> None:
    before = gc.get_threshold()
    try:
        serving.tune_collector()
        assert gc.get_threshold() == serving.GC_THRESHOLDS == (20_000, 50, 100)
    finally:
        gc.set_threshold(*before)
