"""tarball_url and zipball_url: a 302 to an archive of the release's files, built on the fly."""

from __future__ import annotations

import hashlib
import io
import random
import tarfile
import zipfile
from typing import Any

import aiohttp
import pytest
from conftest import ANON, ServerFactory

from gaama_async.server import Fault, ReleaseServer

pytestmark = pytest.mark.anyio

WEIGHTS = random.Random(7).randbytes(300_000)
CONFIG = b'{"layers": 2}'


async def _release(gh: Any, tag: str = "v1") -> dict[str, Any]:
    release = await gh.create_release(tag)
    await gh.upload(release, "weights.bin", WEIGHTS)
    await gh.upload(release, "config.json", CONFIG, content_type="application/json")
    return release


async def _redirect(session: aiohttp.ClientSession, url: str) -> aiohttp.ClientResponse:
    async with session.get(url, allow_redirects=False) as response:
        await response.read()
        return response


async def _fetch(url: str) -> tuple[int, Any, bytes]:
    async with aiohttp.ClientSession(headers=ANON) as anon, anon.get(url) as response:
        return response.status, response.headers, await response.read()


async def _sha(gh: Any, tag: str) -> str:
    async with gh.session.get(f"{gh.repo_url}/git/ref/tags/{tag}") as response:
        sha: str = (await response.json())["object"]["sha"]
        return sha


def _digests(files: dict[str, bytes]) -> dict[str, str]:
    return {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}


async def test_tarball_url_redirects_to_a_tar_gz_of_the_release_files(gh: Any) -> None:
    release = await _release(gh)
    redirect = await _redirect(gh.session, release["tarball_url"])
    assert redirect.status == 302
    location = redirect.headers["Location"]
    assert location == f"{gh.server.web_url}/octo/models/legacy.tar.gz/refs/tags/v1"
    assert "X-RateLimit-Remaining" in redirect.headers
    status, headers, body = await _fetch(location)
    sha = await _sha(gh, "v1")
    top = f"octo-models-{sha[:7]}"
    assert status == 200 and headers["Content-Type"] == "application/x-gzip"
    assert headers["Content-Disposition"] == f"attachment; filename={top}.tar.gz"
    assert int(headers["Content-Length"]) == len(body)
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        assert tar.pax_headers["comment"] == sha
        members = tar.getmembers()
        assert members[0].name == top and members[0].isdir()
        files = {m.name: tar.extractfile(m).read() for m in members[1:]}
    assert _digests(files) == _digests(
        {f"{top}/weights.bin": WEIGHTS, f"{top}/config.json": CONFIG}
    )


async def test_zipball_url_redirects_to_a_zip_of_the_release_files(gh: Any) -> None:
    release = await _release(gh)
    redirect = await _redirect(gh.session, release["zipball_url"])
    assert redirect.status == 302
    status, headers, body = await _fetch(redirect.headers["Location"])
    sha = await _sha(gh, "v1")
    top = f"octo-models-{sha[:7]}"
    assert status == 200 and headers["Content-Type"] == "application/zip"
    assert headers["Content-Disposition"] == f"attachment; filename={top}.zip"
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.comment == sha.encode()
        assert archive.namelist()[0] == f"{top}/"
        files = {name: archive.read(name) for name in archive.namelist()[1:]}
    assert _digests(files) == _digests(
        {f"{top}/weights.bin": WEIGHTS, f"{top}/config.json": CONFIG}
    )


async def test_the_same_archive_is_reused_and_rebuilt_when_assets_change(gh: Any) -> None:
    release = await _release(gh)
    location = (await _redirect(gh.session, release["tarball_url"])).headers["Location"]
    first = await _fetch(location)
    archives = gh.server.config.root / "archives"
    [built] = archives.iterdir()
    stamp = built.stat()
    assert (await _fetch(location))[2] == first[2]
    again = built.stat()
    assert (again.st_ino, again.st_mtime_ns) == (stamp.st_ino, stamp.st_mtime_ns)
    await gh.upload(release, "extra.txt", b"more")
    with tarfile.open(fileobj=io.BytesIO((await _fetch(location))[2]), mode="r:gz") as tar:
        assert tar.getnames()[-1].endswith("/extra.txt")
    assert len(list(archives.iterdir())) == 2


async def test_unknown_tags_and_drafts_have_no_archive(gh: Any) -> None:
    draft = await gh.create_release("v9", draft=True)
    assert draft["tarball_url"] is None
    assert (await _redirect(gh.session, f"{gh.repo_url}/tarball/v9")).status == 404
    assert (await _redirect(gh.session, f"{gh.repo_url}/zipball/nope")).status == 404
    status, _, body = await _fetch(f"{gh.server.web_url}/octo/models/legacy.zip/refs/tags/v9")
    assert (status, body) == (404, b"404: Not Found")


async def test_a_release_over_the_size_limit_gets_a_404_archive(
    make_server: ServerFactory, make_gh: Any
) -> None:
    server = await make_server(max_archive_size=len(WEIGHTS))
    gh = make_gh(server)
    release = await _release(gh)
    redirect = await _redirect(gh.session, release["tarball_url"])
    assert redirect.status == 302
    assert (await _fetch(redirect.headers["Location"]))[0] == 404
    assert list((server.config.root / "archives").iterdir()) == []


async def test_a_deleted_release_leaves_an_archive_of_nothing_on_its_tag(gh: Any) -> None:
    release = await _release(gh)
    async with gh.session.delete(release["url"]) as response:
        assert response.status == 204
    location = (await _redirect(gh.session, f"{gh.repo_url}/tarball/v1")).headers["Location"]
    status, _, body = await _fetch(location)
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        assert status == 200 and len(tar.getnames()) == 1


async def test_private_archives_need_the_signed_token(
    make_server: ServerFactory, make_gh: Any
) -> None:
    server = await make_server(private=True)
    gh = make_gh(server)
    release = await _release(gh)
    async with aiohttp.ClientSession(headers=ANON) as anon:
        assert (await _redirect(anon, release["tarball_url"])).status == 404
    location = (await _redirect(gh.session, release["tarball_url"])).headers["Location"]
    assert "?token=" in location
    assert (await _fetch(location))[0] == 200
    assert (await _fetch(location.split("?")[0]))[0] == 404
    tampered = location[:-1] + ("0" if location[-1] != "0" else "1")
    assert (await _fetch(tampered))[0] == 404
    server.config.signed_url_ttl = -1.0
    expired = (await _redirect(gh.session, release["tarball_url"])).headers["Location"]
    assert (await _fetch(expired))[0] == 404


async def test_archives_in_the_enterprise_layout(make_server: ServerFactory, make_gh: Any) -> None:
    server = await make_server(enterprise=True)
    gh = make_gh(server)
    release = await _release(gh)
    location = (await _redirect(gh.session, release["zipball_url"])).headers["Location"]
    assert location == f"{server.web_url}/octo/models/legacy.zip/refs/tags/v1"
    status, _, body = await _fetch(location)
    assert status == 200 and zipfile.ZipFile(io.BytesIO(body)).testzip() is None


async def test_archive_routes_have_names_for_faults_and_counters(
    server: ReleaseServer, gh: Any
) -> None:
    release = await _release(gh)
    server.faults.add(Fault("status", route="web.archive", status=503))
    location = (await _redirect(gh.session, release["tarball_url"])).headers["Location"]
    assert (await _fetch(location))[0] == 503
    assert (await _fetch(location))[0] == 200
    assert server.counters.requests["api.archive"] == 1
    assert server.counters.requests["web.archive"] == 2
