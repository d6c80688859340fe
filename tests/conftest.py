"""Makes the helpers at the top of tests/ (``sdk_serialisers``, ``sdk_runtimes``, ``metric_samples``) importable from
every test folder, and sets the hypothesis profile of the suite."""

from __future__ import annotations

import sys
from pathlib import Path

from hypothesis import settings

HERE = str(Path(__file__).parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

# No per-example deadline: the machine may be loaded and a 4096-bit signature takes milliseconds.
settings.register_profile("telemetry", deadline=None)
settings.load_profile("telemetry")
