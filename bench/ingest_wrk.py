"""``wrk`` as the load generator of bench/ingest.py: an external, C load generator that does
not saturate before the server does (the Python client did: ~4.2k requests/s against a bare
handler that serves 19k under wrk).

``run_wrk`` runs one phase (``--connections`` keep-alive connections, two threads, a fixed
duration, the body read from a file by the Lua script) and returns what ``bench/ingest.py``
reports: requests, requests/s, p50 / p99 latency (ms) and the answers by status class.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def script(work: Path, body_file: Path, content_type: str, bearer: str = "") -> Path:
    """A wrk Lua script that POSTs the bytes of ``body_file``."""
    path = work / f"{body_file.stem}.lua"
    auth = f'wrk.headers["Authorization"] = "Bearer {bearer}"\n' if bearer else ""
    path.write_text(
        'wrk.method = "POST"\n'
        f'wrk.headers["Content-Type"] = "{content_type}"\n'
        f"{auth}"
        f'local f = io.open("{body_file}", "rb")\n'
        "wrk.body = f:read('*a')\nf:close()\n"
    )
    return path


def _ms(text: str) -> float:
    found = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if found is None:
        return float("nan")
    return float(found.group(1)) * _UNITS_MS[found.group(2)]


def parse(out: str) -> dict[str, Any]:
    """The figures of one wrk run (``--latency`` output)."""
    requests = re.search(r"(\d+) requests in ([\d.]+)(s|m)", out)
    if requests is None:
        raise RuntimeError(f"wrk printed no figures:\n{out}")
    count = int(requests.group(1))
    seconds = float(requests.group(2)) * (60 if requests.group(3) == "m" else 1)
    percentiles = dict(re.findall(r"^\s+(50|99)(?:\.000)?%\s+(\S+)$", out, re.MULTILINE))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    failed = int(non_2xx.group(1)) if non_2xx else 0
    statuses = {"2xx": count - failed}
    if failed:
        statuses["other"] = failed
    if errors and any(int(n) for n in errors.groups()):
        statuses["socket errors"] = sum(int(n) for n in errors.groups())
    return {
        "requests": count,
        "seconds": seconds,
        "rps": count / seconds if seconds else 0.0,
        "p50_ms": _ms(percentiles.get("50", "")),
        "p99_ms": _ms(percentiles.get("99", "")),
        "statuses": statuses,
    }


def run_wrk(url: str, lua: Path, connections: int, seconds: float, threads: int = 2) -> dict[str, Any]:
    """One wrk run of ``seconds`` (whole seconds: wrk takes no fractions)."""
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "10s"]
    done = subprocess.run([*argv, "-s", str(lua), url], capture_output=True, check=False, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}{done.stderr}")
    return parse(done.stdout)
