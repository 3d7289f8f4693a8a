"""GaAMA: the asyncio client, a thin facade over the workflows.

It holds the configuration (``_config``), one HTTP session and one connection limiter (the
``Context`` every workflow receives), the cache and the offline switch; ``download`` hands
the work to ``_downloading``, ``publish`` to ``_publishing``, reads to ``_releases``.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import anyio
from yarl import URL

from . import _draftflow, _publishing
from ._aliasdoc import Alias
from ._aliases import get_alias, resolve_release, set_alias
from ._archives import ArchiveLimits
from ._cache import cache_from_settings
from ._concurrency import run_all
from ._config import (
    DEFAULT_API_URL,
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_ASSET_SIZE,
    DEFAULT_PART_SIZE,
    Limits,
    Pacing,
    RepoRef,
    Timeouts,
)
from ._context import Context
from ._downloading import (
    DownloadPlan,
    DownloadRequest,
    download_offline,
    download_release,
    offline_from_env,
    plan_release_download,
)
from ._drafts import DEFAULT_LEASE
from ._http import GitHubHTTP, auth_header
from ._listing import list_aliases, list_versions
from ._ratelimit import AdaptiveConcurrency
from ._record import FolderRecord
from ._releases import assets_of
from ._retry import RetryPolicy
from ._storage import read_manifest
from ._verify import verify_folder
from ._verifyplan import VerifyReport
from .manifest import Manifest
from .models import Asset, Release
from .progress import ProgressCallback

log = logging.getLogger("gaama_async")

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_MAX_ASSET_SIZE",
    "DEFAULT_PART_SIZE",
    "DownloadSpec",
    "GaAMA",
]


def _default_tag() -> str:
    """gaama 0.7.2 tagged releases with today's date."""
    return dt.date.today().strftime("%Y.%m.%d")


def _repo_ref(repo: str | None, owner: str | None, repository: str | None, api_url: str) -> RepoRef:
    if repo:
        return RepoRef.parse(repo, api_url)
    if owner and repository:
        return RepoRef(owner, repository, api_url)
    env = os.environ.get("GITHUB_REPOSITORY")
    if env:
        return RepoRef.parse(env, api_url)
    raise ValueError("name the repository: GaAMA(repo='owner/name') or owner= and repository=")


def _api_url(api_url: str | None) -> str:
    """``api_url``, else ``GAAMA_API_URL``, else ``GITHUB_API_URL``, else github.com; checked
    here so a URL without a scheme or host is a clear ``ValueError``, not a failed request."""
    chosen = (
        api_url
        or os.environ.get("GAAMA_API_URL")
        or os.environ.get("GITHUB_API_URL")
        or DEFAULT_API_URL
    ).rstrip("/")
    parsed = URL(chosen)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(
            f"api_url must be an http(s) URL such as https://api.github.com, got {chosen!r}"
        )
    return chosen


def _api_concurrency(given: int | None, limits: Limits | None) -> int | None:
    """``max_api_concurrency``, else (when no ``Limits`` names it) ``GAAMA_API_CONCURRENCY``:
    a fleet sharing one token sets it once in its environment, not in every call site."""
    if given is not None or limits is not None:
        return given
    text = os.environ.get("GAAMA_API_CONCURRENCY", "").strip()
    if not text:
        return None
    if not text.isdecimal() or int(text) < 1:
        raise ValueError(
            f"GAAMA_API_CONCURRENCY must be a whole number of at least 1, got {text!r}"
        )
    return int(text)


def _token(token: str | None, username: str | None, password: str | None) -> str | None:
    if token is None and not (username and password):
        return os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN") or None
    return token


