"""Credentials, conflicts, hostile input and injected faults, against the real local server."""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp
import pytest
from helpers import (
    FAST_RETRY,
    REPO,
    TOKEN,
    listing,
    partial_files,
    private_repository,
    sha256_file,
    storage_requests,
)

from gaama_async import (
    AssetConflictError,
    AuthenticationError,
    DownloadError,
    GaAMA,
    IntegrityError,
    PublishError,
    RateLimitError,
)
from gaama_async.errors import TransferError
from gaama_async.manifest import MANIFEST_NAME, Manifest, ManifestEntry
from gaama_async.server import Fault, ReleaseServer

pytestmark = pytest.mark.anyio


async def test_wrong_token_raises_authentication_error_without_the_token(
    server: ReleaseServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "ghp_wrongwrongwrongwrongwrongwrongwrong1"
    (tmp_path / "f").write_bytes(b"x")
    async with GaAMA(repo=REPO, token=secret, api_url=server.api_url) as client:
        with pytest.raises(AuthenticationError, match="credentials") as caught:
            await client.publish("v1", [tmp_path / "f"])
        assert secret not in repr(client) and secret not in str(caught.value)
        assert secret not in repr(caught.value)
    assert secret not in caplog.text


async def test_token_stays_out_of_repr_logs_errors_and_storage(
    client: GaAMA, server: ReleaseServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    (tmp_path / "f.bin").write_bytes(b"abc" * 1000)
    server.faults.add(Fault("status", route="storage", asset="f.bin", status=503))
    await client.publish("v1", [tmp_path / "f.bin"])
    await client.download("v1", tmp_path / "out")
    assert server.counters.hits("status", "f.bin") == 1  # a retry happened, and was logged
    with pytest.raises(PublishError) as caught:
        await client.publish("v2", [tmp_path / "missing"])

    assert TOKEN not in repr(client) and TOKEN not in str(caught.value)
    assert TOKEN not in caplog.text
    assert storage_requests(server, "f.bin") == 2
    assert server.counters.storage_requests_with_authorization == 0


async def test_basic_auth_for_gaama_072_style_credentials(
    server: ReleaseServer, tmp_path: Path
) -> None:
    (tmp_path / "f").write_bytes(b"basic")
    async with GaAMA(
        owner="acme", repository="models", username="octocat", password=TOKEN,
        api_url=server.api_url,
    ) as client:  # fmt: skip
        await client.publish("v1", [tmp_path / "f"])
        [path] = await client.download("v1", tmp_path / "out")
    assert path.read_bytes() == b"basic"


async def test_republishing_identical_files_is_skipped(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    (tmp_path / "a").write_bytes(b"a" * 100)
    (tmp_path / "b").write_bytes(b"b" * 100)
    await client.publish("v1", [tmp_path / "a", tmp_path / "b"])
    uploads = server.counters.requests["upload"]

    release = await client.publish("v1", [tmp_path / "a", tmp_path / "b"])

    assert server.counters.requests["upload"] == uploads
    assert {a.name for a in release.assets} == {"a", "b", MANIFEST_NAME}


async def test_a_different_file_conflicts_unless_overwrite(client: GaAMA, tmp_path: Path) -> None:
    (tmp_path / "w.bin").write_bytes(b"old" * 100)
    (tmp_path / "extra.txt").write_bytes(b"extra")
    await client.publish("v1", [tmp_path / "w.bin"])
    (tmp_path / "w.bin").write_bytes(b"new" * 100)

    with pytest.raises(AssetConflictError, match="overwrite=True"):
        await client.publish("v1", [tmp_path / "extra.txt", tmp_path / "w.bin"])
    assert {a.name for a in await client.list_assets("v1")} == {"w.bin", MANIFEST_NAME}

    release = await client.publish(
        "v1", [tmp_path / "w.bin", tmp_path / "extra.txt"], overwrite=True
    )

    assert {a.name for a in release.assets} == {"w.bin", "extra.txt", MANIFEST_NAME}
    paths = await client.download("v1", tmp_path / "out")
    assert {p.name: p.read_bytes() for p in paths} == {"w.bin": b"new" * 100, "extra.txt": b"extra"}


async def test_failed_upload_removes_the_draft_and_names_the_file(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    (tmp_path / "ok.bin").write_bytes(b"fine")
    (tmp_path / "bad.bin").write_bytes(b"doomed" * 10)
    server.faults.add(Fault("status", route="upload", asset="bad.bin", times=None, status=500))

    with pytest.raises(TransferError, match=r"bad\.bin|ok\.bin"):
        await client.publish("v1", [tmp_path / "ok.bin", tmp_path / "bad.bin"])
    assert server.counters.hits("status", "bad.bin") == FAST_RETRY.attempts

    server.faults.clear()
    async with aiohttp.ClientSession() as raw:
        listed = await raw.get(
            f"{server.api_url}/repos/{REPO}/releases", headers={"Authorization": f"token {TOKEN}"}
        )
        assert await listed.json() == []


async def test_starter_leftover_is_cleared_and_the_upload_retried(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    (tmp_path / "model.bin").write_bytes(b"m" * 5000)
    server.faults.add(Fault("starter", route="upload", asset="model.bin", status=502))

    release = await client.publish("v1", [tmp_path / "model.bin"])

    assert [a.state for a in release.assets] == ["uploaded", "uploaded"]
    assert server.counters.hits("starter", "model.bin") == 1
    assert server.counters.requests["api.delete_asset"] == 1  # the leftover, nothing else


async def test_corrupt_bytes_are_retried_then_refused(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    (tmp_path / "w.bin").write_bytes(bytes(range(256)) * 400)
    await client.publish("v1", [tmp_path / "w.bin"])
    out = tmp_path / "out"

    server.faults.add(Fault("corrupt", route="storage", asset="w.bin", after_bytes=5000))
    [path] = await client.download("v1", out)
    assert sha256_file(path) == sha256_file(tmp_path / "w.bin")
    assert server.counters.hits("corrupt", "w.bin") == 1
    assert storage_requests(server, "w.bin") == 2  # the corrupt copy and the good one

    path.unlink()
    server.counters.reset()
    server.faults.add(
        Fault("corrupt", route="storage", asset="w.bin", times=None, after_bytes=60_000)
    )
    with pytest.raises(IntegrityError, match=r"w\.bin"):
        await client.download("v1", out)
    assert server.counters.hits("corrupt", "w.bin") == 2  # one retry from scratch, then refused
    assert listing(out) == [] and partial_files(out) == []


async def test_a_connection_cut_mid_body_is_retried(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    (tmp_path / "w.bin").write_bytes(b"q" * 3_000_000)
    await client.publish("v1", [tmp_path / "w.bin"])
    server.faults.add(Fault("cut", route="storage", asset="w.bin", after_bytes=1_000_000))

    [path] = await client.download("v1", tmp_path / "out")

    assert path.read_bytes() == b"q" * 3_000_000 and partial_files(tmp_path / "out") == []
    assert server.counters.hits("cut", "w.bin") == 1
    assert storage_requests(server, "w.bin") == 2  # cut, then the rest


async def test_direct_200_downloads_work(server: ReleaseServer, tmp_path: Path) -> None:
    server.config.direct_downloads = True
    private_repository(server)  # a public one would take the web host's link to storage
    (tmp_path / "w.bin").write_bytes(b"d" * 1_000_000)
    async with GaAMA(repo=REPO, token=TOKEN, api_url=server.api_url) as client:
        await client.publish("v1", [tmp_path / "w.bin"])
        server.counters.reset()
        [path] = await client.download("v1", tmp_path / "out")
    assert path.read_bytes() == b"d" * 1_000_000
    assert server.counters.requests.get("storage", 0) == 0
    # Learning that the API serves the bytes costs one byte of them, not a copy.
    assert 1_000_000 <= server.counters.bytes_sent < 1_100_000


async def test_rate_limits_are_waited_out_or_reported(
    server: ReleaseServer, tmp_path: Path
) -> None:
    (tmp_path / "f").write_bytes(b"x")
    server.faults.add(
        Fault("secondary_limit", route="api.get_release_by_tag", status=429, retry_after=0.3)
    )
    async with GaAMA(repo=REPO, token=TOKEN, api_url=server.api_url, retry=FAST_RETRY) as client:
        await client.publish("v1", [tmp_path / "f"])
        server.faults.add(Fault("primary_limit", route="api.*", retry_after=3600))
        async with GaAMA(
            repo=REPO, token=TOKEN, api_url=server.api_url, max_rate_limit_wait=10
        ) as impatient:
            with pytest.raises(RateLimitError, match="rate limit"):
                await impatient.download("v1", tmp_path / "out")


async def test_release_without_manifest_downloads_plain_assets(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as raw:
        created = await raw.post(
            f"{server.api_url}/repos/{REPO}/releases", json={"tag_name": "other"}
        )
        upload_url = (await created.json())["upload_url"].split("{")[0]
        for name, data in (("a.txt", b"aaa"), ("b.txt", b"bb")):
            await raw.post(
                upload_url, params={"name": name}, data=data,
                headers={"Content-Type": "text/plain"},
            )  # fmt: skip

    paths = await client.download("other", tmp_path / "out")

    assert {p.name: p.read_bytes() for p in paths} == {"a.txt": b"aaa", "b.txt": b"bb"}


async def test_hostile_manifest_names_are_refused_and_the_rest_downloads(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "good.bin").write_bytes(b"good")
    (src / "evil.bin").write_bytes(b"evil")
    await client.publish("v1", [src / "good.bin", src / "evil.bin"])
    assets = {a.name: a for a in await client.list_assets("v1")}
    hostile = Manifest(
        (
            ManifestEntry("good.bin", "good.bin", 4, sha256_file(src / "good.bin")),
            ManifestEntry("../../evil.bin", "evil.bin", 4, sha256_file(src / "evil.bin")),
        )
    ).to_bytes()
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as raw:
        await raw.delete(assets[MANIFEST_NAME].url)
        release = await (await raw.get(f"{server.api_url}/repos/{REPO}/releases/tags/v1")).json()
        await raw.post(
            release["upload_url"].split("{")[0], params={"name": MANIFEST_NAME}, data=hostile,
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
    out = tmp_path / "deep" / "out"

    with pytest.raises(DownloadError, match="unsafe"):
        await client.download("v1", out)

    assert listing(out) == ["good.bin"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep", "github", "src"]
    assert [p.name for p in (tmp_path / "deep").iterdir()] == ["out"]


async def test_a_replace_left_unfinished_by_an_earlier_run_is_cleaned_up(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    (tmp_path / "w.bin").write_bytes(b"old")
    await client.publish("v1", [tmp_path / "w.bin"])
    release = await client.get_release("v1")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as raw:
        await raw.post(
            release.upload_base, params={"name": "w.bin.gaama-replacing"}, data=b"half-done",
            headers={"Content-Type": "application/octet-stream"},
        )  # fmt: skip
    assert [p.name for p in await client.download("v1", tmp_path / "before")] == ["w.bin"]
    (tmp_path / "w.bin").write_bytes(b"new")

    release = await client.publish("v1", [tmp_path / "w.bin"], overwrite=True)

    assert sorted(a.name for a in release.assets) == [MANIFEST_NAME, "w.bin"]
    [path] = await client.download("v1", tmp_path / "after")
    assert path.read_bytes() == b"new"
