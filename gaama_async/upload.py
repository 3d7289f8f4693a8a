"""Streaming upload of one asset, with an exact Content-Length and a check of what was stored."""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from ._blocks import BlockDigests, BlockHasher, block_size_for
from ._files import CHUNK_SIZE, hash_file, open_for_reading, read_from
from ._http import GitHubHTTP
from ._names import normalize_asset_name
from ._responses import validation_codes
from ._retry import TransientError
from .errors import AssetConflictError, GaamaError, IntegrityError, PublishError
from .models import Asset, Release
from .progress import ProgressCallback, ProgressEvent

log = logging.getLogger("gaama_async")


@dataclass(frozen=True, slots=True)
class UploadSource:
    """What to upload: ``size`` bytes of a file from ``offset`` (streamed), or a small
    in-memory document. ``name`` is the name to send; GitHub may store it renamed."""

    name: str
    size: int
    path: Path | None = None
    data: bytes | None = None
    offset: int = 0
    #: The file a part belongs to (for progress), when this is one part of a split file.
    file: str | None = None

    @property
    def content_type(self) -> str:
        guessed, _ = mimetypes.guess_type(self.name)
        return guessed or "application/octet-stream"


@dataclass(frozen=True, slots=True)
class Sent:
    """What an upload sent: its sha256 (GitHub's ``digest`` must agree) and, for an asset
    larger than one block, the digest of each block (for the manifest)."""

    sha256: str
    blocks: BlockDigests | None


def _hasher_for(source: UploadSource) -> BlockHasher:
    return BlockHasher(block_size_for(source.size))


def _sent(hasher: BlockHasher) -> Sent:
    return Sent(hasher.hexdigest(), hasher.blocks())


class _HashingBody:
    """Makes a fresh streamed body per try, hashing the bytes as they are sent.

    The file is opened once, here, and closed on exit, whatever state aiohttp left the
    body generator in (a server may answer before it has read the whole body).
    """

    def __init__(self, source: UploadSource, progress: ProgressCallback | None) -> None:
        self.source = source
        self.progress = progress
        self.hasher = _hasher_for(source)
        self.sent = 0
        #: The most bytes any try has sent: growth is progress that renews the retry budget
        #: (bytes resent by a try that dies where the last one died are not).
        self.furthest = 0
        self._handle: Any = None

    async def __aenter__(self) -> _HashingBody:
        if self.source.path is not None:
            self._handle = await open_for_reading(self.source.path)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._handle is not None:
            with anyio.CancelScope(shield=True):  # close even when the upload is cancelled
                await self._handle.close()

    def __call__(self) -> AsyncIterator[bytes]:
        self.hasher = _hasher_for(self.source)
        self.sent = 0
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        if self._handle is not None:
            await self._handle.seek(self.source.offset)
            chunks = read_from(
                self._handle, self.source.size, hasher=self.hasher, chunk_size=CHUNK_SIZE
            )
        else:
            chunks = _memory_chunks(self.source.data or b"", self.hasher)
        async for chunk in chunks:
            self.sent += len(chunk)
            self.furthest = max(self.furthest, self.sent)
            if self.progress:
                self.progress(
                    ProgressEvent("advance", "upload", self.source.name, 0, len(chunk),
                                  self.source.file)
                )  # fmt: skip
            yield chunk


async def _memory_chunks(data: bytes, hasher: Any) -> AsyncIterator[bytes]:
    for start in range(0, len(data), CHUNK_SIZE):
        chunk = data[start : start + CHUNK_SIZE]
        hasher.update(chunk)
        yield chunk


async def upload_asset(
    http: GitHubHTTP,
    release: Release,
    source: UploadSource,
    *,
    stored_name: str | None = None,
    progress: ProgressCallback | None = None,
) -> tuple[Asset, Sent]:
    """Upload ``source`` to ``release``; return the stored asset and the digests sent.

    Retried through the client's one retry layer: before each new try a ``starter`` leftover
    of that name is deleted, and a try that finds the asset already uploaded with the right
    size and digest accepts it. A try that got further than any before it starts the budget
    afresh, so a long upload over a flaky link keeps going. Exhausted tries raise
    ``TransferError``; refusals (``AssetConflictError``, ``IntegrityError``, …) pass unchanged.
    """
    name = stored_name or normalize_asset_name(source.name)
    what = f"upload of '{source.name}' to release '{release.tag}'"
    http.trust(release.upload_base)
    if progress:
        progress(ProgressEvent("start", "upload", source.name, source.size, file=source.file))
    async with _HashingBody(source, progress) as body:
        attempt = _UploadAttempt(http, release, source, name, body, what)
        sent, asset = await http.retry.run(
            attempt,
            what=f"Uploading '{source.name}' to release '{release.tag}'",
            moved=lambda: body.furthest,
            advice="publish again",
        )
    if progress:
        progress(ProgressEvent("done", "upload", source.name, source.size, file=source.file))
    return asset, sent


