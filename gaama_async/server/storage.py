"""The signed-URL storage origin: where API downloads and browser URLs redirect to.

It behaves like Azure/S3 blob storage: no rate-limit headers, XML errors, a 400 for any
request that carries ``Authorization`` (clients must drop it on the redirect), 403 for
expired or tampered signatures, ranges, and ``application/octet-stream`` whatever the asset's
content type. Bytes go out with ``sendfile`` unless a fault or a bandwidth cap applies
(see ``bodies``). Storage faults that are decided here: ``missing`` (404 ``BlobNotFound``),
``redirect`` (one more 302, to a second signed URL), ``change`` (the blob is rewritten: new
ETag, see ``blobs``) and ``ignore_range`` (a Range request gets 200 and the whole body).
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote, urlencode

from aiohttp import web

from .bodies import send_blob
from .ranges import Unsatisfiable, plan
from .render import http_date
from .service import Services, fault_of, named, now, request_origins, services
from .store import Asset

STORAGE_PREFIX = "/github-production-release-asset"
# Guess: where a CDN hop lands is host-specific; another path on the same origin stands in.
HOP_PREFIX = "/edge"
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


def signed_url(
    svc: Services, storage_origin: str, repo_id: int, asset: Asset, *, hop: bool = False
) -> str:
    """A fresh storage URL for ``asset``, valid for ``config.signed_url_ttl`` seconds.

    ``hop``: the URL a ``redirect`` fault sends the client on to, on another path.
    """
    assert asset.blob is not None
    path = f"{HOP_PREFIX if hop else ''}{STORAGE_PREFIX}/{repo_id}/{asset.blob}"
    expiry = f"{now() + svc.config.signed_url_ttl:.3f}"
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
    return f"{storage_origin}{path}?{urlencode(query, quote_via=quote)}"


def xml_error(status: int, code: str, detail: str | None = None) -> web.Response:
    """An S3/Azure-style XML error answer; Azure repeats the code in ``x-ms-error-code``."""
    message = _XML_MESSAGES.get(code, code) if detail is None else detail
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return web.Response(
        status=status,
        body=body.encode(),
        content_type="application/xml",
        headers={"x-ms-error-code": code},
    )


def blob_etag(asset: Asset, generation: int = 0) -> str:
    """An Azure-style strong ETag, stable until the blob is written again (``generation``)."""
    written = f":{generation}" if generation else ""
    seed = f"{asset.id}:{asset.digest}:{asset.created_at}{written}".encode()
    return f'"0x8D{hashlib.sha256(seed).hexdigest()[:13].upper()}"'


def _check_signature(request: web.Request, svc: Services, prefix: str) -> web.Response | None:
    query = request.query
    expiry, disposition, sig = query.get("se", ""), query.get("rscd", ""), query.get("sig", "")
    # Signed over the path below the origin's mount point, which enterprise mode prefixes.
    path = f"{prefix}/{request.match_info['repo_id']}/{request.match_info['blob']}"
    expected = _signature(svc.secret, path, expiry, disposition)
    if not hmac.compare_digest(expected, sig):
        return xml_error(403, "AuthenticationFailed")
    fault = fault_of(request)
    try:
        expired = float(expiry) < now()
    except ValueError:
        expired = True
    if expired or (fault is not None and fault.action == "expire"):
        return xml_error(403, "AuthenticationFailed", _XML_MESSAGES["ExpiredSignature"])
    return None


async def _serve_signed(request: web.Request, prefix: str) -> web.StreamResponse:
    svc = services(request)
    if "Authorization" in request.headers and not svc.config.enterprise:
        return xml_error(400, "InvalidArgument")
    rejected = _check_signature(request, svc, prefix)
    if rejected is not None:
        return rejected
    asset = svc.store.asset_by_blob(request.match_info["blob"])
    fault = fault_of(request)
    if asset is None or asset.blob is None or (fault is not None and fault.action == "missing"):
        return xml_error(404, "BlobNotFound")
    if fault is not None and fault.action == "redirect":
        hop = signed_url(
            svc,
            request_origins(request).storage,
            int(request.match_info["repo_id"]),
            asset,
            hop=True,
        )
        return web.Response(status=302, headers={"Location": hop})
    return await serve_blob(request, svc, asset)


@named("storage")
async def storage_get(request: web.Request) -> web.StreamResponse:
    """Serve the bytes behind a signed URL.

    A token is refused as on github.com's blob hosts, except in enterprise mode: there storage
    shares the instance's origin, so clients rightly keep ``Authorization`` on the redirect.
    """
    return await _serve_signed(request, STORAGE_PREFIX)


@named("storage")
async def storage_hop_get(request: web.Request) -> web.StreamResponse:
    """The same blob behind the second signed URL of a ``redirect`` fault (a CDN hop).

    It is storage in every other way, faults included: a ``redirect`` fault that is not spent
    redirects again, so ``times=forever`` is a redirect loop.
    """
    return await _serve_signed(request, HOP_PREFIX + STORAGE_PREFIX)


async def serve_blob(request: web.Request, svc: Services, asset: Asset) -> web.StreamResponse:
    """Answer with the asset's bytes (or the requested range), applying body faults."""
    assert asset.blob is not None
    fault = fault_of(request)
    if fault is not None and fault.action == "change":
        svc.blob_versions.replace(asset.blob)
    version = svc.blob_versions.get(asset.blob)
    etag = blob_etag(asset, version.generation)
    # ignore_range: a proxy in between drops the Range header, so the store never sees it.
    ranged = fault is None or fault.action != "ignore_range"
    try:
        chosen = plan(
            request.headers.get("Range") if ranged else None,
            request.headers.get("If-Range"),
            etag,
            asset.size,
        )
    except Unsatisfiable:
        refusal = xml_error(416, "InvalidRange")
        refusal.headers["Content-Range"] = f"bytes */{asset.size}"
        return refusal
    headers = _blob_headers(asset, etag, version.modified or asset.created_at)
    if chosen.status == 206:
        headers["Content-Range"] = chosen.content_range(asset.size)
    response = web.StreamResponse(status=chosen.status, headers=headers)
    response.content_length = chosen.length
    await response.prepare(request)
    try:
        if request.method != "HEAD":
            path = svc.store.blob_path(asset.blob)
            await send_blob(request, response, path, chosen, fault, svc.config, svc.counters)
        await response.write_eof()
    except ConnectionError:
        pass  # the client went away (or a fault hung up): nothing left to say
    return response


def _blob_headers(asset: Asset, etag: str, modified: str) -> dict[str, str]:
    return {
        "Content-Type": "application/octet-stream",
        "Content-Disposition": f"attachment; filename={asset.name}",
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Last-Modified": http_date(modified),
        "Server": "Windows-Azure-Blob/1.0 Microsoft-HTTPAPI/2.0",
    }


def routes() -> list[web.RouteDef]:
    """The storage origin's routes: signed URLs, and the second hop of a redirect fault."""
    tail = "/{repo_id}/{blob}"
    return [
        web.get(STORAGE_PREFIX + tail, storage_get),
        web.get(HOP_PREFIX + STORAGE_PREFIX + tail, storage_hop_get),
    ]
