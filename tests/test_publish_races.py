"""Publishers of one tag side by side, killed or cancelled: one release, no draft left behind.

Every check reads the server's state through its API with push access (drafts included), as
a user looking at GitHub would.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest
from helpers import FAST_RETRY, REPO, TOKEN, sha256_file, write_random

from gaama_async import AssetConflictError, GaAMA
from gaama_async._drafts import this_machine
from gaama_async.manifest import MANIFEST_NAME
from gaama_async.server import Fault, ReleaseServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]
DEADLINE = 20.0


def _client(server: ReleaseServer, **options: Any) -> GaAMA:
    return GaAMA(repo=REPO, token=TOKEN, api_url=server.api_url, retry=FAST_RETRY,
                 write_interval=0, **options)  # fmt: skip


@pytest.fixture
async def api(server: ReleaseServer) -> AsyncIterator[aiohttp.ClientSession]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        yield session


async def releases_of(api: aiohttp.ClientSession, server: ReleaseServer, tag: str) -> list[Any]:
    """Every release of ``tag``, drafts included, as the server has them now."""
    url = f"{server.api_url}/repos/{REPO}/releases"
    async with api.get(url, params={"per_page": "100"}) as response:
        assert response.status == 200
        return [r for r in await response.json() if r["tag_name"] == tag]


async def drafts_of(api: aiohttp.ClientSession, server: ReleaseServer, tag: str) -> list[Any]:
    return [r for r in await releases_of(api, server, tag) if r["draft"]]


async def plant_draft(
    api: aiohttp.ClientSession, server: ReleaseServer, tag: str, body: str
) -> int:
    url = f"{server.api_url}/repos/{REPO}/releases"
    async with api.post(url, json={"tag_name": tag, "body": body, "draft": True}) as response:
        assert response.status == 201
        return int((await response.json())["id"])


def marker(*, age: float, host: str = "elsewhere", pid: int = 1, machine: bool = False) -> str:
    """Another publisher's in-progress marker, started ``age`` seconds ago."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - age))
    text = f"id=other{pid} started={stamp} renewed={stamp} host={host} pid={pid}"
    here = this_machine()
    if machine and here is not None:
        text += f" boot={here.boot} pidns={here.pid_namespace}"
    return f"<!-- gaama-publish {text} -->"


async def wait_for(condition: Any, what: str) -> Any:
    """Poll the server until ``condition()`` returns something true, within DEADLINE."""
    try:
        with anyio.fail_after(DEADLINE):
            while not (found := await condition()):
                await anyio.sleep(0.02)
    except TimeoutError as exc:
        raise AssertionError(f"gave up waiting for {what} after {DEADLINE} s") from exc
    return found


def publishes_refused(server: ReleaseServer) -> int:
    """PATCHes that GitHub refused: a publisher losing the tag to another."""
    return sum(
        1 for r in server.counters.log if r.route == "api.update_release" and r.status == 422
    )


async def test_two_publishers_of_the_same_files_end_with_one_release_and_no_draft(
    server: ReleaseServer, api: aiohttp.ClientSession, tmp_path: Path
) -> None:
    write_random(tmp_path / "model.bin", 50_000, seed=1)
    # Slow uploads keep both drafts open at once, so the publish itself decides the race.
    server.faults.add(Fault("slow", route="upload", times=None, delay=0.3))
    results = []

    async def run(client: GaAMA) -> None:
        results.append(await client.publish("v1", [tmp_path / "model.bin"]))

    async with _client(server) as one, _client(server) as two, anyio.create_task_group() as group:
        group.start_soon(run, one)
        await wait_for(lambda: drafts_of(api, server, "v1"), "the first publisher's draft")
        group.start_soon(run, two)  # its clean-up sees the first one's draft

    assert server.counters.requests["api.create_release"] == 2  # both built a draft
    assert publishes_refused(server) == 1  # and one lost at the publish
    [only] = await releases_of(api, server, "v1")
    assert not only["draft"]
    assert {r.id for r in results} == {only["id"]}
    assert {a["name"] for a in only["assets"]} == {"model.bin", MANIFEST_NAME}


