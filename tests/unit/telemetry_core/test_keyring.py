"""Key rotation on disk: the archive holds public keys only; the watch switches a signer once."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from telemetry_core.envelope import EnvelopeSigner, signed_bytes
from telemetry_core.keyring import KeyFolder, KeyWatch
from telemetry_core.settings import Settings
from telemetry_core.signing import key_path, load_or_create_signer, verify

BITS = 2048  # rotation logic does not depend on the size; 4096-bit generation is slow


def _setup(tmp_path: Path) -> tuple[KeyFolder, KeyWatch]:
    settings = Settings(data_dir=tmp_path, signing_key_bits=BITS)
    signer = load_or_create_signer(settings)
    folder = KeyFolder(key_path(settings))
    return folder, KeyWatch(folder, signer)


def test_rotate_archives_the_public_key_and_writes_a_new_private_one(tmp_path: Path) -> None:
    folder, watch = _setup(tmp_path)
    old = watch.signer.fingerprint
    rotation = folder.rotate(BITS)
    assert rotation.previous == old and rotation.current != old
    archived = folder.archived()
    assert [k.id for k in archived] == [old]
    assert archived[0].pem == watch.signer.public_key_pem
    assert b"PRIVATE" not in archived[0].pem
    assert stat.S_IMODE(folder.key_file.stat().st_mode) == 0o600
    assert sorted(p.name for p in folder.folder.iterdir()) == [f"archived-{old}.pem", "signing_key.pem"]


def test_rotate_without_a_key_creates_one(tmp_path: Path) -> None:
    folder = KeyFolder(tmp_path / "keys" / "key.pem")
    rotation = folder.rotate(BITS)
    assert rotation.previous is None and folder.archived() == []


def test_the_watch_switches_once_and_serves_old_and_new(tmp_path: Path) -> None:
    folder, watch = _setup(tmp_path)
    assert watch.check() is None  # the file holds the key the signer has
    old = watch.signer.fingerprint
    rotation = folder.rotate(BITS)
    key = watch.check()
    assert key is not None
    watch.switch(key)
    assert watch.signer.fingerprint == rotation.current and watch.signer.generation == 1
    assert watch.check() is None
    listed = watch.public_keys()
    assert [(k.id, k.current) for k in listed] == [(rotation.current, True), (old, False)]
    found = watch.find(old)
    assert found is not None and found.archived_at is not None


def test_a_rotation_before_the_first_check_is_not_missed(tmp_path: Path) -> None:
    folder, watch = _setup(tmp_path)
    folder.rotate(BITS)
    assert watch.check() is not None


def test_an_unreadable_key_file_keeps_the_current_key(tmp_path: Path) -> None:
    folder, watch = _setup(tmp_path)
    watch.check()
    folder.key_file.write_bytes(b"not a key")
    assert watch.check() is None
    folder.key_file.unlink()
    assert watch.check() is None


def test_a_key_replaced_by_hand_stays_served_by_the_process_that_used_it(tmp_path: Path) -> None:
    folder, watch = _setup(tmp_path)
    old = watch.signer.fingerprint
    other = KeyFolder(tmp_path / "elsewhere" / "key.pem")
    other.rotate(BITS)
    folder.key_file.write_bytes(other.key_file.read_bytes())  # no archive entry written
    key = watch.check()
    assert key is not None
    watch.switch(key)
    assert watch.find(old) is not None


def test_the_envelope_cache_is_dropped_when_the_signer_switches(tmp_path: Path) -> None:
    folder, watch = _setup(tmp_path)
    envelopes = EnvelopeSigner(watch.signer)
    response = {"code": 200, "message": "Success", "errors": [], "timestamp": 1}
    before = envelopes.envelope(response)
    assert envelopes.envelope(response) is before  # cached
    old_pem = watch.signer.public_key_pem
    folder.rotate(BITS)
    key = watch.check()
    assert key is not None
    watch.switch(key)
    after = envelopes.envelope(response)
    signature = json.loads(after)["signature"]
    assert verify(watch.signer.public_key_pem, signed_bytes(after), signature)
    assert not verify(old_pem, signed_bytes(after), signature)
    assert envelopes.fingerprint == watch.signer.fingerprint


def test_a_deleted_archive_entry_is_no_longer_served(tmp_path: Path) -> None:
    folder, watch = _setup(tmp_path)
    watch.check()
    archived = folder.folder / "archived-0123456789abcdef.pem"
    archived.write_bytes(watch.signer.public_key_pem)
    watch.check()
    assert watch.find("0123456789abcdef") is not None
    archived.unlink()
    watch.check()
    assert watch.find("0123456789abcdef") is None
