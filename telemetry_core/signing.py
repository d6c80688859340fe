"""Signing keys: loaded from a file or generated at first start; RSA PKCS#1 v1.5 SHA-256.

The private key never leaves this module's objects and is never logged. A generated key is
written with mode 0600 into ``DATA_DIR/keys``.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from telemetry_core.settings import Settings

log = logging.getLogger("telemetry.signing")
SDK_MIN_KEY_BITS = 4096  # the official SDKs warn on every client construction below this


class SigningKeyError(RuntimeError):
    """The configured key cannot be read or is not an RSA private key."""


def public_pem(key: rsa.RSAPrivateKey) -> bytes:
    """The PEM (SubjectPublicKeyInfo) of ``key``'s public half."""
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def fingerprint(public_key_pem: bytes) -> str:
    """A key's id: the first 16 hex digits of the SHA-256 of its DER SubjectPublicKeyInfo."""
    key = serialization.load_pem_public_key(public_key_pem)
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:16]


class Signer:
    """Signs bytes with the service's RSA key; ``key_id`` goes into ``private_key_used``.

    ``switch`` replaces the key in place (a rotation, ``telemetry_core.keyring``): the
    ``key_id`` stays the configured name, ``fingerprint`` names the key now signing, and
    ``generation`` counts switches so that caches of signed bodies know to drop them.
    """

    def __init__(self, private_key: rsa.RSAPrivateKey, key_id: str) -> None:
        self.key_id = key_id
        self.generation = 0
        self._use(private_key)

    def _use(self, private_key: rsa.RSAPrivateKey) -> None:
        self._key = private_key
        self.public_key_pem = public_pem(private_key)
        self.fingerprint = fingerprint(self.public_key_pem)

    def switch(self, private_key: rsa.RSAPrivateKey) -> None:
        """Sign with ``private_key`` from now on."""
        self._use(private_key)
        self.generation += 1

    def __repr__(self) -> str:
        return f"Signer(key_id={self.key_id!r})"

    def sign(self, data: bytes) -> str:
        """Base64 of the PKCS#1 v1.5 SHA-256 signature over exactly ``data``."""
        return base64.b64encode(self._key.sign(data, padding.PKCS1v15(), hashes.SHA256())).decode("ascii")


def verify(public_key_pem: bytes, data: bytes, signature_b64: str) -> bool:
    """True when ``signature_b64`` is a valid signature of ``data`` by the key's owner."""
    key = serialization.load_pem_public_key(public_key_pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise SigningKeyError("not an RSA public key")
    try:
        key.verify(base64.b64decode(signature_b64), data, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def key_path(settings: Settings) -> Path:
    """The file holding the signing key: ``TELEMETRY_SIGNING_KEY_PATH`` or ``DATA_DIR/keys/signing_key.pem``."""
    return settings.signing_key_path or settings.keys_dir / "signing_key.pem"


def load_or_create_signer(settings: Settings) -> Signer:
    """The configured key, or the generated one in the data folder (created on first call)."""
    path = key_path(settings)
    if settings.signing_key_path is None and not path.exists():
        _generate(path, settings.signing_key_bits)
    key = load_private_key(path)
    if key.key_size < SDK_MIN_KEY_BITS:
        log.warning(
            "signing key %s has %d bits: the official SDKs warn below %d (see docs/ingest.md, key size)",
            path, key.key_size, SDK_MIN_KEY_BITS,
        )  # fmt: skip
    return Signer(key, settings.signing_key_id)


def load_private_key(path: Path) -> rsa.RSAPrivateKey:
    """The RSA private key in ``path``; ``SigningKeyError`` naming the file otherwise."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise SigningKeyError(f"cannot load signing key {path}: {type(exc).__name__}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SigningKeyError(f"signing key {path} is not an RSA private key")
    return key


def private_pem(key: rsa.RSAPrivateKey) -> bytes:
    encoding, private_format = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8
    return key.private_bytes(encoding, private_format, serialization.NoEncryption())


def write_private(path: Path, pem: bytes) -> Path:
    """``pem`` in a new file (mode 0600) next to ``path``, under a name unique to this call."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # A temporary name per process: two services starting together must not write one file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())  # durable before a rename makes it the key (a rotation loses no key)
    return tmp


def _generate(path: Path, bits: int) -> None:
    tmp = write_private(path, private_pem(rsa.generate_private_key(public_exponent=65537, key_size=bits)))
    # Two services starting together both generate; the rename makes one key win for both.
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
