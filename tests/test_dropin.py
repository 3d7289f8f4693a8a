"""Code written for gaama 0.7.2 runs on gaama_async with ``await``, against the local server."""

from __future__ import annotations

import tracemalloc
import zipfile
from pathlib import Path

import pytest
from helpers import FAST_RETRY, TOKEN, listing, sha256_file, write_random

import gaama_async
from gaama_async import GaAMA, PublishError
from gaama_async._bundle import bundle_name, write_bundle, zip_bundle
from gaama_async.compat import GaAMA as CompatGaAMA
from gaama_async.errors import TransferError
from gaama_async.manifest import MANIFEST_NAME
from gaama_async.server import Fault, ReleaseServer

pytestmark = pytest.mark.anyio


def _model(folder: Path) -> dict[str, str]:
    """A small model: weights of a few MiB and a config; returns name -> sha256."""
    folder.mkdir()
    return {
        "weights.bin": write_random(folder / "weights.bin", 3 << 20, seed=1),
        "config.json": write_random(folder / "config.json", 300, seed=2),
    }


def _compat_client(server: ReleaseServer) -> CompatGaAMA:
    # gaama 0.7.2's positional order: username, password, owner, repository
    return CompatGaAMA(
        "octocat", TOKEN, "acme", "models",
        api_url=server.api_url, retry=FAST_RETRY, write_interval=0,
    )  # fmt: skip


async def test_a_gaama_072_script_round_trips(server: ReleaseServer, tmp_path: Path) -> None:
    digests = _model(tmp_path / "src")
    files = [str(tmp_path / "src" / name) for name in digests]

    async with _compat_client(server) as client:
        release = await client.publish("v1", files)
        paths = await client.download("v1", tmp_path / "out")

    assert {a.name for a in release.assets} == {*digests, "v1.zip", MANIFEST_NAME}
    # every file lands in `path` (0.7.2 wrote non-zip assets to the working directory)
    assert listing(tmp_path / "out") == sorted([*digests, "v1.zip"])
    assert {p.name for p in paths} == {*digests, "v1.zip"}
    assert {n: sha256_file(tmp_path / "out" / n) for n in digests} == digests
    assert listing(tmp_path / "src") == sorted(digests)  # the temporary bundle is gone


async def test_the_bundle_holds_the_files_under_their_names(
    server: ReleaseServer, tmp_path: Path
) -> None:
    digests = _model(tmp_path / "src")
    async with _compat_client(server) as client:
        await client.publish("v1", [tmp_path / "src" / n for n in digests], zip_files=True)
        await client.download("v1", tmp_path / "out", include="*.zip", extract_zips=False)

    with zipfile.ZipFile(tmp_path / "out" / "v1.zip") as bundle:
        assert sorted(bundle.namelist()) == sorted(digests)
        assert all(i.compress_type == zipfile.ZIP_STORED for i in bundle.infolist())
    assert listing(tmp_path / "out") == ["v1.zip"]


async def test_the_new_api_bundles_and_extracts_only_when_asked(
    client: GaAMA, tmp_path: Path
) -> None:
    digests = _model(tmp_path / "src")
    files = [tmp_path / "src" / n for n in digests]

    plain = await client.publish("plain", files)
    bundled = await client.publish(None, files, zip_files=True)
    paths = await client.download(bundled.tag, tmp_path / "out", extract_zips=True)

    assert {a.name for a in plain.assets} == {*digests, MANIFEST_NAME}
    # the bundle is named after the resolved date tag (0.7.2 wrote "None.zip")
    assert f"{bundled.tag}.zip" in {a.name for a in bundled.assets}
    assert {p.name for p in paths} == {*digests, f"{bundled.tag}.zip"}


async def test_positional_credentials_and_keywords_build_the_same_client(
    server: ReleaseServer, tmp_path: Path
) -> None:
    (tmp_path / "f").write_bytes(b"positional")
    async with (
        GaAMA("octocat", TOKEN, "acme", "models", api_url=server.api_url) as positional,
        GaAMA(username="octocat", password=TOKEN, owner="acme", repository="models",
              api_url=server.api_url) as keywords,
    ):  # fmt: skip
        assert positional.repo == keywords.repo == "acme/models"
        await positional.publish("v1", [tmp_path / "f"])
        assert {a.name for a in await keywords.list_assets("v1")} == {"f", MANIFEST_NAME}
    with pytest.raises(TypeError):
        GaAMA("octocat", TOKEN, "acme", "models", "https://example.invalid")  # type: ignore[misc]


async def test_a_failed_publish_leaves_no_temporary_bundle(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    digests = _model(tmp_path / "src")
    server.faults.add(Fault("status", route="upload", times=None, status=500))

    with pytest.raises(TransferError, match="failed after 4 tries"):
        await client.publish("v1", [tmp_path / "src" / n for n in digests], zip_files=True)

    assert listing(tmp_path / "src") == sorted(digests)
    assert server.counters.faults_injected["status"] >= 4  # the uploads hit the fault


async def test_a_file_named_like_the_bundle_is_refused_before_anything_is_sent(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    (tmp_path / "v1.zip").write_bytes(b"mine")

    with pytest.raises(PublishError, match=r"v1\.zip"):
        await client.publish("v1", [tmp_path / "v1.zip"], zip_files=True)

    assert listing(tmp_path) == ["github", "v1.zip"]
    assert server.counters.requests.get("upload", 0) == 0


async def test_the_bundle_folder_is_removed_when_the_caller_fails(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"a")
    with pytest.raises(RuntimeError):
        async with zip_bundle("v1", [tmp_path / "a.bin"]) as archive:
            assert archive.name == "v1.zip" and archive.exists()
            raise RuntimeError("upload failed")
    assert not archive.parent.exists()
    assert listing(tmp_path) == ["a.bin"]


def test_the_bundle_is_streamed_not_held_in_memory(tmp_path: Path) -> None:
    write_random(tmp_path / "big.bin", 32 << 20, seed=3)
    tracemalloc.start()
    try:
        write_bundle(tmp_path / "b.zip", [tmp_path / "big.bin"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 << 20
    with zipfile.ZipFile(tmp_path / "b.zip") as bundle:
        assert bundle.getinfo("big.bin").file_size == 32 << 20


def test_bundle_names_follow_the_tag_and_stay_file_names() -> None:
    assert bundle_name("v1.0") == "v1.0.zip"
    assert bundle_name("release/7") == "release-7.zip"


def test_the_compat_class_is_the_client_with_072_defaults() -> None:
    assert issubclass(CompatGaAMA, gaama_async.GaAMA)