def _given(**values: Any) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


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

    Configuration comes as value objects — ``limits=Limits(...)``, ``timeouts=Timeouts(...)``,
    ``pacing=Pacing(...)``, ``retry=RetryPolicy(...)`` — or as the simple keywords, which
    override the matching field of the object they belong to. ``max_api_concurrency``
    (else ``GAAMA_API_CONCURRENCY``) bounds requests in flight to the API host: hosts that
    share a token share GitHub's 100 concurrent requests.
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
        limits: Limits | None = None,
        timeouts: Timeouts | None = None,
        pacing: Pacing | None = None,
        retry: RetryPolicy | None = None,
        max_concurrency: int | None = None,
        part_size: int | None = None,
        max_asset_size: int | None = None,
        max_api_concurrency: int | None = None,
        max_rate_limit_wait: float | None = None,
        secondary_rate_limit_wait: float | None = None,
        write_interval: float | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        progress: ProgressCallback | None = None,
        cache_dir: str | os.PathLike[str] | Literal[False] | None = None,
        offline: bool | None = None,
    ) -> None:
        limits = dataclasses.replace(
            limits or Limits(),
            **_given(
                max_concurrency=max_concurrency,
                part_size=part_size,
                max_asset_size=max_asset_size,
                max_api_concurrency=_api_concurrency(max_api_concurrency, limits),
            ),
        )
        pacing = dataclasses.replace(
            pacing or Pacing(),
            **_given(
                max_rate_limit_wait=max_rate_limit_wait,
                secondary_wait=secondary_rate_limit_wait,
                write_interval=write_interval,
            ),
        )
        timeouts = dataclasses.replace(
            timeouts or Timeouts(), **_given(connect=connect_timeout, read=read_timeout)
        )
        self._ctx = self._context_for(
            _repo_ref(repo, owner, repository, _api_url(api_url)),
            auth_header(_token(token, username, password), username, password),
            limits,
            pacing,
            timeouts,
            retry or RetryPolicy(),
            progress,
        )
        self.cache = cache_from_settings(cache_dir)
        self.offline = offline_from_env(offline)
        self.archive_limits = ArchiveLimits()

    @staticmethod
    def _context_for(
        repo: RepoRef,
        authorization: str | None,
        limits: Limits,
        pacing: Pacing,
        timeouts: Timeouts,
        retry: RetryPolicy,
        progress: ProgressCallback | None,
    ) -> Context:
        concurrency = AdaptiveConcurrency(limits.max_concurrency)
        http = GitHubHTTP(
            api_url=repo.api_url,
            authorization=authorization,
            retry=retry,
            pacing=pacing,
            timeouts=timeouts,
            concurrency=concurrency,
            api_concurrency=limits.max_api_concurrency,
        )
        return Context(http, repo, limits, concurrency.limiter, progress)

    def __repr__(self) -> str:
        return f"GaAMA(repo='{self.repo}', api_url='{self.api_url}')"

    @property
    def repo(self) -> str:
        """``owner/name``."""
        return self._ctx.repo.full_name

    @property
    def owner(self) -> str:
        return self._ctx.repo.owner

    @property
    def repository(self) -> str:
        return self._ctx.repo.name

    @property
    def api_url(self) -> str:
        return self._ctx.repo.api_url

    @property
    def limits(self) -> Limits:
        """How much the client moves at once and in what pieces."""
        return self._ctx.limits

    @property
    def max_concurrency(self) -> int:
        return self._ctx.limits.max_concurrency

    @property
    def part_size(self) -> int:
        return self._ctx.limits.part_size

    @property
    def max_asset_size(self) -> int:
        return self._ctx.limits.max_asset_size

    @property
    def progress(self) -> ProgressCallback | None:
        """Told of every transfer's steps; may be swapped between calls."""
        return self._ctx.progress

    @progress.setter
    def progress(self, callback: ProgressCallback | None) -> None:
        self._ctx = dataclasses.replace(self._ctx, progress=callback)

    @property
    def _http(self) -> GitHubHTTP:
        return self._ctx.http

    @property
    def _limiter(self) -> anyio.CapacityLimiter:
        return self._ctx.limiter

    @property
    def _repo_url(self) -> str:
        return self._ctx.repo.url

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
        await self._ctx.http.aclose()

    # -- reading ---------------------------------------------------------------------------

    async def get_release(self, tag: str | None = None) -> Release:
        """The published release for ``tag``, or the latest release when ``tag`` is None.

        A tag no release has but an alias of that name points to the alias's release.
        """
        return await resolve_release(self._ctx, tag)

    async def list_releases(self, *, drafts: bool = False) -> list[Release]:
        """Every release (all pages), newest first, each with ``latest`` and the ``aliases``
        pointing at it; drafts too when ``drafts`` (GitHub lists them only for a token with
        push access). Alias releases are not listed: they mark their targets."""
        return await list_versions(self._ctx, drafts=drafts)

    # -- aliases ---------------------------------------------------------------------------

    async def set_alias(self, name: str, tag: str) -> Alias:
        """Point the alias ``name`` (e.g. ``production``) at the published release ``tag``.

        The alias is the release ``alias/NAME`` (a prerelease, never latest) whose title and
        body name the target; moving it is one update, so readers see the old or the new
        target, never a mix. ``download(tag=name)`` then fetches exactly the target's files.
        Each move is kept in its history (who, when, from, to).
        """
        return await set_alias(self._ctx, name, tag)

    async def get_alias(self, name: str) -> Alias:
        """Where alias ``name`` points, with its history."""
        return await get_alias(self._ctx, name)

    async def list_aliases(self) -> list[Alias]:
        """Every alias of the repository, by name."""
        return await list_aliases(self._ctx)

    # -- verifying -------------------------------------------------------------------------

    async def verify(
        self,
        path: str | os.PathLike[str] = ".",
        tag: str | None = None,
        *,
        offline: bool | None = None,
    ) -> VerifyReport:
        """Check the folder ``path`` against release ``tag`` (latest when None): every file's
        size and sha256 (and which parts of a split file differ), listing missing, modified
        and extra files. ``offline`` (default: the client's) uses the manifest the folder's
        record kept from the last download and asks GitHub nothing."""
        use_record = self.offline if offline is None else offline
        return await verify_folder(self._ctx, Path(path), tag, offline=use_record)

    async def list_assets(self, tag: str | None = None) -> list[Asset]:
        """Every asset of the release for ``tag`` (latest when None), across all pages."""
        return await assets_of(self._ctx, await self.get_release(tag))

    async def finish_draft(self, tag: str) -> Release:
        """Publish the draft of ``tag`` kept by ``publish(draft=True)``, once its assets
        match its manifest (a missing or different file is a ``PublishError``, the draft
        kept)."""
        draft = await _draftflow.kept_draft(self._ctx, tag)
        return await _draftflow.finish_draft(self._ctx, draft)

    async def delete_drafts(self, tag: str, *, dry_run: bool = False) -> list[Release]:
        """Delete the drafts of ``tag`` that no live publisher is filling; returns them
        (with ``dry_run``, the drafts that would be deleted, and nothing changes)."""
        return await _draftflow.delete_drafts(self._ctx, tag, dry_run=dry_run)

    async def _assets_of(self, release: Release) -> list[Asset]:
        return await assets_of(self._ctx, release)

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
        return await _publishing.delete_assets(
            self._ctx, tag, include, exclude=exclude, dry_run=dry_run
        )

    async def delete_release(self, tag: str) -> Release:
        """Delete the published release ``tag`` and its assets (the git tag stays)."""
        return await _publishing.delete_release(self._ctx, tag)

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
        and verified; on failure or cancellation the draft is deleted. A tag that has a draft
        kept with ``draft=True`` gets no second release: the files go into that draft, which
        is then published after ``finish_draft``'s check (or stays a draft with ``draft``).
        A published immutable release takes no new or replaced file: ``PublishError``
        before anything is sent (identical files are still skipped). Files added to an
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
            self._ctx, spec, files, overwrite=overwrite, zip_files=bundle, lease=draft_lease
        )

    # -- downloading -----------------------------------------------------------------------

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
        A file already in the cache (by sha256) is placed from it, not downloaded; with
        ``offline`` (or ``GAAMA_OFFLINE=1``) nothing is asked of GitHub at all.
        """
        extract = self.extract_zips_by_default if extract_zips is None else extract_zips
        request = DownloadRequest(tag, Path(path), include, exclude, extract, self.archive_limits)
        if self.offline:
            return await download_offline(self._ctx, self.cache, request)
        return await download_release(self._ctx, self.cache, request)

    async def plan_download(
        self,
        tag: str | None = None,
        path: str | os.PathLike[str] = ".",
        *,
        include: str | Sequence[str] | None = None,
        exclude: str | Sequence[str] | None = None,
    ) -> DownloadPlan:
        """What ``download`` would do, decided by the same planning, writing nothing: the
        files it would fetch, those already present in ``path`` (verified), the empty ones
        and any it would refuse (a dry run)."""
        request = DownloadRequest(tag, Path(path), include, exclude)
        return await plan_release_download(self._ctx, request)

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
        view._ctx = self._ctx.for_repo(RepoRef.parse(repo, self.api_url))
        return view
