"""Signing keys: generated once with mode 0600, loaded from a file, never printed."""

from __future__ import annotations

import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from telemetry_core.settings import Settings
from telemetry_core.signing import SigningKeyError, load_or_create_signer, verify


def test_generated_key_is_private_and_reused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = load_or_create_signer(settings)
    path = settings.keys_dir / "signing_key.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_signer(settings).public_key_pem == first.public_key_pem
    assert [p.name for p in settings.keys_dir.iterdir()] == ["signing_key.pem"]


def test_concurrent_first_starts_agree_on_one_key(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    with ThreadPoolExecutor(4) as pool:
        keys = list(pool.map(lambda _: load_or_create_signer(settings).public_key_pem, range(4)))
    on_disk = load_or_create_signer(settings).public_key_pem
    assert all(key == on_disk for key in keys)
    assert [p.name for p in settings.keys_dir.iterdir()] == ["signing_key.pem"]


def test_sign_and_verify(tmp_path: Path) -> None:
    signer = load_or_create_signer(Settings(data_dir=tmp_path))
    signature = signer.sign(b"payload")
    assert verify(signer.public_key_pem, b"payload", signature)
    assert not verify(signer.public_key_pem, b"payload!", signature)
    assert not verify(signer.public_key_pem, b"payload", "not base64!")


def test_configured_key_file_is_used(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "mine.pem"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    signer = load_or_create_signer(Settings(data_dir=tmp_path, signing_key_path=path))
    assert verify(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        b"x",
        signer.sign(b"x"),
    )


def test_unreadable_or_non_rsa_keys_are_refused_without_their_content(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    with pytest.raises(SigningKeyError, match="cannot load"):
        load_or_create_signer(Settings(data_dir=tmp_path, signing_key_path=missing))
    ec_path = tmp_path / "ec.pem"
    ec_key = ec.generate_private_key(ec.SECP256R1())
    pem = ec_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    ec_path.write_bytes(pem)
    with pytest.raises(SigningKeyError, match="not an RSA private key") as caught:
        load_or_create_signer(Settings(data_dir=tmp_path, signing_key_path=ec_path))
    assert "PRIVATE KEY" not in str(caught.value)


def test_repr_hides_the_key(tmp_path: Path) -> None:
    signer = load_or_create_signer(Settings(data_dir=tmp_path))
    assert repr(signer) == "Signer(key_id='global')"
    assert os.fspath(tmp_path) not in repr(signer)


def test_generated_keys_have_4096_bits_and_smaller_ones_are_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    default = load_or_create_signer(Settings(data_dir=tmp_path / "default"))
    key = serialization.load_pem_public_key(default.public_key_pem)
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 4096
    assert "bits" not in caplog.text
    load_or_create_signer(Settings(data_dir=tmp_path / "small", signing_key_bits=2048))
    assert "has 2048 bits: the official SDKs warn below 4096" in caplog.text
