"""``python -m deploy.local.entry SCRIPT [ARGS...]``: run one of this distribution's console
scripts (``telemetry-ingest``, ``telemetry-sink`` ...) by name, with ``sys.executable``.

The launchers start services this way, so that a service runs exactly as its declared entry
point would, whether or not the script files are on PATH.
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m deploy.local.entry SCRIPT [ARGS...]", file=sys.stderr)
        return 2
    found = entry_points(group="console_scripts", name=args[0])
    if not found:
        print(f"no console script named {args[0]!r} is installed (pip install -e . again?)", file=sys.stderr)
        return 2
    function = next(iter(found)).load()
    sys.argv = [args[0], *args[1:]]
    result = function()
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
