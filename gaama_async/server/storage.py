"""The signed-URL storage origin: where API downloads and browser URLs redirect to.

It behaves like Azure/S3 blob storage: no rate-limit headers, XML errors, a 400 for any
request that carries ``Authorization`` (clients must drop it on the redirect), 403 for
expired or tampered signatures, ranges, and ``application/octet-stream`` whatever the asset's
content type. Bytes go out with ``sendfile`` unless a fault or a bandwidth cap applies.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from pathlib import Path
from urllib.parse import quote, urlencode

from aiohttp import web

from .config import ServerConfig
from .counters import Counters
from .faults import Fault
from .ranges import Plan, Unsatisfiable, plan
from .render import http_date
from .service import Services, fault_of, named, services
from .store import Asset

CHUNK = 256 * 1024
STORAGE_PREFIX = "/github-production-release-asset"
_XML_MESSAGES = {
    "InvalidArgument": (
        "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature"
        " query string parameter or the Authorization header should be specified"
    ),
    "AuthenticationFailed": (
        "Server failed to authenticate the request. Make sure the value of Authorization header"
        " is formed correctly including the signature."
    ),
    "ExpiredSignature": "Signature not valid in the specified time frame",
    "BlobNotFound": "The specified blob does not exist.",
    "InvalidRange": "The range specified is invalid for the current size of the resource.",
    "ServerBusy": "The server is busy.",
}


def _signature(secret: bytes, path: str, expiry: str, disposition: str) -> str:
    message = f"{path}\n{expiry}\n{disposition}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def signed_url(svc: Services, repo_id: int, asset: Asset) -> str:
    """A fresh storage URL for ``asset``, valid for ``config.signed_url_ttl`` seconds."""
    assert asset.blob is not None
    path = f"{STORAGE_PREFIX}/{repo_id}/{asset.blob}"
    expiry = f"{time.time() + svc.config.signed_url_ttl:.3f}"
    disposition = f"attachment; filename={asset.name}"
    query = {
        "sp": "r",
        "sv": "2018-11-09",
        "sr": "b",
        "se": expiry,
        "rscd": disposition,
        "rsct": "application/octet-stream",
        "sig": _signature(svc.secret, path, expiry, disposition),
    }
    return f"{svc.origins.storage}{path}?{urlencode(query, quote_via=quote)}"


def xml_error(status: int, code: str, detail: str | None = None) -> web.Response:
    """An S3/Azure-style XML error answer."""
    message = _XML_MESSAGES.get(code, code) if detail is None else detail
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return web.Response(status=status, body=body.encode(), content_type="application/xml")


def blob_etag(asset: Asset) -> str:
    """An Azure-style strong ETag, stable as long as the asset's content is the same."""
    seed = f"{asset.id}:{asset.digest}:{asset.created_at}".encode()
    return f'"0x8D{hashlib.sha256(seed).hexdigest()[:13].upper()}"'


def _check_signature(request: web.Request, svc: Services) -> web.Response | None:
    query = request.query
    expiry, disposition, sig = query.get("se", ""), query.get("rscd", ""), query.get("sig", "")
    # Signed over the path below the origin's mount point, which enterprise mode prefixes.
    path = f"{STORAGE_PREFIX}/{request.match_info['repo_id']}/{request.match_info['blob']}"
    expected = _signature(svc.secret, path, expiry, disposition)
    if not hmac.compare_digest(expected, sig):
        return xml_error(403, "AuthenticationFailed")
    fault = fault_of(request)
    try:
        expired = float(expiry) < time.time()
    except ValueError:
        expired = True
    if expired or (fault is not None and fault.action == "expire"):
        return xml_error(403, "AuthenticationFailed", _XML_MESSAGES["ExpiredSignature"])
    return None


@named("storage")
async def storage_get(request: web.Request) -> web.StreamResponse:
    """Serve the bytes behind a signed URL.

    A token is refused as on github.com's blob hosts, except in enterprise mode: there storage
    shares the instance's origin, so clients rightly keep ``Authorization`` on the redirect.
    """
    svc = services(request)
    if "Authorization" in request.headers and not svc.config.enterprise:
        return xml_error(400, "InvalidArgument")
    rejected = _check_signature(request, svc)
    if rejected is not None:
        return rejected
    asset = svc.store.asset_by_blob(request.match_info["blob"])
    if asset is None or asset.blob is None:
        return xml_error(404, "BlobNotFound")
    return await serve_blob(request, svc, asset)


