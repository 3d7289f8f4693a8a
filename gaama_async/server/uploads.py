"""The uploads origin: ``POST /repos/{o}/{r}/releases/{id}/assets?name=&label=``.

The body is streamed to a temp file under ``root`` while its SHA-256 is computed, never
held in memory; the asset appears only once every announced byte has arrived.
"""

from __future__ import annotations

import asyncio
import select
import time

from aiohttp import web

from .._names import normalize_asset_name
from .faults import Fault
from .immutable import refuse_upload
from .render import JSON, asset_json, http_date, validation_error
from .service import (
    CALLER,
    Caller,
    HttpError,
    Services,
    fault_of,
    json_response,
    named,
    not_found,
    repo_in_path,
    request_origins,
    services,
)
from .store import Asset, BlobWriter, Release, Repo

CHUNK = 256 * 1024
FORM_TYPE = "application/x-www-form-urlencoded"


def _invalid(entry: JSON) -> HttpError:
    return HttpError.github(422, "Validation Failed", errors=[entry])


def _content_length(request: web.Request) -> int:
    raw = request.headers.get("Content-Length")
    if raw is None or "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        # Body as observed in 2017: no documentation_url/status, just the request id.
        raise HttpError(400, {"message": f"Bad Content-Length: {raw or ''}"})
    try:
        return int(raw)
    except ValueError:
        raise HttpError(400, {"message": f"Bad Content-Length: {raw}"}) from None


def _content_type(request: web.Request) -> str:
    value = request.headers.get("Content-Type", "").strip()
    if not value:
        # Guess: the spec only says Content-Type is required.
        raise _invalid(validation_error("ReleaseAsset", "missing_field", "content_type"))
    if value.split(";")[0].strip().lower() == FORM_TYPE:
        raise _invalid(
            validation_error(
                "ReleaseAsset", "custom", "content_type", f"content_type can't be {FORM_TYPE}"
            )
        )
    return value


def _check_room(svc: Services, release: Release, name: str) -> None:
    """422 when the normalized name is taken (starters included) or the release is full."""
    assets = svc.store.assets(release)
    if any(a.name == name for a in assets):
        raise _invalid(validation_error("ReleaseAsset", "already_exists", "name"))
    if len(assets) >= svc.config.max_assets:
        raise _invalid(
            validation_error(
                "ReleaseAsset",
                "custom",
                "file_count",
                f"file_count limited to {svc.config.max_assets} assets",
            )
        )


def _check_size(svc: Services, length: int) -> None:
    if length == 0:
        raise _invalid(
            validation_error(
                "ReleaseAsset", "custom", "size", "size must be greater than or equal to 1"
            )
        )
    if length > svc.config.max_asset_size:
        # Guess: GitHub's status and wording for files of 2 GB or more are unverified.
        raise _invalid(
            validation_error(
                "ReleaseAsset",
                "custom",
                "size",
                f"size must be less than or equal to {svc.config.max_asset_size}",
            )
        )


async def _receive(request: web.Request, svc: Services, writer: BlobWriter, limit: int) -> None:
    """Stream up to ``limit`` body bytes into ``writer``."""
    while writer.size < limit:
        chunk = await request.content.read(min(CHUNK, limit - writer.size))
        if not chunk:
            break
        await writer.write(chunk)
        svc.counters.bytes_received += len(chunk)


async def _drain(request: web.Request, svc: Services) -> None:
    while chunk := await request.content.read(CHUNK):
        svc.counters.bytes_received += len(chunk)


def _starter(
    svc: Services, release: Release, name: str, label: str, ctype: str, login: str
) -> Asset:
    return svc.store.add_asset(
        release,
        name=name,
        label=label,
        content_type=ctype,
        state="starter",
        size=0,
        digest=None,
        uploader=login,
        blob=None,
    )


async def _faulted(
    request: web.Request, svc: Services, fault: Fault, release: Release, name: str, **meta: str
) -> web.StreamResponse:
    """Apply an upload fault: "starter" leaves a placeholder, "cut" hangs up mid-body."""
    if fault.action == "starter":
        await _drain(request, svc)
        _starter(svc, release, name, meta["label"], meta["content_type"], meta["login"])
        raise HttpError.github(fault.status, "Server Error")
    writer = BlobWriter(svc.store.new_temp_path())
    try:
        await _receive(request, svc, writer, fault.after_bytes)
    finally:
        writer.discard()
    if request.transport is not None:
        request.transport.abort()
    return web.Response(status=500)


