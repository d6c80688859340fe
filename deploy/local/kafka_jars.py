"""The Kafka broker's jars, resolved by Maven from ``deploy/pom.xml`` into a cache folder.

The folder is complete when its stamp file holds the SHA-256 of the pom; then it is reused as
is. Otherwise Maven copies the runtime dependencies into a temporary folder that replaces the
old one only after Maven succeeded, under a file lock, so concurrent test sessions on a fresh
clone resolve once and never see a half-filled folder.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
from pathlib import Path

from deploy.local.errors import LaunchError
from deploy.local.processes import tail

STAMP = ".complete"
MAVEN_TIMEOUT_S = 900


def pom_path() -> Path:
    return Path(__file__).resolve().parent.parent / "pom.xml"


def default_libs_dir() -> Path:
    """``.cache/kafka-libs`` in the checkout that holds this ``deploy`` package."""
    return pom_path().parent.parent / ".cache" / "kafka-libs"


def pom_digest(pom: Path) -> str:
    return hashlib.sha256(pom.read_bytes()).hexdigest()


def is_complete(libs_dir: Path, digest: str) -> bool:
    stamp = libs_dir / STAMP
    return stamp.is_file() and stamp.read_text().strip() == digest


def ensure_jars(libs_dir: Path | None = None, pom: Path | None = None) -> Path:
    """Return a folder holding the Kafka jars, running Maven first if needed. Raises
    LaunchError if ``mvn`` is missing or cannot resolve (offline, no access to Maven Central)."""
    libs_dir = libs_dir or default_libs_dir()
    pom = pom or pom_path()
    digest = pom_digest(pom)
    if is_complete(libs_dir, digest):
        return libs_dir
    libs_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(libs_dir.parent / f"{libs_dir.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not is_complete(libs_dir, digest):
            _resolve(libs_dir, pom, digest)
    return libs_dir


def _resolve(libs_dir: Path, pom: Path, digest: str) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise LaunchError("mvn (Apache Maven) not found on PATH; it fetches the Kafka jars "
                          "(e.g. apt-get install maven)")
    staging = libs_dir.with_name(libs_dir.name + ".partial")
    log_path = libs_dir.with_name(libs_dir.name + ".maven.log")
    shutil.rmtree(staging, ignore_errors=True)
    argv = [mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
            "-DincludeScope=runtime", f"-DoutputDirectory={staging}"]
    print(f"resolving the Kafka jars with Maven into {libs_dir} ...", flush=True)
    try:
        with open(log_path, "wb") as log:
            result = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    timeout=MAVEN_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise LaunchError(f"Maven took over {MAVEN_TIMEOUT_S} s to fetch the Kafka jars; see {log_path}") from None
    if result.returncode != 0 or not any(staging.glob("kafka_*.jar")):
        raise LaunchError(
            f"Maven could not resolve the Kafka jars (offline or Maven Central unreachable?); see {log_path}",
            tail(log_path, 8),
        )
    (staging / STAMP).write_text(digest + "\n")
    shutil.rmtree(libs_dir, ignore_errors=True)
    staging.rename(libs_dir)
