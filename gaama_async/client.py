"""GaAMA: the asyncio client. Configuration, one HTTP session, and the public entry points.

Publishing and downloading are orchestrated here; the bytes move in ``upload`` and
``download``, the HTTP rules live in ``_http``.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import quote

import anyio

from . import _publishing
from ._archives import ArchiveLimits, extract_zip
from ._cache import OFF, CachedFile, ContentCache, default_cache_dir
from ._concurrency import run_all
from ._config import Limits, RepoRef
from ._context import Context
from ._drafts import DEFAULT_LEASE
from ._files import file_lock, in_pool, safe_filename, stat_many, write_empty
from ._http import GitHubHTTP, auth_header
from ._plan import names_of, plan_download, selected, selected_files
from ._ratelimit import AdaptiveConcurrency
from ._record import FolderRecord
from ._retry import RetryPolicy
from ._storage import read_manifest
from .download import DownloadTarget, download_file
from .errors import DownloadError
from .manifest import Manifest
from .models import Asset, Release
from .progress import ProgressCallback

log = logging.getLogger("gaama_async")

DEFAULT_API_URL = "https://api.github.com"
# Ranges this size keep per-request overhead (one round trip each) near 3% on a CDN-like
# link of 25 MiB/s per connection, while the hash of the written prefix stays close behind.
DEFAULT_PART_SIZE = 16 * 1024 * 1024
# Measured (benchmarks/, CDN-like profile, 500 small assets): 16 connections overlap the API
# and storage round trips well enough to match aria2c -j16; 8 fell about 20% short. GitHub
# allows 100 concurrent requests, and a secondary limit halves this anyway.
DEFAULT_CONCURRENCY = 16
# GitHub refuses assets of "2 GB" or more, and whether that is 10**9 or 2**30 based is
# unverified: stay under both. Larger files are published as parts.
DEFAULT_MAX_ASSET_SIZE = 2 * 10**9 - 2**20
LARGE_FILE = 64 * 1024 * 1024
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def _default_tag() -> str:
    """gaama 0.7.2 tagged releases with today's date."""
    return dt.date.today().strftime("%Y.%m.%d")


def _split_repo(repo: str | None, owner: str | None, repository: str | None) -> tuple[str, str]:
    if repo:
        owner_part, sep, name_part = repo.partition("/")
        if not sep or not owner_part or not name_part or "/" in name_part:
            raise ValueError(f"repo must look like 'owner/name', got {repo!r}")
        return owner_part, name_part
    if owner and repository:
        return owner, repository
    env = os.environ.get("GITHUB_REPOSITORY")
    if env:
        return _split_repo(env, None, None)
    raise ValueError("name the repository: GaAMA(repo='owner/name') or owner= and repository=")


@dataclass(frozen=True, slots=True)
class DownloadSpec:
    """One release for ``GaAMA.download_many``: which (``repo`` defaults to the client's),
    where to, and which files."""

    tag: str | None = None
    path: str | os.PathLike[str] = "."
    repo: str | None = None
    include: str | Sequence[str] | None = None
    exclude: str | Sequence[str] | None = None
    extract_zips: bool | None = None