async def _stalled(request: web.Request, svc: Services, fault: Fault) -> web.StreamResponse:
    """The "stall_upload" fault: stop reading after ``after_bytes`` and never answer.

    As an overloaded front end does: the client's writes stop completing once the socket
    buffers fill, and no status ever comes. The server hangs up when the client does, after
    ``delay`` seconds (0: never), or when it stops.
    """
    left = fault.after_bytes
    while left > 0 and (chunk := await request.content.read(min(CHUNK, left))):
        left -= len(chunk)
        svc.counters.bytes_received += len(chunk)
    transport = request.transport
    if transport is not None:
        transport.pause_reading()
        deadline = None if fault.delay <= 0 else time.monotonic() + fault.delay
        await _hold(transport, svc, deadline)
        transport.abort()
    return web.Response(status=500)  # never sent: the connection is gone


async def _hold(transport: asyncio.Transport, svc: Services, deadline: float | None) -> None:
    """Wait until the peer hangs up, the server stops, or ``deadline`` (monotonic) passes.

    Polls: a paused transport does not read, so asyncio never learns of the peer's FIN; a
    ``poll()`` for ``POLLRDHUP`` (Linux; elsewhere only errors and hang-ups) does.
    """
    sock = transport.get_extra_info("socket")
    poller = select.poll()
    poller.register(sock.fileno(), getattr(select, "POLLRDHUP", 0) | select.POLLHUP)
    while not svc.stopping and (deadline is None or time.monotonic() < deadline):
        if poller.poll(0) or transport.is_closing():
            return
        await asyncio.sleep(0.01)


@named("upload")
async def upload_asset(request: web.Request) -> web.StreamResponse:
    """Create an asset from the raw request body (spec 6.9)."""
    svc = services(request)
    repo: Repo = repo_in_path(request)
    release = svc.store.release(repo, int(request.match_info["release_id"]))
    caller: Caller = request[CALLER]
    if release is None or caller.login is None:
        raise not_found()
    refuse_upload(release)
    length = _content_length(request)
    content_type = _content_type(request)
    name = normalize_asset_name(request.query.get("name", ""))
    if not name:
        raise _invalid(validation_error("ReleaseAsset", "missing_field", "name"))
    label = request.query.get("label", "")
    _check_size(svc, length)
    _check_room(svc, release, name)
    fault = fault_of(request)
    if fault is not None and fault.action == "stall_upload":
        return await _stalled(request, svc, fault)
    if fault is not None and fault.action in ("starter", "cut"):
        return await _faulted(
            request, svc, fault, release, name,
            label=label, content_type=content_type, login=caller.login,
        )  # fmt: skip
    return await _store_upload(request, svc, repo, release, name, label, content_type, length)


async def _store_upload(
    request: web.Request,
    svc: Services,
    repo: Repo,
    release: Release,
    name: str,
    label: str,
    content_type: str,
    length: int,
) -> web.StreamResponse:
    writer = BlobWriter(svc.store.new_temp_path())
    try:
        await _receive(request, svc, writer, length)
        sha256 = await writer.close()
        if writer.size != length:
            raise HttpError(400, {"message": f"Bad Content-Length: {length}"})
        if svc.store.release(repo, release.id) is None:
            raise not_found()
        _check_room(svc, release, name)  # a parallel upload may have won the name meanwhile
        blob = svc.store.commit_blob(writer.path)
    finally:
        writer.discard()
    asset = svc.store.add_asset(
        release,
        name=name,
        label=label,
        content_type=content_type,
        state="uploaded",
        size=length,
        digest=f"sha256:{sha256}",
        uploader=request[CALLER].login,
        blob=blob,
    )
    svc.lag.wrote("asset", asset.id)
    data = asset_json(svc.store, request_origins(request), repo, asset)
    # As recorded: a weak ETag and Last-Modified, but no Location and no rate headers.
    headers = {"ETag": f'W/"{sha256}"', "Last-Modified": http_date(asset.updated_at)}
    return json_response(data, status=201, headers=headers)


def routes() -> list[web.RouteDef]:
    """The uploads origin's routes."""
    return [web.post("/repos/{owner}/{repo}/releases/{release_id:\\d+}/assets", upload_asset)]
