"""The five scenarios of issue 3, and issue 5's warm restart of 100 assets."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from . import clients
from .clients import MANIFEST, Bench, check_files, fresh_dir
from .measure import Case, Run, run_from
from .peers import python
from .process import bytes_written, run_measured

Attempt = Callable[[Path], Run]


def _repeat(bench: Bench, case: Case, attempt: Attempt, expected: dict[str, int]) -> Case:
    """Run ``attempt`` up to ``repeat`` times, fewer once the case has used its time budget.

    No further run starts if it would likely end past ``budget`` seconds for this case: a peer
    that needs over a minute per run (one stream at 25 MiB/s) then runs once rather than
    blowing the whole benchmark's time; the run count is reported with the median.
    """
    spent = 0.0
    dest = bench.work / f"{case.scenario}-{case.profile}-{case.peer}".replace(" ", "_")
    for _ in range(bench.repeat):
        fresh_dir(dest)
        os.sync()  # the previous run's writeback must not slow this one down
        try:
            run = attempt(dest)
        except Exception as exc:  # a peer's failure is a result, not a crash of the harness
            run = Run(wall=0.0, error=f"{type(exc).__name__}: {exc}")
        if not run.error and expected:
            run = Run(**{**run.__dict__, "error": check_files(dest, expected)})
        case.runs.append(run)
        spent += run.seconds
        print(
            f"  {case.scenario}/{case.profile}/{case.peer}: {run.seconds:.2f}s "
            f"rss={run.rss_mib:.0f}MiB {run.error}",
            flush=True,
        )
        if run.error or spent + run.seconds > bench.budget:
            break
    fresh_dir(dest)
    return case


def _missing(case: Case, reason: str) -> Case:
    case.missing = reason
    print(f"  {case.scenario}/{case.profile}/{case.peer}: MISSING ({reason})", flush=True)
    return case


def large_download(bench: Bench, profile: str, tag: str, name: str, size: int) -> list[Case]:
    """One asset: gaama_async vs curl -o vs aria2c -x8 -s8 vs gaama 0.7.2."""
    bench.server.set_profile(profile)
    expected = {name: size}
    plan: list[tuple[str, Attempt | None, str]] = [
        ("gaama_async", lambda d: clients.download_gaama_async(bench, tag, d), ""),
        ("curl", lambda d: clients.download_curl(bench, tag, d, name), "curl"),
        ("aria2c -x8", lambda d: clients.download_aria2c_large(bench, tag, d, name), "aria2c"),
        ("gaama 0.7.2", lambda d: clients.download_gaama072(bench, tag, d), "gaama 0.7.2"),
    ]
    return _peers(bench, "large download", profile, size, plan, expected)


def many_small(bench: Bench, profile: str, tag: str, sizes: dict[str, int]) -> list[Case]:
    """Many small assets: gaama_async vs aria2c -j16 -i LIST vs gaama 0.7.2."""
    bench.server.set_profile(profile)
    plan: list[tuple[str, Attempt | None, str]] = [
        ("gaama_async", lambda d: clients.download_gaama_async(bench, tag, d), ""),
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
    cases = []
    for peer, attempt, tool in plan:
        case = Case(scenario, profile, peer, payload)
        reason = bench.tools.missing.get(tool, "") if tool else ""
        if tool == "curl" and bench.tools.curl is None:
            reason = reason or "curl not found"
        if reason or attempt is None:
            cases.append(_missing(case, reason))
        else:
            cases.append(_repeat(bench, case, attempt, expected))
    return cases


def _cli(bench: Bench, tag: str, dest: Path) -> tuple[list[str], dict[str, str]]:
    """The gaama CLI download, as a service would run it."""
    env = {**os.environ, "GITHUB_TOKEN": bench.token, "GAAMA_API_URL": bench.server.urls.api}
    cmd = [python(), "-m", "gaama_async", "download", bench.repo, "--tag", tag]
    return [*cmd, "--dir", str(dest), "-q"], env


def resume(bench: Bench, tag: str, name: str, size: int) -> list[Case]:
    """Kill the CLI (SIGKILL) at about half the file, run it again, count what it refetched.

    Progress is the bytes the client process has written (``/proc/PID/io``); what the second
    run fetched is the server's ``bytes_sent`` during it (all origins, so a few KiB of API JSON
    are counted too: conservative).
    """
    bench.server.set_profile("loopback")
    case = Case("resume", "loopback", "gaama_async (CLI)", 0)
    dest = fresh_dir(bench.work / "resume")
    cmd, env = _cli(bench, tag, dest)
    proc = subprocess.Popen(cmd, env=env, cwd=clients.REPO_ROOT)
    written = 0
    while proc.poll() is None and (written := bytes_written(proc.pid)) < size // 2:
        time.sleep(0.002)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
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
