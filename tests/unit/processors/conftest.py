"""Lets the tests here import ``processors_fakes`` (the in-memory fakes of the processors' seams)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = str(Path(__file__).parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
