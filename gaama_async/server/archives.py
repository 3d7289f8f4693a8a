"""Source archives: the ``tarball_url`` and ``zipball_url`` of a release.

The API answers ``GET /repos/{o}/{r}/tarball/{tag}`` (and ``zipball``) with a 302 to the
archive host, as GitHub sends clients to ``codeload.github.com/{o}/{r}/legacy.tar.gz/
refs/tags/{tag}``; the web origin stands in for codeload, on the same path (a guess at
where a local codeload lives). The emulator has no source tree, so the archive holds the
published release's uploaded assets under one top directory, ``OWNER-REPO-SHORTSHA/``, as
GitHub's archives put the tree under such a directory.

Archives are built on first request into ``root/archives`` (from the blobs on disk, in a
worker thread, never whole in memory), reused while the release's assets stay the same, and
sent with ``sendfile``. Releases whose assets add up to more than ``config.max_archive_size``
get codeload's plain-text 404 instead: building a many-GiB archive on demand would stall the
server, and clients of this emulator download assets, not archives. Private servers sign
the redirect with a ``token`` valid ``config.signed_url_ttl`` seconds, as GitHub's links for
private repositories expire after five minutes.
"""

from __future__ import annotations

import calendar
import gzip
import hashlib
import hmac
import os
import tarfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import anyio.to_thread
from aiohttp import web

from .bodies import send_blob
from .ranges import Plan
from .render import http_date
from .service import (
    Services,
    fault_of,
    named,
    not_found,
    now,
    repo_in_path,
    request_origins,
    services,
)
from .store import Asset, Repo

_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Format:
    """One archive format: the API path word, codeload's path word, extension and type."""

    api: str
    codeload: str
    extension: str
    content_type: str


TARBALL = Format("tarball", "legacy.tar.gz", "tar.gz", "application/x-gzip")
ZIPBALL = Format("zipball", "legacy.zip", "zip", "application/zip")
FORMATS = {f.codeload: f for f in (TARBALL, ZIPBALL)}


def top_directory(repo: Repo, sha: str) -> str:
    """The archive's one top directory, ``OWNER-REPO-SHORTSHA``, as in GitHub's archives."""
    return f"{repo.owner}-{repo.name}-{sha[:7]}"


def archive_filename(repo: Repo, sha: str, fmt: Format) -> str:
    """The ``Content-Disposition`` file name (guess: the top directory's name; codeload
    may name tag archives ``OWNER-REPO-TAG-0-gSHORTSHA`` instead)."""
    return f"{top_directory(repo, sha)}.{fmt.extension}"


def archive_key(repo: Repo, sha: str, assets: list[Asset], fmt: Format) -> str:
    """A cache name that changes whenever the archive's content would."""
    seed = "\n".join(f"{a.id}:{a.name}:{a.size}:{a.blob}" for a in assets)
    digest = hashlib.sha256(f"{repo.owner}/{repo.name}:{sha}\n{seed}".encode()).hexdigest()
    return f"{repo.id}-{digest[:32]}.{fmt.extension}"


def _token(svc: Services, path: str, expiry: int) -> str:
    signature = hmac.new(svc.secret, f"{path}\n{expiry}".encode(), hashlib.sha256).hexdigest()
    return f"{expiry}-{signature}"


def _token_valid(svc: Services, path: str, token: str) -> bool:
    expiry, _, _ = token.partition("-")
    if not expiry.isdigit() or int(expiry) < now():
        return False
    return hmac.compare_digest(_token(svc, path, int(expiry)), token)


def _codeload_path(repo: Repo, fmt: Format, tag: str) -> str:
    return f"/{repo.owner}/{repo.name}/{fmt.codeload}/refs/tags/{quote(tag, safe='/')}"


def _published_assets(svc: Services, repo: Repo, tag: str) -> list[Asset]:
    release = svc.store.published_by_tag(repo, tag)
    if release is None:
        return []  # a tag whose release was deleted: an archive of nothing
    return [a for a in svc.store.assets(release) if a.state == "uploaded" and a.blob]


async def _archive(request: web.Request, fmt: Format) -> web.StreamResponse:
    svc = services(request)
    repo = repo_in_path(request)
    tag = request.match_info["ref"].removeprefix("refs/tags/")
    if svc.store.tag_sha(repo, tag) is None:
        raise not_found()  # no branches or commits here, only tags
    location = request_origins(request).web + _codeload_path(repo, fmt, tag)
    if svc.config.private:
        expiry = int(now() + svc.config.signed_url_ttl)
        location += f"?token={_token(svc, _codeload_path(repo, fmt, tag), expiry)}"
    # As the API's asset redirect: an empty body typed text/html (a guess for archives).
    return web.Response(
        status=302, headers={"Location": location, "Content-Type": "text/html;charset=utf-8"}
    )


@named("api.archive")
async def tarball(request: web.Request) -> web.StreamResponse:
    """GET .../tarball/{tag}: 302 to the tag's ``.tar.gz`` on the archive host."""
    return await _archive(request, TARBALL)


@named("api.archive")
async def zipball(request: web.Request) -> web.StreamResponse:
    """GET .../zipball/{tag}: 302 to the tag's ``.zip`` on the archive host."""
    return await _archive(request, ZIPBALL)


