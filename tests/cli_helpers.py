"""Running the real ``gaama`` command as a subprocess, as a user would (imported by tests).

Tests run as root in CI, and root ignores permission bits. ``without_root_powers`` gives the
prefix that runs a command as root but without the capabilities that bypass them
(CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), so a folder of mode 0o555 really refuses writes and
a file of mode 0o000 really refuses reads; the interpreter and the repository stay readable,
because root still owns them.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import anyio
from anyio.abc import Process
from anyio.streams.text import TextReceiveStream
from helpers import REPO, TOKEN

GAAMA = [sys.executable, "-m", "gaama_async"]
DROP_DAC = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


@dataclass(frozen=True)
class Run:
    """What one run of the command left: exit code, stdout and stderr."""

    code: int
    out: str
    err: str

    @property
    def error_line(self) -> str:
        """The one ``gaama: error:`` line; fails unless stderr is exactly that, no traceback."""
        assert "Traceback" not in self.err, self.err
        lines = self.err.splitlines()
        assert len(lines) == 1 and self.err.endswith("\n"), self.err
        assert lines[0].startswith("gaama: error: "), self.err
        return lines[0]


def cli_env(api_url: str | None, *, token: str = TOKEN, **extra: str) -> dict[str, str]:
    """The environment of a run: this process's, with the token and API URL given."""
    env = {**os.environ, "GITHUB_TOKEN": token, **extra}
    for name in ("GH_TOKEN", "GAAMA_DEBUG", "GITHUB_API_URL"):
        env.pop(name, None)
    if api_url is None:
        env.pop("GAAMA_API_URL", None)
    else:
        env["GAAMA_API_URL"] = api_url
    return env


async def run_gaama(
    *args: str,
    api_url: str | None,
    token: str = TOKEN,
    prefix: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    deadline: float = 60.0,
) -> Run:
    """Run ``gaama ARGS...`` to its end (within ``deadline`` seconds)."""
    return await run_command(
        [*prefix, *GAAMA, *args],
        env=env if env is not None else cli_env(api_url, token=token),
        deadline=deadline,
    )


async def run_command(command: Sequence[str], *, env: Mapping[str, str], deadline: float) -> Run:
    """Run ``command`` to its end (within ``deadline`` seconds)."""
    with anyio.fail_after(deadline):
        result = await anyio.run_process(list(command), env=dict(env), check=False)
    return Run(result.returncode, result.stdout.decode(), result.stderr.decode())


async def releases_on(api_url: str) -> list[dict[str, object]]:
    """Every release of REPO the server holds, drafts included (the owner's token sees them)."""
    async with aiohttp.ClientSession() as raw:
        answer = await raw.get(
            f"{api_url}/repos/{REPO}/releases", headers={"Authorization": f"token {TOKEN}"}
        )
        answer.raise_for_status()
        found: list[dict[str, object]] = await answer.json()
        return found


@functools.cache
def without_root_powers() -> tuple[str, ...] | str:
    """The prefix that makes permission bits bind, or why that is impossible here.

    Not root: nothing is needed. Root: ``setpriv`` drops the two capabilities from the
    bounding set; a probe checks that the result really cannot read a 0o000 file.
    """
    if os.geteuid() != 0:
        return ()
    if shutil.which("setpriv") is None:
        return "root ignores permission bits, and setpriv (util-linux) is not installed"
    with tempfile.TemporaryDirectory() as folder:
        locked = Path(folder) / "locked"
        locked.write_bytes(b"x")
        locked.chmod(0)
        probe = subprocess.run(
            [*DROP_DAC, "cat", str(locked)], capture_output=True, check=False, timeout=30
        )
    if probe.returncode == 0:
        return "root ignores permission bits, and setpriv could not drop that power here"
    if b"Permission denied" not in probe.stderr:
        return f"setpriv cannot drop capabilities here: {probe.stderr.decode().strip()}"
    return tuple(DROP_DAC)


@functools.cache
def private_mounts() -> str | None:
    """None when ``unshare --mount`` can mount a tmpfs here (root in a privileged place)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return "mounting a small or read-only file system needs root and unshare"
    with tempfile.TemporaryDirectory() as folder:
        probe = subprocess.run(
            ["unshare", "--mount", "mount", "-t", "tmpfs", "-o", "size=64k", "probe", folder],
            capture_output=True,
            check=False,
            timeout=30,
        )
    if probe.returncode != 0:
        return f"cannot mount in a private namespace here: {probe.stderr.decode().strip()}"
    return None


def in_private_mount(setup: str, folder: Path) -> list[str]:
    """A prefix that runs a command in its own mount namespace after ``setup`` (a shell
    command that may use "$0" for ``folder``); the mount vanishes with the process."""
    return ["unshare", "--mount", "sh", "-c", f'{setup} && exec "$@"', str(folder)]


async def serve_lines_until_ready(process: Process) -> list[str]:
    """stdout lines of ``gaama serve`` up to its "Press Ctrl+C" line."""
    assert process.stdout is not None
    text = ""
    with anyio.fail_after(30):
        async for chunk in TextReceiveStream(process.stdout):
            text += chunk
            if "Press Ctrl+C" in text:
                return text.splitlines()
    raise AssertionError(f"gaama serve ended early: {text}")
