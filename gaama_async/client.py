"""GaAMA: the asyncio client. Configuration, one HTTP session, and the public entry points.

Publishing and downloading are orchestrated here; the bytes move in ``upload`` and
``download``, the HTTP rules live in ``_http``.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import anyio

from ._concurrency import run_all
from ._files import UnsafeNameError, file_size, safe_filename, sha256_of, write_empty
from ._http import GitHubHTTP, auth_header
from ._names import normalize_asset_name
from ._retry import RetryPolicy, TransientError
from .download import DownloadTarget, download_file, fetch_small
from .errors import AssetConflictError, DownloadError, GaamaError, NotFoundError, PublishError
from .manifest import MANIFEST_NAME, MAX_MANIFEST_BYTES, Manifest, ManifestEntry, ManifestError
from .models import Asset, Release
from .progress import ProgressCallback
from .upload import UploadSource, upload_asset

log = logging.getLogger("gaama_async")

DEFAULT_API_URL = "https://api.github.com"
# Ranges this size keep per-request overhead (one round trip each) near 3% on a CDN-like
# link of 25 MiB/s per connection, while the hash of the written prefix stays close behind.
DEFAULT_PART_SIZE = 16 * 1024 * 1024
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


class GaAMA:
    """An async client for one GitHub repository's releases.

    Use it as ``async with GaAMA(repo="owner/name") as client:``, or call ``aclose()``.
    The token comes from ``token=``, else ``GITHUB_TOKEN``, else ``GH_TOKEN``; code written
    for gaama 0.7.2 may pass ``username=`` and ``password=`` (a token) instead.
    """

    def __init__(
        self,
        *,
        owner: str | None = None,
        repository: str | None = None,
        repo: str | None = None,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        api_url: str | None = None,
        max_concurrency: int = 8,
        part_size: int = DEFAULT_PART_SIZE,
        max_rate_limit_wait: float = 900.0,
        secondary_rate_limit_wait: float = 60.0,
        retry: RetryPolicy | None = None,
        connect_timeout: float = 30.0,
        read_timeout: float = 120.0,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.owner, self.repository = _split_repo(repo, owner, repository)
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
        self.part_size = part_size
        self.progress = progress
        self._limiter = anyio.CapacityLimiter(max_concurrency)
        self._http = GitHubHTTP(
            api_url=self.api_url,
            authorization=auth_header(token, username, password),
            retry=retry or RetryPolicy(),
            max_rate_limit_wait=max_rate_limit_wait,
            secondary_wait=secondary_rate_limit_wait,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
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

    async def _read_manifest(self, assets: Sequence[Asset]) -> Manifest | None:
        asset = next((a for a in assets if a.name == MANIFEST_NAME and a.is_uploaded), None)
        if asset is None:
            return None
        raw = await fetch_small(self._http, asset, limit=MAX_MANIFEST_BYTES)
        try:
            return Manifest.from_bytes(raw)
        except ManifestError as exc:
            raise DownloadError(f"The release's {MANIFEST_NAME} is unreadable: {exc}.") from exc

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
    ) -> Release:
        """Upload ``files`` as assets of the release ``tag`` (default: today, ``YYYY.MM.DD``).

        A new release is built as a draft and published only once every asset is uploaded
        and verified; on failure the draft is deleted. Files added to an existing published
        release are skipped when identical; a different file of the same stored name raises
        ``AssetConflictError`` unless ``overwrite=True``.
        """
        tag = tag or _default_tag()
        sources = await _local_sources(files)
        try:
            existing: Release | None = await self.get_release(tag)
        except NotFoundError:
            existing = None
        if existing is None:
            return await self._publish_new(tag, sources, name, body, draft, prerelease)
        return await self._add_to_release(existing, sources, overwrite)

    async def _publish_new(
        self,
        tag: str,
        sources: list[UploadSource],
        name: str | None,
        body: str | None,
        draft: bool,
        prerelease: bool,
    ) -> Release:
        await self._delete_stale_drafts(tag)
        created = await self._http.json(
            "POST",
            f"{self._repo_url}/releases",
            what=f"creating release '{tag}' of {self.repo}",
            json={"tag_name": tag, "name": name or tag, "body": body or "", "draft": True,
                  "prerelease": prerelease},
            retry=False,
        )  # fmt: skip
        release = Release.from_json(created)
        try:
            entries = await self._upload_sources(release, sources, {})
            await self._write_manifest(release, Manifest().merged(entries), None)
            if not draft:
                await self._http.json(
                    "PATCH",
                    release.url,
                    what=f"publishing release '{tag}'",
                    json={"draft": False, "make_latest": "false" if prerelease else "true"},
                )
        except BaseException as exc:
            await self._discard_draft(release)
            raise _as_publish_error(exc, tag) from exc
        return await self._release_by_id(release)

    async def _release_by_id(self, release: Release) -> Release:
        data = await self._http.json("GET", release.url, what=f"release '{release.tag}'")
        return Release.from_json(data)

    async def _delete_stale_drafts(self, tag: str) -> None:
        """Drafts of this tag left by failed runs, holding no uploaded asset (spec 12)."""
        items = await self._http.paginate(
            f"{self._repo_url}/releases", what=f"releases of {self.repo}"
        )
        for release in (Release.from_json(item) for item in items):
            stale = release.draft and release.tag == tag
            if stale and not any(a.is_uploaded for a in release.assets):
                log.info("deleting stale draft %s of tag '%s'", release.id, tag)
                await self._http.json("DELETE", release.url, what=f"stale draft '{tag}'")

    async def _discard_draft(self, release: Release) -> None:
        """Delete a draft whose publish failed; shielded, so cancellation cannot skip it."""
        with anyio.CancelScope(shield=True), anyio.move_on_after(30):
            try:
                await self._http.json("DELETE", release.url, what=f"draft '{release.tag}'")
            except (GaamaError, TransientError) as exc:
                log.warning("could not delete draft release %s: %s", release.id, exc)

    async def _upload_sources(
        self, release: Release, sources: Sequence[UploadSource], stored_names: dict[str, str]
    ) -> list[ManifestEntry]:
        """Upload concurrently; ``stored_names`` maps a source to a temporary asset name."""

        def job(source: UploadSource) -> Any:
            async def run() -> ManifestEntry:
                if source.size == 0:
                    return ManifestEntry(source.name, None, 0, EMPTY_SHA256)
                _, sha256 = await upload_asset(
                    self._http,
                    release,
                    source,
                    stored_name=stored_names.get(source.name),
                    progress=self.progress,
                )
                final = normalize_asset_name(source.name)
                return ManifestEntry(source.name, final, source.size, sha256)

            return run

        return await run_all([job(s) for s in sources], self._limiter)

    async def _write_manifest(
        self, release: Release, manifest: Manifest, old: Asset | None
    ) -> None:
        data = manifest.to_bytes()
        source = UploadSource(MANIFEST_NAME, len(data), data=data)
        if old is None:
            await upload_asset(self._http, release, source)
            return
        await self._replace_asset(release, source, old)

    async def _replace_asset(self, release: Release, source: UploadSource, old: Asset) -> str:
        """Replace ``old``: upload under a temporary name, verify, delete old, rename.

        The name is missing only between the delete and the rename; returns the new sha256.
        """
        temporary = f"{old.name}.gaama-replacing"
        new, sha256 = await upload_asset(
            self._http, release, source, stored_name=temporary, progress=self.progress
        )
        await self._http.json("DELETE", old.url, what=f"old asset '{old.name}'")
        await self._http.json(
            "PATCH", new.url, what=f"renaming asset '{temporary}'", json={"name": old.name}
        )
        return sha256

    async def _add_to_release(
        self, release: Release, sources: list[UploadSource], overwrite: bool
    ) -> Release:
        assets = await self._assets_of(release)
        by_name = {a.name: a for a in assets}
        manifest = await self._read_manifest(assets) or Manifest()
        plan = await _plan_additions(sources, by_name, manifest, overwrite, release.tag)
        leftovers = [a for a in assets if not a.is_uploaded]
        try:
            for leftover in leftovers:  # starter placeholders block their names (spec 6.9.4)
                await self._http.json("DELETE", leftover.url, what=f"leftover '{leftover.name}'")
            new = [s for s, old in plan if old is None]
            entries = await self._upload_sources(release, new, {})
            for source, old in plan:
                if old is not None:
                    sha256 = await self._replace_asset(release, source, old)
                    entries.append(ManifestEntry(source.name, old.name, source.size, sha256))
            if entries:
                merged = manifest.merged(entries)
                await self._write_manifest(release, merged, by_name.get(MANIFEST_NAME))
        except BaseException as exc:
            raise _as_publish_error(exc, release.tag) from exc
        return await self._release_by_id(release)

    # -- downloading -----------------------------------------------------------------------

    async def download(
        self,
        tag: str | None = None,
        path: str | os.PathLike[str] = ".",
        *,
        include: str | Sequence[str] | None = None,
        exclude: str | Sequence[str] | None = None,
    ) -> list[Path]:
        """Download the assets of ``tag`` (latest when None) into ``path``, verified.

        ``include``/``exclude`` are glob patterns matched against file and asset names. Each
        file appears at its final path only once complete and checked against its sha256.
        """
        release = await self.get_release(tag)
        assets = await self._assets_of(release)
        manifest = await self._read_manifest(assets)
        destination = Path(path)
        await anyio.Path(destination).mkdir(parents=True, exist_ok=True)
        targets, empties, refused = _download_plan(assets, manifest, destination)
        targets = [t for t in targets if _selected(_names_of(t), include, exclude)]
        empties = [p for p in empties if _selected((p.name,), include, exclude)]

        def job(target: DownloadTarget) -> Any:
            return lambda: download_file(
                self._http,
                target,
                limiter=self._limiter,
                part_size=self.part_size,
                progress=self.progress,
            )

        paths = [await write_empty(p) for p in empties]
        paths += await run_all([job(t) for t in targets])
        if refused:
            raise DownloadError(
                f"Refused {len(refused)} asset(s) with unsafe names ({', '.join(refused)}); "
                "the other files were downloaded."
            )
        return sorted(paths)


async def _local_sources(files: Iterable[str | os.PathLike[str]]) -> list[UploadSource]:
    """Check every file before anything is created on GitHub."""
    sources: list[UploadSource] = []
    seen: dict[str, str] = {}
    for item in files:
        path = Path(item)
        if not await anyio.Path(path).is_file():
            problem = "is a directory" if await anyio.Path(path).is_dir() else "does not exist"
            raise PublishError(f"Cannot publish '{path}': it {problem}.")
        stored = normalize_asset_name(path.name)
        if stored in seen or stored == MANIFEST_NAME:
            raise PublishError(
                f"'{path.name}' would be stored as '{stored}', which "
                + (f"'{seen[stored]}' also becomes" if stored in seen else "gaama reserves")
                + "; rename one of them."
            )
        seen[stored] = path.name
        sources.append(UploadSource(path.name, await file_size(path), path=path))
    if not sources:
        raise PublishError("Nothing to publish: pass at least one file.")
    return sources


async def _plan_additions(
    sources: list[UploadSource],
    by_name: dict[str, Asset],
    manifest: Manifest,
    overwrite: bool,
    tag: str,
) -> list[tuple[UploadSource, Asset | None]]:
    """Decide per file: skip (identical), upload (new), or replace (``overwrite``)."""
    plan: list[tuple[UploadSource, Asset | None]] = []
    known = manifest.by_asset()
    for source in sources:
        stored = normalize_asset_name(source.name)
        old = by_name.get(stored)
        if source.size == 0:
            entry = manifest.by_name().get(source.name)
            if entry is None or entry.size != 0 or overwrite:
                plan.append((source, None))
            continue
        if old is None or not old.is_uploaded:
            plan.append((source, None))
            continue
        remote_sha = old.sha256 or (known[stored].sha256 if stored in known else None)
        if old.size == source.size and remote_sha == await _entry_sha(source):
            log.info("skipping '%s': identical asset already on '%s'", source.name, tag)
            continue
        if not overwrite:
            raise AssetConflictError(
                f"Release '{tag}' already has a different '{stored}' (for '{source.name}'): "
                "pass overwrite=True to replace it."
            )
        plan.append((source, old))
    return plan


async def _entry_sha(source: UploadSource) -> str:
    return await sha256_of(source.path) if source.path else EMPTY_SHA256


def _download_plan(
    assets: Sequence[Asset], manifest: Manifest | None, destination: Path
) -> tuple[list[DownloadTarget], list[Path], list[str]]:
    """What to fetch, which empty files to recreate, and which names were refused as unsafe."""
    targets: list[DownloadTarget] = []
    empties: list[Path] = []
    refused: list[str] = []
    entries = manifest.by_asset() if manifest else {}
    for asset in assets:
        if asset.name == MANIFEST_NAME or not asset.is_uploaded:
            continue
        entry = entries.get(asset.name)
        name = entry.name if entry else asset.name
        try:
            final = destination / safe_filename(name)
        except UnsafeNameError:
            refused.append(repr(name))
            continue
        sha = entry.sha256 if entry else asset.sha256
        targets.append(DownloadTarget.whole(asset, final, sha))
    for entry in manifest.files if manifest else ():
        if entry.asset is None and entry.size == 0:
            try:
                empties.append(destination / safe_filename(entry.name))
            except UnsafeNameError:
                refused.append(repr(entry.name))
    return targets, empties, refused


def _names_of(target: DownloadTarget) -> tuple[str, ...]:
    """A file is selected by its own name or by the name of any asset it is made of."""
    return (target.path.name, *(a.name for a in target.pieces))


def _patterns(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _selected(
    names: tuple[str, ...], include: str | Sequence[str] | None, exclude: str | Sequence[str] | None
) -> bool:
    def matches(patterns: list[str]) -> bool:
        return any(fnmatch.fnmatchcase(n, p) for n in names for p in patterns)

    wanted = _patterns(include)
    return (not wanted or matches(wanted)) and not matches(_patterns(exclude))


def _as_publish_error(exc: BaseException, tag: str) -> BaseException:
    """Keep typed errors; turn anything else into a PublishError that says what failed."""
    if isinstance(exc, GaamaError) and type(exc) is not GaamaError:
        return exc
    if isinstance(exc, GaamaError | TransientError):
        return PublishError(f"Publishing release '{tag}' failed: {exc}. Nothing was published.")
    return exc