class GaAMA:
    """An async client for one GitHub repository's releases.

    Use it as ``async with GaAMA(repo="owner/name") as client:``, or call ``aclose()``.
    The token comes from ``token=``, else ``GITHUB_TOKEN``, else ``GH_TOKEN``; code written
    for gaama 0.7.2 may pass ``username=`` and ``password=`` (a token) instead. Those four
    parameters also accept 0.7.2's positional order, ``GaAMA(username, password, owner,
    repository)``, so its constructor calls run unchanged; everything else is keyword-only.
    """

    #: ``publish`` also publishes a ``{tag}.zip`` bundle when ``zip_files`` is not given.
    zip_files_by_default = False
    #: ``download`` also unpacks ``.zip`` assets when ``extract_zips`` is not given.
    extract_zips_by_default = False

    def __init__(
        self,
        username: str | None = None,
        password: str | None = None,
        owner: str | None = None,
        repository: str | None = None,
        *,
        repo: str | None = None,
        token: str | None = None,
        api_url: str | None = None,
        max_concurrency: int = DEFAULT_CONCURRENCY,
        part_size: int = DEFAULT_PART_SIZE,
        max_asset_size: int = DEFAULT_MAX_ASSET_SIZE,
        max_rate_limit_wait: float = 900.0,
        secondary_rate_limit_wait: float = 60.0,
        write_interval: float = 1.0,
        retry: RetryPolicy | None = None,
        connect_timeout: float = 30.0,
        read_timeout: float = 120.0,
        progress: ProgressCallback | None = None,
        cache_dir: str | os.PathLike[str] | Literal[False] | None = None,
        offline: bool | None = None,
    ) -> None:
        self.owner, self.repository = _split_repo(repo, owner, repository)
        root = default_cache_dir() if cache_dir is None else cache_dir or None
        self.cache = ContentCache(Path(root)) if root else None
        if offline is None:
            offline = os.environ.get("GAAMA_OFFLINE", "").strip().lower() not in ("", *OFF)
        self.offline = offline
        if token is None and not (username and password):
            token = os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN") or None
        self.api_url = (
            api_url
            or os.environ.get("GAAMA_API_URL")
            or os.environ.get("GITHUB_API_URL")
            or DEFAULT_API_URL
        ).rstrip("/")
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if part_size < 1:
            raise ValueError("part_size must be positive")
        self.max_concurrency = max_concurrency
        self.archive_limits = ArchiveLimits()
        self.part_size = part_size
        if max_asset_size < 1:
            raise ValueError("max_asset_size must be positive")
        self.max_asset_size = max_asset_size
        self.progress = progress
        self._concurrency = AdaptiveConcurrency(max_concurrency)
        self._limiter = self._concurrency.limiter
        self._http = GitHubHTTP(
            api_url=self.api_url,
            authorization=auth_header(token, username, password),
            retry=retry or RetryPolicy(),
            max_rate_limit_wait=max_rate_limit_wait,
            secondary_wait=secondary_rate_limit_wait,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            concurrency=self._concurrency,
            write_interval=write_interval,
        )

    def __repr__(self) -> str:
        return f"GaAMA(repo='{self.repo}', api_url='{self.api_url}')"

    @property
    def repo(self) -> str:
        """``owner/name``."""
        return f"{self.owner}/{self.repository}"

    @property
    def _repo_url(self) -> str:
        owner, name = quote(self.owner, safe=""), quote(self.repository, safe="")
        return f"{self.api_url}/repos/{owner}/{name}"

    async def __aenter__(self) -> GaAMA:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP session."""
        await self._http.aclose()

    # -- reading ---------------------------------------------------------------------------

    async def get_release(self, tag: str | None = None) -> Release:
        """The published release for ``tag``, or the latest release when ``tag`` is None."""
        if tag is None:
            url, what = f"{self._repo_url}/releases/latest", f"latest release of {self.repo}"
        else:
            url = f"{self._repo_url}/releases/tags/{quote(tag, safe='')}"
            what = f"release '{tag}' of {self.repo}"
        return Release.from_json(await self._http.json("GET", url, what=what))

    async def list_assets(self, tag: str | None = None) -> list[Asset]:
        """Every asset of the release for ``tag`` (latest when None), across all pages."""
        return await self._assets_of(await self.get_release(tag))

    async def _assets_of(self, release: Release) -> list[Asset]:
        items = await self._http.paginate(
            f"{release.url}/assets", what=f"assets of release '{release.tag}'"
        )
        return [Asset.from_json(item) for item in items]

    # -- removing --------------------------------------------------------------------------

    async def delete_assets(
        self,
        tag: str,
        include: str | Sequence[str],
        *,
        exclude: str | Sequence[str] | None = None,
        dry_run: bool = False,
    ) -> list[str]:
        """Delete the files matching ``include`` (globs, as in ``download``) from ``tag``.

        The manifest is rewritten first, so a file is never listed without its assets; a
        split file goes with all its parts. Returns the deleted asset names (with
        ``dry_run=True``, the names that would be deleted, and nothing changes).
        """
        ctx = self._context()
        return await _publishing.delete_assets(ctx, tag, include, exclude=exclude, dry_run=dry_run)

    async def delete_release(self, tag: str) -> Release:
        """Delete the published release ``tag`` and its assets (the git tag stays)."""
        return await _publishing.delete_release(self._context(), tag)

    async def _read_manifest(
        self, assets: Sequence[Asset], record: FolderRecord | None = None
    ) -> Manifest | None:
        return await read_manifest(self._http, assets, record)

    # -- publishing ------------------------------------------------------------------------

    async def publish(
        self,
        tag: str | None = None,
        files: Iterable[str | os.PathLike[str]] = (),
        *,
        name: str | None = None,
        body: str | None = None,
        draft: bool = False,
        prerelease: bool = False,
        overwrite: bool = False,
        zip_files: bool | None = None,
        draft_lease: float = DEFAULT_LEASE,
    ) -> Release:
        """Upload ``files`` as assets of the release ``tag`` (default: today, ``YYYY.MM.DD``).

        A new release is built as a draft and published only once every asset is uploaded
        and verified; on failure or cancellation the draft is deleted. Files added to an
        existing published release are skipped when identical; a different file of the same
        stored name raises ``AssetConflictError`` unless ``overwrite=True``.

        Several processes may publish one tag at once: one release results. A publisher that
        finds the tag published by another meanwhile returns that release when it holds the
        same files, and raises ``AssetConflictError`` otherwise; either way it leaves no
        draft. A draft left by a killed publisher is removed by the next publish of the tag:
        at once on the same machine, elsewhere once unrenewed for ``draft_lease`` seconds
        (on GitHub's clock). A draft kept with ``draft=True`` is never removed.

        ``zip_files=True`` also publishes a ``{tag}.zip`` bundle of the files, as gaama
        0.7.2 did, for readers still on 0.7.2 (they unpack it into their ``path``). It is
        off by default here, unlike 0.7.2, because it doubles storage and upload time for
        no gain to gaama_async readers; ``gaama_async.compat.GaAMA`` keeps 0.7.2's default.
        """
        spec = _publishing.ReleaseSpec(tag or _default_tag(), name, body, draft, prerelease)
        bundle = self.zip_files_by_default if zip_files is None else zip_files
        return await _publishing.publish(
            self._context(), spec, files, overwrite=overwrite, zip_files=bundle, lease=draft_lease
        )

    def _context(self) -> Context:
        """Transitional: what the workflows share (the lead's facade replaces this)."""
        return Context(
            http=self._http,
            repo=RepoRef(self.owner, self.repository, self.api_url),
            limits=Limits(self.max_concurrency, self.part_size, self.max_asset_size),
            limiter=self._limiter,
            progress=self.progress,
        )

    # -- downloading -----------------------------------------------------------------------

    async def download_many(self, specs: Iterable[DownloadSpec]) -> list[list[Path]]:
        """Download several releases at once, of this repository or others.

        All of them share this client's connections (one budget), session, rate-limit gate
        and cache, so a service fetching its models at start-up keeps the pipe full without
        overloading it. Returns each spec's files, in the order of ``specs``.
        """

        def job(spec: DownloadSpec) -> Any:
            view = self if spec.repo in (None, self.repo) else self._for_repo(spec.repo or "")
            return lambda: view.download(
                spec.tag,
                spec.path,
                include=spec.include,
                exclude=spec.exclude,
                extract_zips=spec.extract_zips,
            )

        return await run_all([job(spec) for spec in specs])

    def _for_repo(self, repo: str) -> GaAMA:
        """This client, pointed at another repository (same session, limiter and gate)."""
        view = copy.copy(self)
        view.owner, view.repository = _split_repo(repo, None, None)
        return view

    async def _from_cache(self, target: DownloadTarget) -> bool:
        if self.cache is None or target.sha256 is None:
            return False
        return await self.cache.place(target.sha256, target.size, target.path)

    async def _remember_release(
        self, tag: str | None, targets: list[DownloadTarget], empties: list[Path]
    ) -> None:
        """Note what the release holds, so an offline run knows what to link from the cache."""
        if self.cache is None:
            return
        files = [CachedFile(t.path.name, t.size, t.sha256) for t in targets if t.sha256]
        files += [CachedFile(p.name, 0, EMPTY_SHA256) for p in empties]
        await self.cache.remember_release(self.api_url, self.repo, tag, files)

    async def _download_offline(
        self,
        tag: str | None,
        destination: Path,
        include: str | Sequence[str] | None,
        exclude: str | Sequence[str] | None,
    ) -> list[Path]:
        """Serve a download from the cache alone; say exactly what is missing."""
        what = f"release '{tag or 'latest'}' of {self.repo}"
        known = await self.cache.release(self.api_url, self.repo, tag) if self.cache else None
        if known is None:
            raise DownloadError(
                f"Offline (GAAMA_OFFLINE=1) and the cache has never seen {what}: "
                "download it once online with the cache on."
            )
        await anyio.Path(destination).mkdir(parents=True, exist_ok=True)
        paths, missing = [], []
        for file in selected_files(known, include, exclude):
            final = destination / safe_filename(file.name)
            if file.size == 0:
                paths.append(await write_empty(final))
            elif self.cache is not None and await self.cache.place(file.sha256, file.size, final):
                paths.append(final)
            else:
                missing.append(file.name)
        if missing:
            raise DownloadError(
                f"Offline (GAAMA_OFFLINE=1): {len(missing)} file(s) of {what} are not in the "
                f"cache ({', '.join(missing)}); download them once online."
            )
        return sorted(paths)

    async def download(
        self,
        tag: str | None = None,
        path: str | os.PathLike[str] = ".",
        *,
        include: str | Sequence[str] | None = None,
        exclude: str | Sequence[str] | None = None,
        extract_zips: bool | None = None,
    ) -> list[Path]:
        """Download the assets of ``tag`` (latest when None) into ``path``, verified.

        ``include``/``exclude`` are glob patterns matched against file and asset names. Each
        file appears at its final path only once complete and checked against its sha256.
        With ``extract_zips``, ``.zip`` assets are also unpacked into ``path``, refusing
        members that would land outside it, links, and archives that expand without bound.
        A file already in the cache (by sha256) is linked into place, not downloaded; with
        ``offline`` (or ``GAAMA_OFFLINE=1``) nothing is asked of GitHub at all.
        """
        if self.offline:
            return await self._download_offline(tag, Path(path), include, exclude)
        release = await self.get_release(tag)
        assets = await self._assets_of(release)
        destination = Path(path)
        await anyio.Path(destination).mkdir(parents=True, exist_ok=True)
        record = FolderRecord(destination)
        await record.load()
        manifest = await self._read_manifest(assets, record)
        targets, empties, refused = plan_download(assets, manifest, destination)
        await self._remember_release(tag, targets, empties)
        targets = [t for t in targets if selected(names_of(t), include, exclude)]
        empties = [p for p in empties if selected((p.name,), include, exclude)]

        stats = await stat_many([t.path for t in targets])
        present = [
            target
            for target, stat in zip(targets, stats, strict=True)
            if await record.is_present(
                target.path, target.size, target.sha256, target.pieces, stat=stat
            )
        ]
        missing = [t for t in targets if t not in present]
        # Files in progress: twice the connections, so the next files' storage URLs are
        # resolved (and their locks taken) while earlier files still download.
        in_progress = anyio.CapacityLimiter(2 * self.max_concurrency)

        def job(target: DownloadTarget) -> Any:
            async def run() -> Path:
                async with file_lock(target.path):
                    if await _fetched_meanwhile(record, target):
                        return target.path
                    if await self._from_cache(target):
                        await record.note(target.path, target.sha256, target.pieces)
                        return target.path
                    path = await download_file(
                        self._http,
                        target,
                        limiter=self._limiter,
                        part_size=self.part_size,
                        progress=self.progress,
                    )
                    await record.note(path, target.sha256, target.pieces)
                    if self.cache is not None and target.sha256 is not None:
                        await self.cache.add(path, target.sha256)
                    if target.size >= LARGE_FILE:  # spare other processes hashing it
                        await record.save()
                return path

            return run

        paths = [await write_empty(p) for p in empties] + [t.path for t in present]
        try:
            paths += await run_all([job(t) for t in missing], in_progress)
        finally:
            with anyio.CancelScope(shield=True):
                await record.save()
        if refused:
            raise DownloadError(
                f"Could not download {len(refused)} file(s): {', '.join(refused)}; "
                "the other files were downloaded."
            )
        if self.extract_zips_by_default if extract_zips is None else extract_zips:
            for archive in [p for p in paths if p.suffix.lower() == ".zip"]:
                paths += await in_pool(extract_zip, archive, destination, self.archive_limits)
        return sorted(set(paths))


async def _fetched_meanwhile(record: FolderRecord, target: DownloadTarget) -> bool:
    """Whether another process finished ``target`` while we waited for its lock."""
    if not await anyio.Path(target.path).exists():
        return False
    await record.refresh()
    return await record.is_present(target.path, target.size, target.sha256, target.pieces)