def _write_tar(path: Path, top: str, sha: str, files: list[tuple[str, Path]], mtime: int) -> None:
    with (
        path.open("wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=mtime) as packed,
        # git archive records the commit in a pax global header; so do we.
        tarfile.open(
            fileobj=packed, mode="w", format=tarfile.PAX_FORMAT, pax_headers={"comment": sha}
        ) as tar,
    ):
        directory = tarfile.TarInfo(f"{top}/")
        directory.type, directory.mode, directory.mtime = tarfile.DIRTYPE, 0o775, mtime
        tar.addfile(directory)
        for name, source in files:
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size, info.mode, info.mtime = source.stat().st_size, 0o664, mtime
            with source.open("rb") as data:
                tar.addfile(info, data)


def _write_zip(path: Path, top: str, sha: str, files: list[tuple[str, Path]], mtime: int) -> None:
    stamp = _zip_time(mtime)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.comment = sha.encode()  # git archive's zip comment is the commit
        archive.writestr(zipfile.ZipInfo(f"{top}/", stamp), b"")
        for name, source in files:
            info = zipfile.ZipInfo(f"{top}/{name}", stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            with source.open("rb") as data, archive.open(info, "w") as target:
                while chunk := data.read(_CHUNK):
                    target.write(chunk)


def _zip_time(mtime: int) -> tuple[int, int, int, int, int, int]:
    t = time.gmtime(max(mtime, 315532800))  # zip dates start in 1980
    return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)


@dataclass(frozen=True)
class Contents:
    """What goes into one archive: files (name, path on disk) under ``top``, dated ``mtime``."""

    fmt: Format
    top: str
    sha: str
    files: list[tuple[str, Path]]
    mtime: int


def build_archive(target: Path, temp: Path, contents: Contents) -> None:
    """Write the archive to ``temp``, then rename it to ``target`` (readers never see half)."""
    writer = _write_tar if contents.fmt is TARBALL else _write_zip
    try:
        writer(temp, contents.top, contents.sha, contents.files, contents.mtime)
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


@named("web.archive")
async def codeload(request: web.Request) -> web.StreamResponse:
    """The archive host: the built archive as an attachment, or a plain 404."""
    svc = services(request)
    match = request.match_info
    fmt = FORMATS[match["format"]]
    repo = svc.store.find_repo(match["owner"], match["repo"])
    tag = match["tag"]
    sha = svc.store.tag_sha(repo, tag) if repo else None
    if repo is None or sha is None:
        raise web.HTTPNotFound()
    if svc.config.private and not _token_valid(
        svc, _codeload_path(repo, fmt, tag), request.query.get("token", "")
    ):
        raise web.HTTPNotFound()
    assets = _published_assets(svc, repo, tag)
    if sum(a.size for a in assets) > svc.config.max_archive_size:
        raise web.HTTPNotFound()
    key = archive_key(repo, sha, assets, fmt)
    path, size = await _cached(svc, key, repo, sha, assets, fmt)
    return await _send(request, svc, (path, size), key, archive_filename(repo, sha, fmt), fmt)


async def _cached(
    svc: Services, key: str, repo: Repo, sha: str, assets: list[Asset], fmt: Format
) -> tuple[Path, int]:
    """The archive's cache file and size, built first (in a worker thread) if missing."""
    target = svc.store.archives_dir / key
    contents = Contents(
        fmt,
        top_directory(repo, sha),
        sha,
        [(a.name, svc.store.blob_path(a.blob or "")) for a in assets],
        _epoch(svc.config.commit_date),
    )
    temp = svc.store.new_temp_path()

    def ensure() -> int:
        if not target.exists():
            build_archive(target, temp, contents)
        return target.stat().st_size

    return target, await anyio.to_thread.run_sync(ensure)


def _epoch(timestamp: str) -> int:
    return calendar.timegm(time.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ"))


async def _send(
    request: web.Request,
    svc: Services,
    built: tuple[Path, int],
    key: str,
    filename: str,
    fmt: Format,
) -> web.StreamResponse:
    path, size = built
    etag = f'W/"{hashlib.sha256(key.encode()).hexdigest()[:40]}"'  # guess at codeload's
    headers = {
        "Content-Type": fmt.content_type,
        "Content-Disposition": f"attachment; filename={filename}",
        "ETag": etag,
        "Last-Modified": http_date(svc.config.commit_date),
    }
    response = web.StreamResponse(status=200, headers=headers)
    response.content_length = size
    await response.prepare(request)
    try:
        if request.method != "HEAD":
            chosen = Plan(200, 0, size)
            await send_blob(
                request, response, path, chosen, fault_of(request), svc.config, svc.counters
            )
        await response.write_eof()
    except ConnectionError:
        pass  # the client went away
    return response


def api_routes() -> list[web.RouteDef]:
    """The API origin's archive links."""
    repo = "/repos/{owner}/{repo}"
    return [
        web.get(f"{repo}/tarball/{{ref:.+}}", tarball),
        web.get(f"{repo}/zipball/{{ref:.+}}", zipball),
    ]


def web_routes() -> list[web.RouteDef]:
    """The archive host's route, on the web origin."""
    formats = "|".join(name.replace(".", "\\.") for name in FORMATS)
    return [web.get(f"/{{owner}}/{{repo}}/{{format:{formats}}}/refs/tags/{{tag:.+}}", codeload)]
