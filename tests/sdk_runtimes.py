"""The node and php executables the verification tests run; missing ones fail the test, never skip it.

``php`` comes from Debian's php-cli: installed with apt-get when absent and the tests run as
root (as in CI); otherwise the test fails and says how to install it.
"""

from __future__ import annotations

import os
import shutil
import subprocess

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
