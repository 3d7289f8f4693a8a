"""The five scenarios of issue 3, and issue 5's warm restart of 100 assets."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from gaama_async._files import ResumableFile
from gaama_async._resume import ResumeState

from . import clients
from .clients import MANIFEST, Bench, check_files, fresh_dir
from .measure import Case, Run, run_from
from .peers import python
from .process import run_measured

Attempt = Callable[[Path], Run]
#: gaama_async with its download cache on, as by default (every other gaama run has it off).
CACHE_ON = "gaama_async, cache on"
T = TypeVar("T")


def _once(bench: Bench, case: Case, attempt: Attempt, expected: dict[str, int]) -> Run:
    """One run of one peer into a fresh folder, checked for the right files."""
    dest = bench.work / f"{case.scenario}-{case.profile}-{case.peer}".replace(" ", "_")
    fresh_dir(dest)
    os.sync()  # the previous run's writeback must not slow this one down
    try:
        run = attempt(dest)
    except Exception as exc:  # a peer's failure is a result, not a crash of the harness
        run = Run(wall=0.0, error=f"{type(exc).__name__}: {exc}")
    if not run.error and expected:
        run = Run(**{**run.__dict__, "error": check_files(dest, expected)})
    fresh_dir(dest)
    print(
        f"  {case.scenario}/{case.profile}/{case.peer}: {run.seconds:.2f}s "
        f"in-process={run.inner} rss={run.rss_mib:.0f}MiB load={os.getloadavg()[0]:.2f} "
        f"{run.error}",
        flush=True,
    )
    return run


def _alternate(bench: Bench, plan: list[tuple[Case, Attempt]], expected: dict[str, int]) -> None:
    """Run every peer once per round, ``repeat`` rounds: peers alternate, so a load that
    comes and goes on the machine falls on all of them alike (the ratios are what count).

    The first peer runs once before the rounds, not counted: the first run of a scenario
    met a cold start (the server's blob out of the page cache, memory the VM had not backed
    yet) that once cost gaama_async, always first, 4.4 s against 1.6 s in the next round.
    Each round also starts one peer further along, so no peer always follows the same one.

    A peer stops early after an error, or once its next run would likely end past
    ``budget`` seconds for its case (one stream at 20 MiB/s then runs once or twice)."""
    if not plan:
        return
    first, attempt = plan[0]
    _once(bench, Case(first.scenario, first.profile, f"{first.peer} (warm-up)", 0), attempt,
          expected)  # fmt: skip
    spent = {id(case): 0.0 for case, _ in plan}
    for round_number in range(bench.repeat):
        for case, attempt in rotated(plan, round_number):
            runs = case.runs
            if runs and (runs[-1].error or spent[id(case)] + runs[-1].seconds > bench.budget):
                continue
            run = _once(bench, case, attempt, expected)
            case.runs.append(run)
            spent[id(case)] += run.seconds


def rotated(plan: list[T], round_number: int) -> list[T]:
    """The plan's order for one round: starting ``round_number`` places further along."""
    start = round_number % len(plan) if plan else 0
    return plan[start:] + plan[:start]


def _missing(case: Case, reason: str) -> Case:
    case.missing = reason
    print(f"  {case.scenario}/{case.profile}/{case.peer}: MISSING ({reason})", flush=True)
    return case


def large_download(bench: Bench, profile: str, tag: str, name: str, size: int) -> list[Case]:
    """One asset, at equal connection counts: gaama_async's default (16) in-process and as
    the CLI vs aria2c -x16 and hf_transfer (16), gaama_async with 8 vs aria2c -x8, curl (one
    stream), gaama 0.7.2; on loopback also gaama_async with its cache on (the default)."""
    bench.server.set_profile(profile)
    expected = {name: size}
    plan: list[tuple[str, Attempt | None, str]] = [
        ("gaama_async", lambda d: clients.download_gaama_async(bench, tag, d, inside=True), ""),
        ("gaama CLI", lambda d: clients.download_gaama_cli(bench, tag, d), ""),
        ("curl", lambda d: clients.download_curl(bench, tag, d, name), "curl"),
        ("aria2c -x16", lambda d: clients.download_aria2c_large(bench, tag, d, name), "aria2c"),
        ("hf_transfer", lambda d: clients.download_hf_transfer(bench, tag, d, name), "hf_transfer"),
        (
            "gaama_async -c8",
            lambda d: clients.download_gaama_async(bench, tag, d, concurrency=8, inside=True),
            "",
        ),
        ("aria2c -x8", lambda d: clients.download_aria2c_large(bench, tag, d, name, 8), "aria2c"),
    ]
    if profile == "loopback":  # the default configuration's cost, not a peer comparison
        plan.append((CACHE_ON, lambda d: clients.download_gaama_async(bench, tag, d, inside=True,
                                                                      cache=True), ""))  # fmt: skip
    if profile != "https":
        plan.append(
            ("gaama 0.7.2", lambda d: clients.download_gaama072(bench, tag, d), "gaama 0.7.2")
        )
    return _peers(bench, "large download", profile, size, plan, expected)


