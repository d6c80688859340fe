"""Demo reference data for a local run: one product, license and pair of API keys.

``deploy/demo/reference.template.json`` holds the placeholders ``${SEND_KEY}`` and
``${READ_KEY}``. The first run generates both keys (random UUIDs) into
``DATA_DIR/demo-keys.json`` (mode 0600) and every later run reuses them, so a person's curl
commands keep working across restarts. The rendered document goes to
``DATA_DIR/demo-reference.json`` (mode 0600) and is applied with ``telemetry-admin apply``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy.local.errors import LaunchError
from deploy.local.processes import tail

APPLY_TIMEOUT_S = 120


@dataclass(frozen=True)
class DemoKeys:
    send_key: str
    read_key: str


@dataclass(frozen=True)
class DemoIdentity:
    """The values a first event needs, taken from the rendered document."""

    product_id: str
    product_version: str
    license_key: str
    activation: str


def template_path() -> Path:
    return Path(__file__).resolve().parent.parent / "demo" / "reference.template.json"


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by the owner only (also when it already exists)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def load_or_create_keys(path: Path) -> DemoKeys:
    """The demo keys stored in ``path``; generated and stored on first use."""
    if path.exists():
        try:
            data = json.loads(path.read_text())
            return DemoKeys(str(data["send_key"]), str(data["read_key"]))
        except (ValueError, KeyError, TypeError):
            raise LaunchError(f"{path} is not a demo key file; delete it to generate new keys") from None
    keys = DemoKeys(str(uuid.uuid4()), str(uuid.uuid4()))
    write_private(path, json.dumps({"send_key": keys.send_key, "read_key": keys.read_key}, indent=2) + "\n")
    return keys


def render(template: str, keys: DemoKeys) -> dict[str, Any]:
    """The template with both keys filled in, parsed; raises if the result is not a JSON object."""
    text = template.replace("${SEND_KEY}", keys.send_key).replace("${READ_KEY}", keys.read_key)
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise LaunchError(f"{template_path()} is not valid JSON once rendered: {exc}") from None
    if not isinstance(document, dict):
        raise LaunchError(f"{template_path()} must hold a JSON object")
    return document


def identity(document: Mapping[str, Any]) -> DemoIdentity | None:
    """``products[0].id``, ``products[0].versions[-1]``, ``licenses[0].key`` and
    ``licenses[0].activations[0]``; None if the document has no such entries. An entry that is an
    object contributes its identifying field (``version``, ``identifier``, ``id``)."""
    try:
        product = document["products"][0]
        license_ = document["licenses"][0]
        return DemoIdentity(
            product_id=_scalar(product["id"]),
            product_version=_scalar(product["versions"][-1], "version", "name"),
            license_key=_scalar(license_["key"]),
            activation=_scalar(license_["activations"][0], "identifier", "activation_identifier", "id"),
        )
    except (KeyError, IndexError, TypeError, ValueError):
        return None


def _scalar(value: Any, *keys: str) -> str:
    if isinstance(value, Mapping):
        for key in keys:
            if key in value:
                return str(value[key])
        raise ValueError("no identifying field")
    if isinstance(value, str | int | float):
        return str(value)
    raise ValueError("not a scalar")


def prepare(data_dir: Path) -> tuple[Path, DemoKeys, DemoIdentity | None] | None:
    """Render the template into ``data_dir``; None if this checkout has no template yet."""
    source = template_path()
    if not source.is_file():
        return None
    keys = load_or_create_keys(data_dir / "demo-keys.json")
    document = render(source.read_text(encoding="utf-8"), keys)
    rendered = data_dir / "demo-reference.json"
    write_private(rendered, json.dumps(document, indent=2) + "\n")
    return rendered, keys, identity(document)


def apply(rendered: Path, environ: Mapping[str, str], log_path: Path) -> None:
    """Run ``telemetry-admin apply <rendered>``; raises with the end of its log on failure."""
    argv = [sys.executable, "-m", "deploy.local.entry", "telemetry-admin", "apply", str(rendered)]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        try:
            result = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    env=dict(environ), timeout=APPLY_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise LaunchError(f"telemetry-admin apply took over {APPLY_TIMEOUT_S} s; see {log_path}") from None
    if result.returncode != 0:
        raise LaunchError(f"telemetry-admin apply {rendered} failed (exit {result.returncode}); see {log_path}",
                          tail(log_path))
