"""A ClickHouse server process built on the chdb engine: ``python -m deploy.local.clickhouse_server
--root DIR --http-port PORT``.

chdb is ClickHouse as a library; its HTTP interface is served only while a query runs in the
process. So a worker thread starts the listener and then runs a query that sleeps row by row
until it is killed, and the main thread waits for SIGTERM/SIGINT and then kills that query over
HTTP. The HTTP interface is always opened (clickhouse-connect speaks HTTP); the native TCP port
only with ``--tcp-port``, which a shard of a cluster needs: ``Distributed`` tables reach the
other shards over it. ``--cluster NAME --shard HOST:TCP_PORT ...`` (one per shard, this server
among them) writes that cluster into ``<remote_servers>``: one replica per shard, no Keeper.

Layout under ``--root``: ``data/`` (the databases, kept across restarts), ``work/config.xml``
(the process's working directory), ``ready`` (written once this process answers on its port,
removed at exit) and ``server.lock`` (one process per root).

Guarantees: the process exits non-zero with a one-line reason if the port is taken, the root is
in use, or the listener does not come up within ``--ready-timeout`` seconds. ``ready`` appears
only after a query over HTTP has seen this process's own keep-alive query, so another server
that happens to hold the port is never mistaken for this one. There is no authentication:
the listener binds 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import fcntl
import importlib
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from deploy.local.ports import LOCAL_HOST, port_is_free

SHUTDOWN_GRACE_S = 1.0


def render_config(http_port: int, tcp_port: int | None, cluster: str | None, shards: list[str]) -> str:
    """``config.xml``: the listeners and, for a cluster, its shards (one replica each)."""
    lines = ["<clickhouse>", f"    <listen_host>{LOCAL_HOST}</listen_host>", f"    <http_port>{http_port}</http_port>"]
    if tcp_port is not None:
        lines.append(f"    <tcp_port>{tcp_port}</tcp_port>")
    if cluster:
        lines += ["    <remote_servers>", f"        <{cluster}>"]
        for shard in shards:
            host, _, port = shard.rpartition(":")
            lines += ["            <shard>", "                <replica>", f"                    <host>{host}</host>",
                      f"                    <port>{port}</port>", "                </replica>", "            </shard>"]
        lines += [f"        </{cluster}>", "    </remote_servers>"]
    return "\n".join([*lines, "</clickhouse>", ""])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m deploy.local.clickhouse_server",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="folder for data, config and the ready file")
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--tcp-port", type=int, default=None, help="also listen on the native TCP port")
    parser.add_argument("--cluster", default=None, help="name of the cluster in <remote_servers>")
    parser.add_argument("--shard", action="append", default=[], help="HOST:TCP_PORT of a shard (repeat, in order)")
    parser.add_argument("--ready-timeout", type=float, default=60.0)
    return parser.parse_args(argv)


def http_query(port: int, sql: str, timeout: float = 2.0) -> str:
    url = f"http://{LOCAL_HOST}:{port}/?" + urllib.parse.urlencode({"query": sql})
    with urllib.request.urlopen(url, data=b"", timeout=timeout) as response:
        return bytes(response.read()).decode().strip()


def fail(message: str) -> int:
    print(f"clickhouse_server: {message}", file=sys.stderr, flush=True)
    return 1


def _exit_hard(message: str) -> NoReturn:
    """Exit without running the engine's global destructors, which may hang while the server
    thread still runs."""
    fail(message)
    os._exit(1)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    root: Path = args.root.resolve()
    port: int = args.http_port
    (root / "work").mkdir(parents=True, exist_ok=True)
    lock = open(root / "server.lock", "w")  # noqa: SIM115 - held for the life of the process
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return fail(f"another ClickHouse server is using {root}")
    for needed in (port, args.tcp_port):
        if needed is not None and not port_is_free(needed):
            return fail(f"port {needed} is already in use")
    ready_file = root / "ready"
    ready_file.unlink(missing_ok=True)
    os.chdir(root)  # importing chdb starts a throwaway server that reads ./config.xml: keep it away from ours
    engine: Any = importlib.import_module("chdb._chdb")  # a C extension without type information

    # The engine installs its own SIGTERM/SIGINT handlers unless told not to; ours stop it cleanly.
    engine.set_signal_handlers_enabled(0)
    engine.reset_signal_handlers()
    (root / "work" / "config.xml").write_text(render_config(port, args.tcp_port, args.cluster, args.shard))
    os.chdir(root / "work")
    marker = f"keepalive_{uuid.uuid4().hex}"
    listen = "SYSTEM START LISTEN HTTP; " + ("SYSTEM START LISTEN TCP; " if args.tcp_port is not None else "")
    worker = threading.Thread(target=_serve, args=(engine, root / "data", marker, listen), name="clickhouse",
                              daemon=True)
    stop = threading.Event()
    _on_signals(stop)
    worker.start()
    try:
        if not _wait_listening(port, marker, worker, args.ready_timeout):
            _exit_hard(f"the HTTP interface did not come up on port {port} within {args.ready_timeout:.0f} s")
        ready_file.write_text(f"{os.getpid()}\n")
        print(f"ClickHouse (chdb) listening on http://{LOCAL_HOST}:{port}, data in {root / 'data'}", flush=True)
        while not stop.wait(0.5):
            if not worker.is_alive():
                _exit_hard("the server thread ended unexpectedly")
        return _shutdown(port, marker, worker)
    finally:
        ready_file.unlink(missing_ok=True)


def _serve(engine: Any, data_dir: Path, marker: str, listen: str) -> None:
    sql = (
        f"{listen}"
        f"SELECT sleepEachRow(0.25) AS {marker} FROM numbers(1000000000000) SETTINGS max_block_size = 1 FORMAT Null"
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    engine.query(sql, "TabSeparated", path=str(data_dir))


def _on_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _own_query_running(port: int, marker: str) -> bool:
    sql = f"SELECT count() FROM system.processes WHERE query LIKE '%{marker}%' AND query NOT LIKE '%system.processes%'"
    try:
        return http_query(port, sql, timeout=1.0) == "1"
    except (OSError, urllib.error.URLError):
        return False


def _wait_listening(port: int, marker: str, worker: threading.Thread, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not worker.is_alive():
            return False
        if _own_query_running(port, marker):
            return True
        time.sleep(0.05)
    return False


def _shutdown(port: int, marker: str, worker: threading.Thread) -> int:
    """Kill the keep-alive query (the listener closes with it) and wait for the thread.

    The engine's own shutdown waits for idle keep-alive client connections and then exits the
    process with code 1 after about 5 s. Inserts are on disk once acknowledged, so nothing is
    lost by not waiting: after ``SHUTDOWN_GRACE_S`` the process exits 0 itself.
    """
    try:
        sql = f"KILL QUERY WHERE query LIKE '%{marker}%' AND query NOT LIKE '%KILL QUERY%' SYNC"
        http_query(port, sql, timeout=10.0)
    except (OSError, urllib.error.URLError) as exc:
        _exit_hard(f"could not kill the keep-alive query ({exc}); exiting hard")
    worker.join(SHUTDOWN_GRACE_S)
    if worker.is_alive():
        print("ClickHouse stopped (client connections were still open)", flush=True)
        os._exit(0)
    print("ClickHouse stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