def many_small(bench: Bench, profile: str, tag: str, sizes: dict[str, int]) -> list[Case]:
    """Many small assets: gaama_async in-process and the gaama CLI as a whole process vs
    aria2c -j16 -i LIST (its URLs given for free) vs gaama 0.7.2."""
    bench.server.set_profile(profile)
    plan: list[tuple[str, Attempt | None, str]] = [
        ("gaama_async", lambda d: clients.download_gaama_async(bench, tag, d, inside=True), ""),
        ("gaama CLI", lambda d: clients.download_gaama_cli(bench, tag, d), ""),
        ("aria2c -j16", lambda d: clients.download_aria2c_many(bench, tag, d), "aria2c"),
        ("gaama 0.7.2", lambda d: clients.download_gaama072(bench, tag, d), "gaama 0.7.2"),
    ]
    return _peers(bench, "many small", profile, sum(sizes.values()), plan, sizes)


def large_upload(bench: Bench, source: Path) -> list[Case]:
    """One file published: gaama_async vs curl -T vs gaama 0.7.2 (loopback)."""
    bench.server.set_profile("loopback")
    counter = iter(range(1_000_000))

    def tag() -> str:
        return f"upload-{next(counter)}"

    plan: list[tuple[str, Attempt | None, str]] = [
        ("gaama_async", lambda _: clients.upload_gaama_async(bench, tag(), source), ""),
        ("curl -T", lambda _: clients.upload_curl(bench, tag(), source), "curl"),
        ("gaama 0.7.2", lambda _: clients.upload_gaama072(bench, tag(), source), "gaama 0.7.2"),
    ]
    return _peers(bench, "large upload", "loopback", source.stat().st_size, plan, {})


def _peers(
    bench: Bench,
    scenario: str,
    profile: str,
    payload: int,
    plan: list[tuple[str, Attempt | None, str]],
    expected: dict[str, int],
) -> list[Case]:
    cases, runnable = [], []
    for peer, attempt, tool in plan:
        case = Case(scenario, profile, peer, payload)
        reason = bench.tools.missing.get(tool, "") if tool else ""
        if tool == "curl" and bench.tools.curl is None:
            reason = reason or "curl not found"
        cases.append(case)
        if reason or attempt is None:
            _missing(case, reason)
        else:
            runnable.append((case, attempt))
    _alternate(bench, runnable, expected)
    return cases


def _cli(bench: Bench, tag: str, dest: Path) -> tuple[list[str], dict[str, str]]:
    """The gaama CLI download, as a service would run it."""
    env = {**bench.env(), "GITHUB_TOKEN": bench.token, "GAAMA_API_URL": bench.server.urls.api}
    cmd = [python(), "-m", "gaama_async", "download", bench.repo, "--tag", tag]
    return [*cmd, "--dir", str(dest), "-q"], env


