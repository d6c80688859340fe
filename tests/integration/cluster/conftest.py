"""One local cluster (``TELEMETRY_LOCAL_TOPOLOGY=cluster``) per test module (test_cluster.py),
so it is stopped before the rest of the suite runs; its tests share it and tell their events
apart by ``data_group``. Started by the launcher's own code, stopped also after a failure."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = str(Path(__file__).parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from cluster_harness import Cluster, bring_up  # noqa: E402


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    made = bring_up(tmp_path_factory.mktemp("cluster"))
    try:
        yield made
    finally:
        made.stack.stop()
