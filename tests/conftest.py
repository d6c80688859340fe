"""Makes the helpers at the top of tests/ (``sdk_serialisers``) importable from every test folder."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = str(Path(__file__).parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