def resume(bench: Bench, tag: str, name: str, size: int) -> list[Case]:
    """Kill the CLI (SIGKILL) at about half the file, run it again, count what it refetched.

    The kill comes once the server has sent half the file (its ``bytes_sent``: the client's
    own write counter, ``wchar`` of ``/proc/PID/io``, does not see bytes that ``splice``
    moves from socket to file inside the kernel). What was left to fetch is what the killed
    run's resume record (``ResumableFile.state_path``) does not count as written: bytes
    still in socket buffers or written after the last checkpoint are lost by the kill and
    count against the resume. What the second run fetched is the server's ``bytes_sent``
    during it (all origins, so a few KiB of API JSON are counted too: conservative).
    """
    bench.server.set_profile("loopback")
    case = Case("resume", "loopback", "gaama_async (CLI)", 0)
    dest = fresh_dir(bench.work / "resume")
    cmd, env = _cli(bench, tag, dest)
    bench.server.reset_counters()
    proc = subprocess.Popen(cmd, env=env, cwd=clients.REPO_ROOT)
    sent = 0
    while proc.poll() is None and (sent := bench.server.counters()["bytes_sent"]) < size // 2:
        time.sleep(0.002)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    recorded = ResumeState.from_bytes(_read_or_none(ResumableFile(dest / name).state_path))
    written = sum(recorded.done) if recorded is not None else 0
    case.extra["sent_at_kill"] = sent
    case.extra["written_at_kill"] = written
    case.extra["killed"] = proc.returncode == -signal.SIGKILL
    case.extra["left_on_disk"] = sorted(p.name for p in dest.iterdir())
    time.sleep(0.5)  # let the server notice the dead connection before counting anew
    bench.server.reset_counters()
    run = run_from(run_measured(cmd, env=env, cwd=clients.REPO_ROOT))
    if not run.error:
        run = Run(**{**run.__dict__, "error": check_files(dest, {name: size})})
    counters = bench.server.counters()
    remaining = size - written
    case.runs.append(run)
    case.extra.update(
        fetched_after_kill=counters["bytes_sent"],
        storage_requests=counters["storage_requests"],
        remaining_at_kill=remaining,
        limit=remaining + size // 50,
    )
    print(f"  resume: {case.extra}", flush=True)
    fresh_dir(dest)
    return [case]


def _read_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def warm_restart(bench: Bench, tag: str, name: str, size: int) -> list[Case]:
    """Download into a folder that already holds everything: time and asset bytes moved."""
    return _warm(bench, "warm restart", tag, {name: size})


def warm_restart_many(bench: Bench, tag: str, sizes: dict[str, int]) -> list[Case]:
    """The same with a release of many small assets (issue 5: 100 assets in under 1 s)."""
    return _warm(bench, f"warm restart, {len(sizes)} assets", tag, sizes)


def _warm(bench: Bench, scenario: str, tag: str, expected: dict[str, int]) -> list[Case]:
    """One cold download, then ``repeat`` downloads into the same folder, each counted."""
    bench.server.set_profile("loopback")
    dest = fresh_dir(bench.work / scenario.replace(" ", "_").replace(",", ""))
    cold = clients.download_gaama_async(bench, tag, dest)
    if not cold.error:
        cold = Run(**{**cold.__dict__, "error": check_files(dest, expected)})
    case = Case(scenario, "loopback", "gaama_async", 0)
    if cold.error:
        return [_missing(case, f"the cold download failed: {cold.error}")]
    case.extra["assets"] = len(expected)
    case.extra["cold_seconds"] = cold.seconds
    for _ in range(bench.repeat):
        bench.server.reset_counters()
        run = clients.download_gaama_async(bench, tag, dest)
        if not run.error:
            run = Run(**{**run.__dict__, "error": check_files(dest, expected)})
        counters = bench.server.counters()
        case.runs.append(run)
        case.extra.setdefault("bytes_sent", []).append(counters["bytes_sent"])
        case.extra.setdefault("storage_requests", []).append(counters["storage_requests"])
        case.extra.setdefault("storage_bodies", []).append(counters["storage_bodies"])
        case.extra["storage_answers"] = counters["storage_answers"]
        case.extra["requests"] = counters["requests"]
        print(
            f"  {scenario}: {run.seconds:.2f}s in-process={run.inner}s "
            f"bytes_sent={counters['bytes_sent']} "
            f"storage_requests={counters['storage_requests']} {run.error}",
            flush=True,
        )
    print(f"  {scenario}: {case.extra}", flush=True)
    fresh_dir(dest)
    return [case]


__all__ = [
    "MANIFEST",
    "large_download",
    "large_upload",
    "many_small",
    "resume",
    "warm_restart",
    "warm_restart_many",
]
