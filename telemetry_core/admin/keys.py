"""``telemetry-admin rotate-key``: the next signing key, the old one archived (``telemetry_core.keyring``)."""

from __future__ import annotations

import sys

from telemetry_core.keyring import KeyFolder
from telemetry_core.settings import Settings
from telemetry_core.signing import SigningKeyError, key_path


def rotate(settings: Settings) -> int:
    """Rotate the configured key file; 0 done, 2 the current key cannot be read (nothing changed)."""
    folder = KeyFolder(key_path(settings))
    try:
        rotation = folder.rotate(settings.signing_key_bits)
    except SigningKeyError as exc:
        print(f"telemetry-admin: {exc}; nothing changed", file=sys.stderr)
        return 2
    if rotation.previous is None:
        print(f"created signing key {rotation.current} in {folder.key_file} (there was none)")
    else:
        print(f"archived key {rotation.previous}; now signing with {rotation.current} ({folder.key_file})")
    print(f"running services switch within {settings.signing_key_check_s:g} s; check GET /api/v1/public-keys")
    return 0
