"""Run one measured client process: wall time, CPU and peak RSS of that process alone.

``os.wait4`` returns the rusage of exactly the child waited for (and what it reaped), unlike
``RUSAGE_CHILDREN``, which accumulates over every child the harness ever reaped. Its
``ru_maxrss`` is not enough on its own, though: Linux folds the high-water mark of the memory
a child had before ``exec`` -- a copy of the harness -- into it, so a 5 MiB curl would show
the harness's size. The peak RSS therefore comes from GNU ``time -f %M`` wrapped around the
command: ``time`` is small, so what its child inherits is negligible.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

GNU_TIME = "/usr/bin/time"


@dataclass(frozen=True)
class Measured:
    """What one process cost."""

    wall: float
    cpu: float
    max_rss_kib: int
    returncode: int
    stdout: str
    stderr: str


def run_measured(
    cmd: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 1800.0,
) -> Measured:
    """Run ``cmd`` to completion (killed after ``timeout``) and measure it."""
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile("r") as rss,
    ):
        wrapped = [GNU_TIME, "-o", rss.name, "-f", "%M", *cmd] if has_gnu_time() else list(cmd)
        start = time.perf_counter()
        proc = subprocess.Popen(
            wrapped, cwd=cwd, env=env, stdout=out, stderr=err, start_new_session=True
        )
        timer = threading.Timer(timeout, _kill, (proc.pid,))
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # Popen must not reap it again
        out.seek(0)
        err.seek(0)
        return Measured(
            wall=wall,
            cpu=usage.ru_utime + usage.ru_stime,
            max_rss_kib=_peak_kib(rss.read()) or usage.ru_maxrss,
            returncode=proc.returncode,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
        )


def has_gnu_time() -> bool:
    """Whether ``/usr/bin/time`` (Debian package ``time``) is there to measure peak RSS."""
    return shutil.which(GNU_TIME) is not None


def _peak_kib(report: str) -> int:
    """The last number ``time -f %M`` wrote (it may first note a signal or exit status)."""
    numbers = [line for line in report.split() if line.isdigit()]
    return int(numbers[-1]) if numbers else 0


def _kill(pid: int) -> None:
    """Kill the whole session: ``time`` and the client it runs."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
