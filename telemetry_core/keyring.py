"""Signing-key rotation: the key folder, its archive of public keys, and switching running services.

The folder is the one holding the signing key file (``signing.key_path``): ``DATA_DIR/keys``
or the folder of ``TELEMETRY_SIGNING_KEY_PATH``. Archived keys sit next to it as
``archived-<id>.pem``: the **public** key only, since nothing may sign with an archived key
again (a compromised private key is not kept). ``<id>`` is the key's fingerprint
(``signing.fingerprint``). The folder is flat so that it can also be a Kubernetes Secret.

``rotate`` (``telemetry-admin rotate-key``) writes the archive entry of the current key
*before* it replaces the key file (``os.replace``: a reader sees the old file or the new one,
never a mix). ``KeyWatch.check`` runs in every service on a short period: when the key file
changed it loads the new key and switches the ``Signer``; until then the service goes on
signing with the old key, which is already served from the archive by every service. So
every answer is signed by a key that every service serves, current or archived.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from telemetry_core.signing import (
    Signer,
    SigningKeyError,
    fingerprint,
    load_private_key,
    private_pem,
    public_pem,
    write_private,
)

log = logging.getLogger("telemetry.signing")

ARCHIVE_PREFIX = "archived-"
KEY_ID = re.compile(r"^[0-9a-f]{16}$")
Stamp = tuple[int, int, int, tuple[str, ...]]


@dataclass(frozen=True)
class PublicKey:
    """A key clients may verify with: ``id`` (fingerprint), its PEM, whether it signs now."""

    id: str
    pem: bytes
    current: bool
    archived_at: int | None = None  # Unix seconds the archive entry was written


@dataclass(frozen=True)
class Rotation:
    previous: str | None  # the archived key's id; None when there was no key yet
    current: str


class KeyFolder:
    """The key file and its archive entries."""

    def __init__(self, key_file: Path) -> None:
        self.key_file = key_file
        self.folder = key_file.parent

    def stamp(self) -> Stamp | None:
        """What changes when the key file is replaced or an archive entry added or removed
        (``None``: no key file)."""
        try:
            found = self.key_file.stat()
        except FileNotFoundError:
            return None
        # Names, not the folder's mtime: its clock ticks coarsely, two changes may share one tick.
        entries = tuple(sorted(p.name for p in self.folder.glob(f"{ARCHIVE_PREFIX}*.pem")))
        return (found.st_ino, found.st_mtime_ns, found.st_size, entries)

    def archived(self) -> list[PublicKey]:
        """The archived public keys, newest first (unreadable entries are skipped and logged)."""
        keys = []
        for path in self.folder.glob(f"{ARCHIVE_PREFIX}*.pem"):
            key_id = path.name.removeprefix(ARCHIVE_PREFIX).removesuffix(".pem")
            if not KEY_ID.match(key_id):
                continue
            try:
                keys.append(PublicKey(key_id, path.read_bytes(), False, int(path.stat().st_mtime)))
            except OSError as exc:
                log.warning("cannot read archived key %s: %s", path, exc)
        return sorted(keys, key=lambda k: (-(k.archived_at or 0), k.id))

    def rotate(self, bits: int) -> Rotation:
        """Archive the current key's public half, then replace the key file with a new key."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock = os.open(self.folder, os.O_RDONLY)  # one rotation at a time: a lock on the folder itself
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            previous = None
            if self.key_file.exists():
                old = public_pem(load_private_key(self.key_file))
                previous = fingerprint(old)
                self._archive(previous, old)
            new = rsa.generate_private_key(public_exponent=65537, key_size=bits)
            tmp = write_private(self.key_file, private_pem(new))
            os.replace(tmp, self.key_file)
            _fsync_folder(self.folder)
        finally:
            os.close(lock)
        return Rotation(previous, fingerprint(public_pem(new)))

    def _archive(self, key_id: str, pem: bytes) -> None:
        target = self.folder / f"{ARCHIVE_PREFIX}{key_id}.pem"
        if target.exists():
            return
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        _fsync_folder(self.folder)


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class KeyWatch:
    """Switches ``signer`` to the key file's key when the file changes; serves the key list.

    ``check`` is blocking file I/O (a stat; a key load after a change): services run it in a
    thread. A key file that is missing or unreadable keeps the current key (logged).
    """

    def __init__(self, folder: KeyFolder, signer: Signer) -> None:
        self.folder = folder
        self.signer = signer
        self._stamp: Stamp | None = None
        self._archived: list[PublicKey] = []
        self._retired: list[PublicKey] = []  # keys this process signed with, archived or not
        self._checked = False

    def check(self) -> rsa.RSAPrivateKey | None:
        """The key to switch to, if the file now holds another key than ``signer``'s; refreshes the archive.

        The first check always loads the file: a rotation between the service's start-up
        load and its first check is not missed.
        """
        stamp = self.folder.stamp()
        if self._checked and stamp == self._stamp:
            return None
        self._checked, self._stamp = True, stamp
        self._archived = self.folder.archived()
        if stamp is None:
            return None
        try:
            key = load_private_key(self.folder.key_file)
        except SigningKeyError as exc:
            log.warning("%s; still signing with key %s", exc, self.signer.fingerprint)
            return None
        return None if fingerprint(public_pem(key)) == self.signer.fingerprint else key

    def switch(self, key: rsa.RSAPrivateKey) -> None:
        """Sign with ``key`` (on the event loop's thread: no answer is half old, half new)."""
        if fingerprint(public_pem(key)) == self.signer.fingerprint:
            return  # two checks found the same new key
        previous = PublicKey(self.signer.fingerprint, self.signer.public_key_pem, False, int(time.time()))
        self.signer.switch(key)
        self._retired.insert(0, previous)
        log.info("signing key rotated: %s -> %s", previous.id, self.signer.fingerprint)

    def public_keys(self) -> list[PublicKey]:
        """The current key first, then the archived ones (newest first)."""
        found = {self.signer.fingerprint: PublicKey(self.signer.fingerprint, self.signer.public_key_pem, True)}
        for key in (*self._archived, *self._retired):
            found.setdefault(key.id, key)
        return list(found.values())

    def find(self, key_id: str) -> PublicKey | None:
        return next((k for k in self.public_keys() if k.id == key_id), None)
