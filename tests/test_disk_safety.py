"""The disk is the user's: nothing outside the destination changes, no planted link is ever
followed, gaama keeps one private hidden folder there, and writes are durable."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import anyio
import pytest
from helpers import FAST_RETRY, REPO, TOKEN, listing, sha256_file, write_random

from gaama_async import DownloadError, GaAMA, NotFoundError
from gaama_async._filenames import UnsafeNameError, name_problem, safe_filename, windows_problem
from gaama_async._files import DiskFullError, UnsafeFolderError, file_lock, make_folder
from gaama_async.manifest import MANIFEST_NAME
from gaama_async.server import ReleaseServer

MIB = 1 << 20


def _private(folder: Path) -> list[str]:
    return sorted(os.listdir(folder / ".gaama"))


def _outside(tmp_path: Path) -> Path:
    """A file outside every destination, that no download may change."""
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    return victim


def _ranged(server: ReleaseServer, part_size: int = 1 * MIB) -> GaAMA:
    """A client whose files over ``part_size`` go the ranged, resumable way."""
    return GaAMA(
        repo=REPO, token=TOKEN, api_url=server.api_url, retry=FAST_RETRY, write_interval=0,
        part_size=part_size,
    )  # fmt: skip


async def _publish(client: GaAMA, tmp_path: Path, sizes: dict[str, int]) -> dict[str, str]:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    digests = {n: write_random(src / n, s, seed=len(n)) for n, s in sizes.items()}
    await client.publish("v1", [src / n for n in sizes])
    return digests


# -- links planted in the destination ------------------------------------------------------


@pytest.mark.anyio
async def test_links_planted_at_final_and_old_partial_paths_are_replaced_not_followed(
    server: ReleaseServer, tmp_path: Path
) -> None:
    victim = _outside(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    for planted in ("s.txt", "w.bin", ".w.bin.gaama-partial", ".w.bin.gaama-partial.json"):
        (out / planted).symlink_to(victim)
    async with _ranged(server) as client:
        digests = await _publish(client, tmp_path, {"w.bin": 3 * MIB, "s.txt": 5000})

        await client.download("v1", out)

    assert victim.read_bytes() == b"precious"
    assert {n: sha256_file(out / n) for n in digests} == digests
    assert not any((out / n).is_symlink() for n in digests)
    assert listing(out) == ["s.txt", "w.bin"]  # the old-layout links are gone too


@pytest.mark.anyio
async def test_a_link_to_the_right_bytes_is_not_taken_for_a_present_file(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    digests = await _publish(client, tmp_path, {"m.bin": 20_000})
    out = tmp_path / "out"
    out.mkdir()
    (out / "m.bin").symlink_to(tmp_path / "src" / "m.bin")  # right size, right sha256
    server.counters.reset()

    await client.download("v1", out)

    assert server.counters.requests["storage"] == 2  # the manifest and m.bin itself
    assert not (out / "m.bin").is_symlink() and sha256_file(out / "m.bin") == digests["m.bin"]


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["link", "file", "shared"])
async def test_a_private_folder_that_is_not_ours_is_refused(
    client: GaAMA, tmp_path: Path, kind: str
) -> None:
    await _publish(client, tmp_path, {"m.bin": 1000})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    if kind == "link":
        (out / ".gaama").symlink_to(elsewhere)
    elif kind == "file":
        (out / ".gaama").write_bytes(b"not a folder")
    else:
        (out / ".gaama").mkdir(mode=0o777)
        os.chmod(out / ".gaama", 0o777)  # writable by anyone: links could be planted in it

    with pytest.raises(UnsafeFolderError, match=r"\.gaama"):
        await client.download("v1", out)

    assert os.listdir(elsewhere) == []
    assert listing(out) == []


@pytest.mark.anyio
async def test_a_download_leaves_one_private_folder_holding_only_the_record(
    server: ReleaseServer, tmp_path: Path
) -> None:
    out, empty = tmp_path / "out", tmp_path / "empty"
    async with _ranged(server) as client:
        await _publish(client, tmp_path, {"big.bin": 3 * MIB, "a.txt": 100, "b.txt": 2 * MIB})

        await client.download("v1", out)
        with pytest.raises(NotFoundError):  # a selection matching nothing is an error
            await client.download("v1", empty, include="nothing-matches")

    assert sorted(os.listdir(out)) == [".gaama", "a.txt", "b.txt", "big.bin"]
    assert _private(out) == ["record.json"]  # no partials, no states, no lock files
    assert (out / ".gaama").stat().st_mode & 0o777 == 0o700
    assert os.listdir(empty) in ([], [".gaama"])  # and nothing else was left there


@pytest.mark.anyio
async def test_old_layout_leftovers_are_removed_and_never_followed(
    client: GaAMA, tmp_path: Path
) -> None:
    digests = await _publish(client, tmp_path, {"m.bin": 1000})
    victim = _outside(tmp_path)
    out = tmp_path / "out"
    (out / ".gaama-locks").mkdir(parents=True)
    (out / ".gaama-locks" / "m.bin.lock").write_bytes(b"")
    (out / ".gaama-downloads.json").symlink_to(victim)

    await client.download("v1", out)

    assert victim.read_bytes() == b"precious"
    assert sorted(os.listdir(out)) == [".gaama", "m.bin"]
    assert sha256_file(out / "m.bin") == digests["m.bin"]


@pytest.mark.anyio
async def test_what_a_killed_run_left_a_day_ago_is_removed_and_a_young_leftover_kept(
    client: GaAMA, tmp_path: Path
) -> None:
    await _publish(client, tmp_path, {"m.bin": 1000})
    out = tmp_path / "out"
    private = out / ".gaama"
    private.mkdir(parents=True, mode=0o700)
    (private / "f-x.bin.1234abcd.tmp").write_bytes(b"old half file")
    (private / "x-0123456789ab").mkdir()
    (private / "x-0123456789ab" / "0").write_bytes(b"old scratch")
    (private / "f-y.bin.5678abcd.tmp").write_bytes(b"another run's, still going")
    two_days_ago = time.time() - 2 * 86400
    for old in ("f-x.bin.1234abcd.tmp", "x-0123456789ab"):
        os.utime(private / old, (two_days_ago, two_days_ago))

    await client.download("v1", out)

    assert _private(out) == ["f-y.bin.5678abcd.tmp", "record.json"]


# -- locks, folders ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_file_lock_excludes_others_and_leaves_nothing_behind(tmp_path: Path) -> None:
    final = tmp_path / "w.bin"
    holder, other = file_lock(final), file_lock(final)
    async with holder:
        assert other._try() == -1  # the non-blocking attempt another process would make
        assert _private(tmp_path) == ["f-w.bin.lock"]
    with anyio.fail_after(5):
        async with other:
            pass
    assert _private(tmp_path) == []


@pytest.mark.anyio
async def test_make_folder_names_the_file_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "models").write_bytes(b"a file")
    await make_folder(tmp_path / "new" / "deep")
    assert (tmp_path / "new" / "deep").is_dir()
    with pytest.raises(DownloadError, match=r"'.*models' is a file"):
        await make_folder(tmp_path / "models" / "v1")


# -- names --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["CON", "nul.txt", "COM1", "lpt9.bin", "Aux.tar.gz", "a.", "a ", "a:b", "C:evil", "x?y"]
)
def test_windows_only_names_are_refused_on_windows_alone(name: str) -> None:
    assert windows_problem(name) is not None
    assert name_problem(name, windows=False) is None
    assert safe_filename(name, platform="linux") == name
    with pytest.raises(UnsafeNameError, match="Windows"):
        safe_filename(name, platform="win32")


@pytest.mark.parametrize("name", ["console.txt", "COM10", "nul-model.bin", "con_fig.json"])
def test_names_that_only_look_reserved_are_fine_everywhere(name: str) -> None:
    assert safe_filename(name, platform="win32") == safe_filename(name, platform="linux") == name


def test_names_that_are_not_unicode_are_refused() -> None:
    local = os.fsdecode(b"caf\xe9.bin")  # a local name whose bytes are not UTF-8
    assert local == "caf\udce9.bin"
    for name in (local, "\udcff", "a\ud800b"):
        with pytest.raises(UnsafeNameError, match="not valid Unicode"):
            safe_filename(name)
    assert safe_filename("café ñame.json") == "café ñame.json"
    with pytest.raises(UnsafeNameError, match="private folder"):
        safe_filename(".GAAMA")


@pytest.mark.anyio
async def test_a_lone_surrogate_from_the_server_is_refused(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    await _publish(client, tmp_path, {"good.bin": 10, "bad.bin": 20})
    document = json.loads(await _manifest_of(client))
    [entry] = [e for e in document["files"] if e["name"] == "bad.bin"]
    entry["name"] = "bad\udcff.bin"
    hostile = json.dumps(document).encode()  # JSON may carry a lone surrogate, escaped
    assert b"\\udcff" in hostile
    await _replace_manifest(client, server, hostile)
    out = tmp_path / "out"

    with pytest.raises(DownloadError, match="unsafe"):
        await client.download("v1", out)

    assert listing(out) == ["good.bin"]
    assert sha256_file(out / "good.bin") == sha256_file(tmp_path / "src" / "good.bin")


async def _manifest_of(client: GaAMA) -> bytes:
    [manifest] = [a for a in await client.list_assets("v1") if a.name == MANIFEST_NAME]
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        answer = await http.get(manifest.url, headers={"Accept": "application/octet-stream"})
        return await answer.read()


async def _replace_manifest(client: GaAMA, server: ReleaseServer, raw: bytes) -> None:
    assets = {a.name: a for a in await client.list_assets("v1")}
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        await http.delete(assets[MANIFEST_NAME].url)
        release = await (
            await http.get(f"{server.api_url}/repos/acme/models/releases/tags/v1")
        ).json()
        await http.post(
            release["upload_url"].split("{")[0], params={"name": MANIFEST_NAME}, data=raw,
            headers={"Content-Type": "application/json"},
        )  # fmt: skip


# -- a full disk --------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs, mounted for the test (we run as root in CI; skipped where we cannot)."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
        capture_output=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


@pytest.mark.anyio
@pytest.mark.parametrize("part_size", [8 * MIB, 1 * MIB], ids=["streamed", "ranged"])
async def test_a_full_disk_is_one_clear_error_and_leaves_no_partial_file(
    server: ReleaseServer, tmp_path: Path, small_disk: Path, part_size: int
) -> None:
    async with _ranged(server, part_size) as client:
        await _publish(client, tmp_path, {"fits.txt": 1000, "huge.bin": 3 * MIB})
        server.counters.reset()

        with pytest.raises(DiskFullError, match=r"free space in '.*small' \([\d,]+ bytes free\)"):
            await client.download("v1", small_disk)

    assert "huge.bin" not in listing(small_disk)
    assert [n for n in _private(small_disk) if n != "record.json"] == []
    if part_size == 8 * MIB:  # streamed: it was fetched, and its bytes did not fit
        assert server.counters.requests["storage"] >= 2


# -- durable writes -----------------------------------------------------------------------------

_TRACED = """
import anyio, sys
from pathlib import Path
from gaama_async._files import write_file_atomically
durable = sys.argv[2] == "1"
anyio.run(lambda: write_file_atomically(Path(sys.argv[1]), b"x" * 1000, durable=durable))
"""


_CALLS = "fsync,fdatasync,rename,renameat,renameat2"


def _traced(final: Path, durable: bool) -> list[str]:
    """The fsync and rename system calls of one write, in order, from strace."""
    log = final.with_name("trace.log")
    flag = "1" if durable else "0"
    script = textwrap.dedent(_TRACED)
    strace = ["strace", "-f", "-qq", "-o", str(log), "-e", f"trace={_CALLS}"]
    subprocess.run([*strace, sys.executable, "-c", script, str(final), flag], check=True,
                   capture_output=True)  # fmt: skip
    calls = [line.split(None, 1)[1] for line in log.read_text().splitlines() if " " in line]
    return [c.split("(")[0] for c in calls if not c.startswith(("---", "+++"))]


def test_a_durable_write_fsyncs_the_file_before_the_rename_and_the_folder_after(
    tmp_path: Path,
) -> None:
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    try:
        durable = _traced(tmp_path / "d.bin", durable=True)
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"cannot trace here: {exc.stderr.decode().strip()[:200]}")
    relaxed = _traced(tmp_path / "r.bin", durable=False)

    assert durable == ["fsync", "renameat", "fsync"], durable
    assert relaxed == ["renameat"], relaxed
    assert (tmp_path / "d.bin").read_bytes() == b"x" * 1000
