"""The download workflow: which files a release holds, which are already here, fetching the
rest concurrently under one connection budget, and recording what was verified.

``GaAMA.download`` hands a ``DownloadRequest`` to ``download_release`` (or, offline, to
``download_offline``). The decisions are made by the pure planner (``_plan``); this module
sequences them around the I/O: the API (``_releases``), storage (``_storage``), the transfer
of one file (``download``), the folder record (``_record``) and the cache (``_cache``).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from anyio.abc import TaskGroup

from ._aliases import resolve_release
from ._archives import ArchiveLimits, extract_zip
from ._cache import CachedFile, ContentCache
from ._concurrency import both, first_error, run_all
from ._context import Context
from ._filenames import PRIVATE_FOLDER, UnsafeNameError, safe_filename
from ._files import file_lock, in_pool, is_dir, make_folder, stat_many, write_empty
from ._names import is_leftover
from ._plan import Patterns, plan_download, selected, selected_files
from ._record import FolderRecord
from ._releases import assets_to_download, inline_assets_complete
from ._removal import available_names, nothing_matches
from ._storage import StorageLink, manifest_asset, read_manifest, resolve_early, web_probed
from .download import download_file
from .errors import DownloadError
from .manifest import MANIFEST_NAME, Manifest
from .models import Asset, DownloadTarget, Release
from .progress import ProgressEvent, ProgressKind

_PART = re.compile(r"\.part\d+$")  # NAME.part001…: a split file's part (see _publisher)
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
# Files this large are recorded as soon as they are verified, sparing another process
# that waits for them the hashing.
LARGE_FILE = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class DownloadRequest:
    """What one ``download`` call asks for."""

    tag: str | None
    destination: Path
    include: Patterns = None
    exclude: Patterns = None
    extract_zips: bool = False
    archive_limits: ArchiveLimits = field(default_factory=ArchiveLimits)


@dataclass(frozen=True, slots=True)
class DownloadPlan:
    """What a download of one release does: the resolved ``tag``, the files to ``fetch``,
    those already ``present`` in the folder (verified), the ``empty`` files to recreate and
    the files ``refused`` (unsafe names, missing parts). Every path is a final path."""

    tag: str
    fetch: list[Path]
    present: list[Path]
    empty: list[Path]
    refused: list[str]


@dataclass(frozen=True, slots=True)
class _Selection:
    tag: str
    targets: list[DownloadTarget]  # every file of the release (for the cache's notes)
    empties: list[Path]
    chosen: list[DownloadTarget]
    chosen_empties: list[Path]
    refused: list[str]


async def _select(
    ctx: Context,
    request: DownloadRequest,
    open_record: Callable[[], Awaitable[FolderRecord | None]],
    found: Callable[[Release], None] = lambda _: None,
) -> tuple[_Selection, FolderRecord | None]:
    """The release's files and those ``request`` selects; the planning a dry run shares.
    The folder's record is opened once the release is found (an unknown tag leaves no
    folder behind); ``found`` hears of the release as soon as it is known."""
    release = await resolve_release(ctx, request.tag)
    found(release)
    record = await open_record()
    assets, manifest = await _assets_and_manifest(ctx, release, record)
    if record is not None:
        label_manifest(record, assets, ctx.repo.full_name, [release.tag, request.tag or ""])
    targets, empties, refused = plan_download(assets, manifest, request.destination)
    chosen = [t for t in targets if selected(t.names, request.include, request.exclude)]
    chosen_empties = [p for p in empties if selected((p.name,), request.include, request.exclude)]
    if not (chosen or chosen_empties) and (request.include or request.exclude):
        names = available_names(assets, manifest)
        raise nothing_matches(release.tag, request.include, names, request.exclude)
    selection = _Selection(release.tag, targets, empties, chosen, chosen_empties, refused)
    return selection, record


async def _assets_and_manifest(
    ctx: Context, release: Release, record: FolderRecord | None
) -> tuple[list[Asset], Manifest | None]:
    """Every asset of ``release`` and its manifest. With many assets the list is read again
    page by page (``assets_to_download``); the manifest its inline list names is read
    meanwhile, not one round trip after, and again only if the full list names another."""
    if inline_assets_complete(release):
        return list(release.assets), await read_manifest(ctx.http, release.assets, record)
    assets, manifest = await both(
        functools.partial(assets_to_download, ctx, release),
        functools.partial(read_manifest, ctx.http, release.assets, record),
    )
    if _identity(manifest_asset(assets)) != _identity(manifest_asset(release.assets)):
        manifest = await read_manifest(ctx.http, assets, record)
    return assets, manifest


def _identity(asset: Asset | None) -> tuple[int, str | None] | None:
    return None if asset is None else (asset.id, asset.digest)


async def plan_release_download(ctx: Context, request: DownloadRequest) -> DownloadPlan:
    """The dry run of ``download_release``: the same selection, and what is already in the
    folder; nothing is written."""

    async def existing_record() -> FolderRecord | None:
        if not await is_dir(request.destination / PRIVATE_FOLDER):
            return None  # never downloaded into: nothing present, and nothing to create
        found = FolderRecord(request.destination)
        await found.load()
        return found

    selection, record = await _select(ctx, request, existing_record)
    present = []
    if record is not None:
        present = await _FolderDownload(ctx, None, record)._present(selection.chosen)
    return DownloadPlan(
        selection.tag,
        [t.path for t in selection.chosen if t not in present],
        [t.path for t in present],
        selection.chosen_empties,
        selection.refused,
    )


async def download_release(
    ctx: Context, cache: ContentCache | None, request: DownloadRequest
) -> list[Path]:
    """Download the release ``request`` names; return every file now in place, sorted."""
    try:
        async with anyio.create_task_group() as group:
            ahead = _LinksAhead(ctx, cache, request, group)
            paths = await _download_release(ctx, cache, request, ahead)
            group.cancel_scope.cancel()  # every transfer has taken its link by now
    except BaseExceptionGroup as failures:
        error = first_error(failures)
        raise error from error.__cause__  # the group is no news; the cause may be
    return paths


async def _download_release(
    ctx: Context, cache: ContentCache | None, request: DownloadRequest, ahead: _LinksAhead
) -> list[Path]:
    async def open_record() -> FolderRecord:
        await make_folder(request.destination)
        found = FolderRecord(request.destination)
        await found.load()
        return found

    selection, opened = await _select(ctx, request, open_record, ahead.start)
    assert opened is not None
    record = opened
    targets, empties, refused = selection.targets, selection.empties, selection.refused
    if cache is not None:
        await _remember_release(ctx, cache, request.tag, targets, empties)
    job = _FolderDownload(ctx, cache, record, ahead.group)
    paths = await job.run(selection.chosen, selection.chosen_empties)
    if refused:
        raise DownloadError(
            f"Could not download {len(refused)} file(s): {', '.join(refused)}; "
            "the other files were downloaded."
        )
    if request.extract_zips:
        digests = {t.path: t.sha256 for t in targets} | dict.fromkeys(empties, EMPTY_SHA256)
        verified = {p.name: digests.get(p) for p in paths}
        paths += await _extract_archives(paths, request, protected=verified)
    return sorted(set(paths))


class _LinksAhead:
    """Storage links resolved as soon as the release is known, while its manifest is read
    and the download planned (issue 11: "the manifest and every asset's URL resolved
    concurrently"): the first transfers then start a round trip earlier.

    Only links that will surely be used: no include or exclude patterns; for an asset with
    a safe name that is not a part of a split file, whose final path holds nothing yet and
    whose digest the cache does not hold (a private repository pays an API call per link).
    At most twice the connections, the files the transfers take first. The links are held
    until the download ends, so the transfers' own links share their resolution. While it
    is not known yet whether the web host serves the repository, they wait for whoever asks
    first (the manifest's link): a guess must not put the download's first need behind it."""

    def __init__(
        self, ctx: Context, cache: ContentCache | None, request: DownloadRequest, group: TaskGroup
    ) -> None:
        self.ctx, self.cache, self.request, self.group = ctx, cache, request, group
        self.held: list[StorageLink] = []

    def start(self, release: Release) -> None:
        if self.request.include is None and self.request.exclude is None:
            self.group.start_soon(self._resolve, release)

    async def _resolve(self, release: Release) -> None:
        try:
            wanted = await self._surely_fetched(list(release.assets))
        except OSError:  # the destination cannot be looked at: the download says why
            return
        links = [
            StorageLink(self.ctx.http, a) for a in wanted[: 2 * self.ctx.limits.max_concurrency]
        ]
        self.held += links
        if links:  # the manifest's link (or the first transfer's) learns it first
            await web_probed(links[0])
        for link in links:
            self.group.start_soon(resolve_early, link)

    async def _surely_fetched(self, assets: list[Asset]) -> list[Asset]:
        candidates = [
            (asset, final)
            for asset in assets
            if (final := _plain_final(asset, self.request.destination)) is not None
        ]
        finals = await stat_many([final for _, final in candidates])
        missing = [asset for (asset, _), st in zip(candidates, finals, strict=True) if not st]
        if self.cache is None:
            return missing
        known = [(asset, asset.sha256) for asset in missing if asset.sha256 is not None]
        entries = await stat_many([self.cache.entry(digest) for _, digest in known])
        return [asset for (asset, _), st in zip(known, entries, strict=True) if st is None]


def _plain_final(asset: Asset, destination: Path) -> Path | None:
    """Where a whole-file asset lands; None for the manifest, a part of a split file, an
    unfinished upload or leftover, or an unsafe name (none of them surely fetched as is)."""
    if asset.name == MANIFEST_NAME or not asset.is_uploaded or is_leftover(asset):
        return None
    if _PART.search(asset.name):
        return None
    try:
        return destination / safe_filename(asset.name)
    except UnsafeNameError:
        return None


def label_manifest(record: FolderRecord, assets: list[Asset], repo: str, tags: list[str]) -> None:
    """Tell the record which release its manifest copy is of (``verify --offline``)."""
    manifest = manifest_asset(assets)
    if manifest is not None:
        record.label_manifest(manifest, repo, [t for t in tags if t])


class _FolderDownload:
    """The files of one download call into one folder, with its record."""

    def __init__(
        self,
        ctx: Context,
        cache: ContentCache | None,
        record: FolderRecord,
        early: TaskGroup | None = None,
    ) -> None:
        """``early``: the download's task group, where links are resolved ahead of their
        transfers (one group for all: a group per file took ~6% of the event loop's time
        in a py-spy profile of 500 small files)."""
        self.ctx = ctx
        self.cache = cache
        self.record = record
        self.early = early
        self._early: set[Path] = set()  # files whose links are resolved ahead (see run)

    async def run(self, targets: list[DownloadTarget], empties: list[Path]) -> list[Path]:
        present = await self._present(targets)
        missing = [t for t in targets if t not in present]
        self._early = await self._cache_cannot_hold(missing)
        # Files in progress: twice the connections, so the next files' storage URLs are
        # resolved (and their locks taken) while earlier files still download. This also
        # bounds the API (or web host) requests resolving links at once: 32 by default.
        in_progress = anyio.CapacityLimiter(2 * self.ctx.limits.max_concurrency)
        paths = [await write_empty(p) for p in empties] + [t.path for t in present]
        for target in present:
            _tell(self.ctx, "present", target)
        try:
            paths += await self._fetch_all(missing, in_progress)
        finally:
            with anyio.CancelScope(shield=True):
                await self.record.save()
        if self.cache is not None:
            await self.cache.settle()  # one eviction pass for the whole download
        return paths

    async def _fetch_all(
        self, missing: list[DownloadTarget], in_progress: anyio.CapacityLimiter
    ) -> list[Path]:
        """Every missing file, ``in_progress`` at a time."""
        return await run_all([self._job(t) for t in missing], in_progress)

    async def _present(self, targets: list[DownloadTarget]) -> list[DownloadTarget]:
        """The targets already in the folder, by record (no hashing) or else by hash."""
        stats = await stat_many([t.path for t in targets])
        return [
            target
            for target, stat in zip(targets, stats, strict=True)
            if await self.record.is_present(
                target.path, target.size, target.sha256, target.pieces, stat=stat
            )
        ]

    def _job(self, target: DownloadTarget) -> Callable[[], Awaitable[Path]]:
        async def run() -> Path:
            # The link is resolved while the file's lock is taken and checked (and, for a
            # ranged file, its resume record read): its round trip is off the path to the
            # first byte. ``link`` lives until the transfer ends: the transfer's own link
            # of the same asset shares its resolution (``StorageLink``).
            link = self._early_link(target)
            if link is not None and self.early is not None:
                self.early.start_soon(resolve_early, link)
            path = await self._locked_fetch(target)
            del link  # held until here on purpose
            return path

        return run

    async def _cache_cannot_hold(self, targets: list[DownloadTarget]) -> set[Path]:
        """The targets the cache surely cannot place, by final path: no digest, or no entry
        for it (one ``stat`` trip for all). The others may come from the cache."""
        if self.cache is None:
            return {t.path for t in targets}
        cache = self.cache
        known = [t for t in targets if t.sha256 is not None]
        stats = await stat_many([cache.entry(t.sha256) for t in known if t.sha256 is not None])
        held = {t.path for t, stat in zip(known, stats, strict=True) if stat is not None}
        return {t.path for t in targets} - held

    def _early_link(self, target: DownloadTarget) -> StorageLink | None:
        """A link to resolve ahead of ``target``'s transfer; None when the cache may place
        the file (a resolution would then spend a private repository's API call for
        nothing)."""
        if target.path not in self._early:
            return None
        return StorageLink(self.ctx.http, target.pieces[0])

    async def _locked_fetch(self, target: DownloadTarget) -> Path:
        lock = file_lock(target.path)
        async with lock:
            if lock.found is not None and await self._fetched_meanwhile(target, lock.found):
                return target.path
            await self._fetch(target)
        if target.size < LARGE_FILE:  # noted as the last trip of its lock found it
            self.record.note_found(target.path, lock.left, target.sha256, target.pieces)
        return target.path

    async def _fetch(self, target: DownloadTarget) -> None:
        """Place ``target`` from the cache or download it. A large file is noted and the
        record saved before its lock is released, sparing another process that waits for
        the lock the hashing."""
        if await self._from_cache(target):
            _tell(self.ctx, "cached", target)
        else:
            ctx = self.ctx
            await download_file(
                ctx.http,
                target,
                limiter=ctx.limiter,
                part_size=ctx.limits.part_size,
                progress=ctx.progress,
            )
            if self.cache is not None and target.sha256 is not None:
                # Before the note: in link mode adding makes the file read-only (a new ctime).
                await self.cache.add(target.path, target.sha256, hashed=not target.piece_blocks)
        if target.size >= LARGE_FILE:
            await self.record.note(target.path, target.sha256, target.pieces)
            await self.record.save()

    async def _from_cache(self, target: DownloadTarget) -> bool:
        if self.cache is None or target.sha256 is None:
            return False
        return await self.cache.place(target.sha256, target.size, target.path)

    async def _fetched_meanwhile(self, target: DownloadTarget, found: os.stat_result) -> bool:
        """Whether another process finished ``target`` (``found`` there once its lock was
        ours) while we waited for the lock."""
        await self.record.refresh()
        return await self.record.is_present(
            target.path, target.size, target.sha256, target.pieces, stat=found
        )


def _tell(ctx: Context, kind: ProgressKind, target: DownloadTarget) -> None:
    """Report a file that needed no transfer (already here, or placed from the cache)."""
    if ctx.progress is not None:
        ctx.progress(ProgressEvent(kind, "download", target.label, target.size))


async def _remember_release(
    ctx: Context,
    cache: ContentCache,
    tag: str | None,
    targets: Sequence[DownloadTarget],
    empties: Sequence[Path],
) -> None:
    """Note what the release holds, so an offline run knows what to place from the cache."""
    files = [CachedFile(t.path.name, t.size, t.sha256) for t in targets if t.sha256]
    files += [CachedFile(p.name, 0, EMPTY_SHA256) for p in empties]
    await cache.remember_release(ctx.repo.api_url, ctx.repo.full_name, tag, files)


async def _extract_archives(
    paths: list[Path], request: DownloadRequest, *, protected: dict[str, str | None]
) -> list[Path]:
    """Unpack the ``.zip`` files among ``paths``; a member never replaces a file just
    verified (``protected``) or gaama's private folder."""
    extracted: list[Path] = []
    for archive in [p for p in paths if p.suffix.lower() == ".zip"]:
        extracted += await in_pool(
            functools.partial(
                extract_zip, archive, request.destination, request.archive_limits,
                protected=protected,
            )
        )  # fmt: skip
    return extracted


async def download_offline(
    ctx: Context, cache: ContentCache | None, request: DownloadRequest
) -> list[Path]:
    """Serve a download from the cache alone; say exactly what is missing."""
    tag, repo = request.tag, ctx.repo
    what = f"release '{tag or 'latest'}' of {repo.full_name}"
    known = await cache.release(repo.api_url, repo.full_name, tag) if cache else None
    if cache is None or known is None:
        raise DownloadError(
            f"Offline (GAAMA_OFFLINE=1) and the cache has never seen {what}: "
            "download it once online with the cache on."
        )
    await make_folder(request.destination)
    paths, missing = [], []
    chosen = selected_files(known, request.include, request.exclude)
    if not chosen and (request.include or request.exclude):
        names = [f.name for f in known]
        raise nothing_matches(tag or "latest", request.include, names, request.exclude)
    for file in chosen:
        final = request.destination / safe_filename(file.name)
        if file.size == 0:
            paths.append(await write_empty(final))
        elif await cache.place(file.sha256, file.size, final):
            paths.append(final)
            if ctx.progress is not None:
                ctx.progress(ProgressEvent("cached", "download", file.name, file.size))
        else:
            missing.append(file.name)
    if missing:
        raise DownloadError(
            f"Offline (GAAMA_OFFLINE=1): {len(missing)} file(s) of {what} are not in the "
            f"cache ({', '.join(missing)}); download them once online."
        )
    return sorted(paths)


def offline_from_env(offline: bool | None) -> bool:
    """``offline=`` when given, else ``GAAMA_OFFLINE`` (any value but off/0/false/no/none)."""
    if offline is not None:
        return offline
    value = os.environ.get("GAAMA_OFFLINE", "").strip().lower()
    return value not in ("", "off", "0", "false", "no", "none")
