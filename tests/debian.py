"""Debian tools the tests drive (gh, tinyproxy), installed by the tests' setup when missing.

CI starts from a clean machine with the Debian archive reachable; tests that need a tool
call ``debian_tool`` and skip, saying why, only if it cannot be installed (not root, no
apt-get, or the install failed).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess

_APT_ENV = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}


@functools.cache
def debian_tool(command: str, package: str | None = None) -> str | None:
    """The path of ``command``, installing Debian's ``package`` (default: the command's
    name) first if it is missing and this process may install packages."""
    found = shutil.which(command)
    if found or os.geteuid() != 0 or shutil.which("apt-get") is None:
        return found
    install = ["apt-get", "install", "-y", "-q", package or command]
    if _apt(install) != 0:  # a fresh machine has no package lists yet
        _apt(["apt-get", "update", "-q"])
        _apt(install)
    return shutil.which(command)


def _apt(command: list[str]) -> int:
    try:
        done = subprocess.run(command, env=_APT_ENV, capture_output=True, check=False, timeout=900)
    except (OSError, subprocess.TimeoutExpired):
        return 1
    return done.returncode