async def test_the_loser_with_other_files_gets_a_conflict_and_the_winner_stays_intact(
    server: ReleaseServer, api: aiohttp.ClientSession, tmp_path: Path
) -> None:
    digests = {}
    for index in (1, 2):
        (tmp_path / str(index)).mkdir()
        digests[index] = write_random(tmp_path / str(index) / "model.bin", 50_000, seed=index)
    server.faults.add(Fault("slow", route="upload", times=None, delay=0.3))
    outcome: dict[int, Any] = {}

    async def run(client: GaAMA, index: int) -> None:
        try:
            outcome[index] = await client.publish("v1", [tmp_path / str(index) / "model.bin"])
        except AssetConflictError as exc:
            outcome[index] = exc

    async with _client(server) as one, _client(server) as two, anyio.create_task_group() as group:
        group.start_soon(run, one, 1)
        await wait_for(lambda: drafts_of(api, server, "v1"), "the first publisher's draft")
        group.start_soon(run, two, 2)

    [winner] = [i for i, r in outcome.items() if not isinstance(r, Exception)]
    [loser] = [i for i, r in outcome.items() if isinstance(r, AssetConflictError)]
    assert "published meanwhile by another publisher" in str(outcome[loser])
    assert publishes_refused(server) == 1
    [only] = await releases_of(api, server, "v1")
    assert not only["draft"]
    [model] = [a for a in only["assets"] if a["name"] == "model.bin"]
    assert model["digest"] == f"sha256:{digests[winner]}"
    async with _client(server) as reader:
        [path] = await reader.download("v1", tmp_path / "out")
    assert sha256_file(path) == digests[winner]


async def test_the_loser_never_adds_its_extra_files_to_the_winners_release(
    server: ReleaseServer, api: aiohttp.ClientSession, tmp_path: Path
) -> None:
    write_random(tmp_path / "model.bin", 50_000, seed=1)
    write_random(tmp_path / "extra.bin", 1_000, seed=2)
    # Only the first two uploads (the loser's two files) are slow; the winner's are not.
    server.faults.add(Fault("slow", route="upload", times=2, delay=1.0))

    refused: list[AssetConflictError] = []

    async def lose(client: GaAMA) -> None:
        try:
            await client.publish("v1", [tmp_path / "model.bin", tmp_path / "extra.bin"])
        except AssetConflictError as exc:
            refused.append(exc)

    async def both_slowed() -> bool:
        return server.counters.faults_injected["slow"] == 2

    async with _client(server) as loser, _client(server) as winner, anyio.create_task_group() as tg:
        tg.start_soon(lose, loser)
        await wait_for(both_slowed, "the loser's two uploads")
        await winner.publish("v1", [tmp_path / "model.bin"])

    assert refused and "published meanwhile" in str(refused[0])
    [only] = await releases_of(api, server, "v1")
    assert not only["draft"]
    assert {a["name"] for a in only["assets"]} == {"model.bin", MANIFEST_NAME}


async def test_cleanup_removes_only_drafts_whose_publisher_is_gone(
    client: GaAMA, server: ReleaseServer, api: aiohttp.ClientSession, tmp_path: Path
) -> None:
    finished = await anyio.run_process([sys.executable, "-c", "import os; print(os.getpid())"])
    dead_pid = int(finished.stdout)
    theirs = "theirs\n\n" + marker(age=60)
    live = await plant_draft(api, server, "v1", theirs)
    expired = await plant_draft(api, server, "v1", marker(age=11 * 60))
    dead = await plant_draft(api, server, "v1", marker(age=5, pid=dead_pid, machine=True))
    ours_alive = await plant_draft(api, server, "v1", marker(age=5, pid=os.getpid(), machine=True))
    other_tag = await plant_draft(api, server, "v2", marker(age=11 * 60))
    (tmp_path / "f").write_bytes(b"mine")

    await client.publish("v1", [tmp_path / "f"])

    left = {r["id"]: r for r in await releases_of(api, server, "v1")}
    assert {live, ours_alive} <= set(left)
    assert expired not in left, "a draft unrenewed past the lease stays"
    if this_machine() is not None:
        assert dead not in left, "a draft of a dead process on this machine stays"
    assert left[live]["body"] == theirs  # untouched
    assert [r["id"] for r in await releases_of(api, server, "v2")] == [other_tag]
    assert sum(not r["draft"] for r in left.values()) == 1