async def serve_blob(request: web.Request, svc: Services, asset: Asset) -> web.StreamResponse:
    """Answer with the asset's bytes (or the requested range), applying body faults."""
    assert asset.blob is not None
    path = svc.store.blob_path(asset.blob)
    etag = blob_etag(asset)
    headers = {
        "Content-Type": "application/octet-stream",
        "Content-Disposition": f"attachment; filename={asset.name}",
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Last-Modified": http_date(asset.created_at),
        "Server": "Windows-Azure-Blob/1.0 Microsoft-HTTPAPI/2.0",
    }
    try:
        chosen = plan(
            request.headers.get("Range"), request.headers.get("If-Range"), etag, asset.size
        )
    except Unsatisfiable:
        refusal = xml_error(416, "InvalidRange")
        refusal.headers["Content-Range"] = f"bytes */{asset.size}"
        return refusal
    if chosen.status == 206:
        headers["Content-Range"] = chosen.content_range(asset.size)
    response = web.StreamResponse(status=chosen.status, headers=headers)
    response.content_length = chosen.length
    await response.prepare(request)
    try:
        if request.method != "HEAD":
            await _send(request, response, path, chosen, fault_of(request), svc)
        await response.write_eof()
    except ConnectionError:
        pass  # the client went away (or a "cut" fault hung up): nothing left to say
    return response


async def _send(
    request: web.Request,
    response: web.StreamResponse,
    path: Path,
    chosen: Plan,
    fault: Fault | None,
    svc: Services,
) -> None:
    shaping = fault is not None and fault.action in ("cut", "corrupt", "stall")
    if not shaping and svc.config.bandwidth is None and request.transport is not None:
        with path.open("rb") as blob:
            await asyncio.get_running_loop().sendfile(
                request.transport, blob, chosen.start, chosen.length
            )
        svc.counters.bytes_sent += chosen.length
        return
    await _stream(request, response, path, chosen, fault, svc.config, svc.counters)


async def _stream(
    request: web.Request,
    response: web.StreamResponse,
    path: Path,
    chosen: Plan,
    fault: Fault | None,
    config: ServerConfig,
    counters: Counters,
) -> None:
    """Chunked sending with pacing and body faults; offsets are relative to the body sent."""
    sent = 0
    started = time.monotonic()
    with path.open("rb") as blob:
        blob.seek(chosen.start)
        while sent < chosen.length:
            size = min(_chunk_size(config.bandwidth), chosen.length - sent)
            if fault is not None and fault.action in ("cut", "stall") and sent < fault.after_bytes:
                size = min(size, fault.after_bytes - sent)
            chunk = blob.read(size)
            if not chunk:
                break
            if fault is not None and fault.action == "corrupt":
                chunk = _flip(chunk, fault.after_bytes - sent)
            await _pace(config.bandwidth, sent + len(chunk), started)
            await response.write(chunk)
            sent += len(chunk)
            counters.bytes_sent += len(chunk)
            if fault is not None and sent == fault.after_bytes:
                if fault.action == "cut":
                    await _flushed(request)
                    _abort(request)
                    return
                if fault.action == "stall":
                    await asyncio.sleep(fault.delay)


def _chunk_size(bandwidth: float | None) -> int:
    """Whole chunks without a cap; about 20 per second under one, so pacing stays smooth."""
    if bandwidth is None or bandwidth <= 0:
        return CHUNK
    return max(1024, min(CHUNK, int(bandwidth / 20)))


def _flip(chunk: bytes, offset: int) -> bytes:
    if not 0 <= offset < len(chunk):
        return chunk
    data = bytearray(chunk)
    data[offset] ^= 0xFF
    return bytes(data)


async def _pace(bandwidth: float | None, sent: int, started: float) -> None:
    """Sleep until ``sent`` bytes since ``started`` fit under ``bandwidth`` bytes/s."""
    if bandwidth is None or bandwidth <= 0:
        return
    ahead = sent / bandwidth - (time.monotonic() - started)
    if ahead > 0:
        await asyncio.sleep(ahead)


async def _flushed(request: web.Request, *, limit: float = 1.0) -> None:
    """Wait (briefly) until the bytes written so far have left, so a cut lands where asked.

    Polls the transport's buffer: aiohttp deprecates ``StreamResponse.drain``.
    """
    transport = request.transport
    for _ in range(int(limit * 1000)):  # the transport offers no event for "buffer empty"
        if transport is None or transport.is_closing() or not transport.get_write_buffer_size():
            return
        await asyncio.sleep(0.001)


def _abort(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()


def routes() -> list[web.RouteDef]:
    """The storage origin's routes."""
    return [web.get(STORAGE_PREFIX + "/{repo_id}/{blob}", storage_get)]
