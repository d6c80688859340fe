"""node and php verifying envelopes as the official SDKs do; a missing runtime fails the test, never skips it.

JS SDK: ``JSON.stringify`` of the parsed body without ``signature``, ``crypto.createVerify
('RSA-SHA256')``. PHP / Laravel SDK: ``json_encode(json_decode($body, true) minus signature,
JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE)``, ``openssl_verify(..., OPENSSL_ALGO_SHA256)``.

``php`` comes from Debian's php-cli: installed with apt-get when absent and the tests run as
root (as in CI); otherwise the test fails and says how to install it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest


def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.fail("node (18 or newer) is needed to run the JS verification; install nodejs")
    return found


def php() -> str:
    found = shutil.which("php")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "php-cli"]):
            subprocess.run(command, check=False, capture_output=True, timeout=600)
        found = shutil.which("php")
    if found is None:
        pytest.fail("php is needed to run the PHP verification: apt-get install -y php-cli")
    return found


NODE_VERIFY = r"""
const crypto = require('crypto');
const fs = require('fs');
const [keyFile, bodies] = process.argv.slice(1);
const key = crypto.createPublicKey(fs.readFileSync(keyFile));
for (const line of fs.readFileSync(bodies, 'utf8').split('\n').filter(Boolean)) {
  const response = JSON.parse(line);
  const signature = response.signature;
  const unsigned = { ...response };
  delete unsigned.signature;
  const verifier = crypto.createVerify('RSA-SHA256');
  verifier.update(JSON.stringify(unsigned));
  verifier.end();
  console.log(verifier.verify(key, Buffer.from(signature, 'base64')) ? 1 : 0);
}
"""

PHP_VERIFY = r"""
[$_, $keyFile, $bodies] = $argv;
$key = openssl_pkey_get_public(file_get_contents($keyFile));
foreach (file($bodies, FILE_IGNORE_NEW_LINES | FILE_SKIP_EMPTY_LINES) as $line) {
    $response = json_decode($line, true);
    if (json_last_error() !== JSON_ERROR_NONE) { echo "0\n"; continue; }
    $signature = $response['signature'];
    unset($response['signature']);
    $payload = json_encode($response, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
    echo (openssl_verify($payload, base64_decode($signature, true), $key, OPENSSL_ALGO_SHA256) === 1 ? 1 : 0), "\n";
}
"""


def node_verifies(public_key_pem: bytes, bodies: list[bytes], folder: Path) -> list[bool]:
    """For each envelope body (one line of JSON each): does the JS SDK's check accept it?"""
    return _run([node(), "-e", NODE_VERIFY], public_key_pem, bodies, folder)


def php_verifies(public_key_pem: bytes, bodies: list[bytes], folder: Path) -> list[bool]:
    """For each envelope body: does the PHP (and Laravel) SDK's check accept it?"""
    return _run([php(), "-r", PHP_VERIFY], public_key_pem, bodies, folder)


def _run(command: list[str], public_key_pem: bytes, bodies: list[bytes], folder: Path) -> list[bool]:
    key_file, bodies_file = folder / "key.pem", folder / "bodies.ndjson"
    key_file.write_bytes(public_key_pem)
    assert all(b"\n" not in body for body in bodies)
    bodies_file.write_bytes(b"\n".join(bodies) + b"\n")
    done = subprocess.run([*command, str(key_file), str(bodies_file)], capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode()
    results = [line == "1" for line in done.stdout.decode().split()]
    assert len(results) == len(bodies)
    return results