async def test_a_draft_kept_with_draft_true_is_filled_by_the_next_publish(
    client: GaAMA, server: ReleaseServer, api: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """Issue 10: a tag that exists only as a kept draft gets no second release; the next
    publish fills that draft and publishes it (the kept draft is reused, never deleted)."""
    (tmp_path / "draft.bin").write_bytes(b"kept on purpose")
    (tmp_path / "final.bin").write_bytes(b"published")
    kept = await client.publish("v1", [tmp_path / "draft.bin"], body="notes", draft=True)

    published = await client.publish("v1", [tmp_path / "final.bin"], body="final notes")

    by_id = {r["id"]: r for r in await releases_of(api, server, "v1")}
    assert set(by_id) == {kept.id} and published.id == kept.id
    assert not by_id[kept.id]["draft"] and by_id[kept.id]["body"] == "final notes"
    names = {a["name"] for a in by_id[kept.id]["assets"]}
    assert names == {"draft.bin", "final.bin", MANIFEST_NAME}
    assert published.body == "final notes"


async def test_a_sigkilled_publish_leaves_a_draft_that_the_next_publish_removes(
    client: GaAMA, server: ReleaseServer, api: aiohttp.ClientSession, tmp_path: Path
) -> None:
    files = [tmp_path / "a.bin", tmp_path / "b.bin"]
    for seed, path in enumerate(files):
        write_random(path, 20_000, seed=seed)
    # The first upload goes through; the second keeps failing and the process keeps
    # retrying (seconds of backoff, no server handler left hanging): the draft holds one
    # uploaded asset, which the old "no uploaded asset means stale" rule kept forever.
    server.faults.add(Fault("slow", route="upload", times=1, delay=0))
    server.faults.add(Fault("status", route="upload", times=None, status=503))
    env = {**os.environ, "GITHUB_TOKEN": TOKEN, "GAAMA_API_URL": server.api_url}
    command = [sys.executable, "-m", "gaama_async", "publish", REPO, "--tag", "v1", "-q"]
    process = await anyio.open_process([*command, *map(str, files)], env=env)
    try:

        async def half_uploaded_draft() -> bool:
            return any(
                r["draft"] and any(a["state"] == "uploaded" for a in r["assets"])
                for r in await releases_of(api, server, "v1")
            )

        await wait_for(half_uploaded_draft, "the killed publisher's draft")
    finally:
        process.send_signal(signal.SIGKILL)
        await process.wait()
        await process.aclose()
    [orphan] = await releases_of(api, server, "v1")
    assert orphan["draft"], "finished before the kill: slow the server more"
    server.faults.clear()

    await client.publish("v1", files)

    [only] = await releases_of(api, server, "v1")
    assert not only["draft"] and only["id"] != orphan["id"]
    assert {a["name"] for a in only["assets"]} == {"a.bin", "b.bin", MANIFEST_NAME}


async def test_cancelling_a_publish_leaves_no_draft(
    client: GaAMA, server: ReleaseServer, api: aiohttp.ClientSession, tmp_path: Path
) -> None:
    (tmp_path / "f").write_bytes(b"never published")
    server.faults.add(Fault("slow", route="upload", times=None, delay=1.0))
    # A slow delete: only a discard that the cancellation cannot cut short waits for it.
    server.faults.add(Fault("slow", route="api.delete_release", delay=0.3))

    async with anyio.create_task_group() as group:
        group.start_soon(client.publish, "v1", [tmp_path / "f"])
        [draft] = await wait_for(lambda: drafts_of(api, server, "v1"), "the publisher's draft")
        group.cancel_scope.cancel()

    assert "<!-- gaama-publish id=" in draft["body"]  # it was marked as in progress
    assert await releases_of(api, server, "v1") == []
    assert server.counters.requests["api.delete_release"] == 1


async def test_a_live_publisher_renews_its_lease_and_publishes_the_body_as_given(
    server: ReleaseServer, api: aiohttp.ClientSession, tmp_path: Path
) -> None:
    (tmp_path / "f").write_bytes(b"slowly")
    # The upload hangs 15 renewal periods (lease/4 = 0.1 s), so two renewals are sure to
    # fall in it even on a loaded machine (with 0.5 s one CI run saw a single one).
    server.faults.add(Fault("slow", route="upload", times=1, delay=1.5))

    async with _client(server) as client:
        release = await client.publish("v1", [tmp_path / "f"], body="notes", draft_lease=0.4)

    patches = [r for r in server.counters.log if r.route == "api.update_release"]
    assert len(patches) >= 3, "renewals every lease/4 while the upload hung, then the publish"
    [only] = await releases_of(api, server, "v1")
    assert only["body"] == release.body == "notes"


async def test_a_lease_that_is_not_positive_is_refused_before_anything_is_sent(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    (tmp_path / "f").write_bytes(b"x")
    with pytest.raises(ValueError, match="draft_lease"):
        await client.publish("v1", [tmp_path / "f"], draft_lease=0)
    assert sum(server.counters.requests.values()) == 0