class _UploadAttempt:
    """One try of an upload; every try after the first clears up after the one before.

    Its HTTP calls make one try each (a run nested in this one): ``RetryPolicy.run`` counts
    the tries.
    """

    def __init__(
        self,
        http: GitHubHTTP,
        release: Release,
        source: UploadSource,
        name: str,
        body: _HashingBody,
        what: str,
    ) -> None:
        self.http, self.release, self.source = http, release, source
        self.name, self.body, self.what = name, body, what
        self.sent_before = False  # a later try first looks for what the last one left

    async def __call__(self) -> tuple[Sent, Asset]:
        if self.sent_before:
            progress = self.body.progress
            if progress and self.body.sent:
                progress(
                    ProgressEvent("retry", "upload", self.source.name, 0, self.body.sent,
                                  self.source.file)
                )  # fmt: skip
            found = await _recover_after_failure(self.http, self.release, self.name)
            if found is not None:
                sent = await _source_digests(self.source)
                return sent, _verified(found, self.source, sent.sha256, self.what)
        self.sent_before = True
        stored = await _post(self.http, self.release, self.source, self.name, self.body,
                             self.what)  # fmt: skip
        sent = _sent(self.body.hasher)
        return sent, _verified(stored, self.source, sent.sha256, self.what)


async def _post(
    http: GitHubHTTP,
    release: Release,
    source: UploadSource,
    name: str,
    body: _HashingBody,
    what: str,
) -> Asset:
    headers = {"Content-Type": source.content_type, "Content-Length": str(source.size)}
    try:
        return await http.parsed(
            Asset.from_json,
            "POST",
            release.upload_base,
            what=what,
            params={"name": name},
            body=body,
            headers=headers,
        )
    except GaamaError as exc:
        if exc.status == 422:
            raise _upload_refused(exc, source, name, release) from exc
        raise


def _upload_refused(
    exc: GaamaError, source: UploadSource, name: str, release: Release
) -> GaamaError:
    if ("name", "already_exists") in validation_codes(exc.details):
        return AssetConflictError(
            f"Release '{release.tag}' already has an asset named '{name}' "
            f"(for '{source.name}'): pass overwrite=True to replace it.",
            status=422,
        )
    return PublishError(f"GitHub refused '{source.name}': {exc}", status=422)


async def _recover_after_failure(http: GitHubHTTP, release: Release, name: str) -> Asset | None:
    """After a failed try: return a complete asset of that name, or delete the leftover."""
    what = f"assets of '{release.tag}'"
    for asset in await http.paginate(f"{release.url}/assets", what=what, parse=Asset.from_json):
        if asset.name != name:
            continue
        if asset.is_uploaded:
            return asset
        log.info("deleting leftover %s asset '%s' before retrying", asset.state, name)
        await http.json("DELETE", asset.url, what=f"leftover asset '{name}'")
    return None


async def _source_digests(source: UploadSource) -> Sent:
    hasher = _hasher_for(source)
    if source.path is not None:
        await hash_file(source.path, hasher, offset=source.offset, length=source.size)
    else:
        hasher.update(source.data or b"")
    return _sent(hasher)


def _verified(asset: Asset, source: UploadSource, sha256: str, what: str) -> Asset:
    """Refuse an asset GitHub did not store completely and exactly."""
    if not asset.is_uploaded:
        raise TransientError(f"{what} left the asset in state '{asset.state}'")
    if asset.size != source.size:
        raise IntegrityError(
            f"GitHub stored {asset.size} bytes for '{source.name}' but {source.size} were sent; "
            "publish again.",
        )
    if asset.sha256 is not None and asset.sha256 != sha256:
        raise IntegrityError(
            f"GitHub's sha256 for '{source.name}' differs from the bytes sent; publish again."
        )
    return asset
