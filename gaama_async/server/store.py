"""On-disk persistence of repositories, releases and assets.

Metadata lives in one JSON file under ``root``, rewritten atomically (temp file + rename)
after each mutation; asset bytes live as files under ``root/blobs``. Uploads are written to
``root/tmp`` first and renamed into ``blobs`` once complete, so a crash never leaves a
half-written blob under a live asset. This module is the only one that touches the disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import anyio
import anyio.to_thread

from .clock import wall_time

# Ids start above 2**31 so clients that squeeze them into 32 bits break here first (spec 13.2).
_ID_BASES = {"repo": 2**32 + 1_000, "release": 2**31 + 100_000, "asset": 2**31 + 500_000}
_USER_ID_BASE = 1_000_000


def utc_now() -> str:
    """Current time in GitHub's timestamp format (UTC, no fractional seconds).

    The serving server's clock, which a test may have skewed (see ``clock``).
    """
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(wall_time()))


@dataclass
class Repo:
    """A repository: configured (``ServerConfig.repos``), created through ``POST /user/repos``,
    or made on first use when ``ServerConfig.auto_create`` is on."""

    id: int
    owner: str
    name: str


@dataclass
class Release:
    """A release; ``untagged`` is the 20-hex placeholder used in URLs while it is a draft."""

    id: int
    repo_id: int
    tag_name: str
    target_commitish: str
    name: str | None
    body: str | None
    draft: bool
    prerelease: bool
    author: str
    created_at: str
    updated_at: str
    published_at: str | None
    untagged: str
    latest_mark: int = 0
    # Published while the repository had immutable releases on (spec 7.3); never cleared.
    immutable: bool = False


@dataclass
class Asset:
    """A release asset; ``blob`` names its file under ``root/blobs`` (None for starters)."""

    id: int
    release_id: int
    name: str
    label: str | None
    content_type: str
    state: str
    size: int
    digest: str | None
    uploader: str
    created_at: str
    updated_at: str
    blob: str | None
    download_count: int = 0


def _plain(state: _State) -> dict[str, Any]:
    """``asdict(state)`` without its recursive deep copies, which made every save cost
    O(assets) times a large constant (a 1000-asset release took minutes to publish): every
    record holds only str, int, bool and None, so ``vars`` is the same dict, shallowly."""
    return {
        **vars(state),
        "repos": [vars(r) for r in state.repos],
        "releases": [vars(r) for r in state.releases],
        "assets": [vars(a) for a in state.assets],
    }


@dataclass
class _State:
    next_ids: dict[str, int] = field(default_factory=lambda: dict(_ID_BASES))
    users: dict[str, int] = field(default_factory=dict)
    repos: list[Repo] = field(default_factory=list)
    releases: list[Release] = field(default_factory=list)
    assets: list[Asset] = field(default_factory=list)
    latest_counter: int = 0
    # Lightweight git tags by repository id (as a string, for JSON): tag name to commit sha.
    tags: dict[str, dict[str, str]] = field(default_factory=dict)
    # Tag names of deleted immutable releases, by repository id: never usable again.
    burnt_tags: dict[str, list[str]] = field(default_factory=dict)


def fake_commit_sha(repo_id: int, tag: str) -> str:
    """The commit a tag points at: the emulator has no git objects, so a stable fake.

    The same repository and tag always give the same 40-hex sha, across restarts and
    re-creations of the tag; different tags give different shas.
    """
    return hashlib.sha1(f"gaama:{repo_id}:{tag}".encode(), usedforsecurity=False).hexdigest()


class BlobWriter:
    """Writes an upload to its temp file and hashes it, off the event loop.

    Chunks are gathered into about 1 MiB before each trip to a worker thread, so parallel
    uploads hash and write on several cores while the loop keeps serving requests.
    """

    BATCH = 1024 * 1024

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = 0
        self._digest = hashlib.sha256()
        self._file: BinaryIO = path.open("wb")
        self._pending: list[bytes] = []
        self._pending_size = 0

    def _write(self, data: bytes) -> None:
        self._file.write(data)
        self._digest.update(data)

    async def write(self, chunk: bytes) -> None:
        """Add ``chunk`` to the blob (flushed in batches)."""
        self._pending.append(chunk)
        self._pending_size += len(chunk)
        self.size += len(chunk)
        if self._pending_size >= self.BATCH:
            await self._flush()

    async def _flush(self) -> None:
        data = b"".join(self._pending)
        self._pending, self._pending_size = [], 0
        if data:
            await anyio.to_thread.run_sync(self._write, data)

    async def close(self) -> str:
        """Flush, close, and return the SHA-256 hex digest of everything written."""
        try:
            await self._flush()
        finally:
            self._file.close()
        return self._digest.hexdigest()

    def discard(self) -> None:
        """Close and delete the temp file (the upload failed)."""
        self._file.close()
        self.path.unlink(missing_ok=True)


class Store:
    """All server state, in memory and mirrored to ``root`` after every mutation."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs_dir = root / "blobs"
        self.tmp_dir = root / "tmp"
        # Archives built for tarball/zipball links (see ``archives``), reusable cache files.
        self.archives_dir = root / "archives"
        self._file = root / "state.json"
        self.blobs_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.archives_dir.mkdir(parents=True, exist_ok=True)
        self._state = self._load()
        self._repos = {(r.owner.lower(), r.name.lower()): r for r in self._state.repos}
        self._releases = {r.id: r for r in self._state.releases}
        self._assets = {a.id: a for a in self._state.assets}
        self._clean_tmp()

    def _load(self) -> _State:
        if not self._file.exists():
            return _State()
        raw: dict[str, Any] = json.loads(self._file.read_text("utf-8"))
        return _State(
            next_ids=raw["next_ids"],
            users=raw["users"],
            repos=[Repo(**r) for r in raw["repos"]],
            releases=[Release(**r) for r in raw["releases"]],
            assets=[Asset(**a) for a in raw["assets"]],
            latest_counter=raw.get("latest_counter", 0),
            tags=raw.get("tags", {}),
            burnt_tags=raw.get("burnt_tags", {}),
        )

    def _clean_tmp(self) -> None:
        for leftover in self.tmp_dir.iterdir():
            leftover.unlink(missing_ok=True)

    def save(self) -> None:
        """Write the metadata atomically: a reader sees the old file or the new, never half."""
        self._state.repos = list(self._repos.values())
        self._state.releases = list(self._releases.values())
        self._state.assets = list(self._assets.values())
        tmp = self._file.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(_plain(self._state)), "utf-8")
        os.replace(tmp, self._file)

    def _next_id(self, kind: str) -> int:
        value = self._state.next_ids[kind]
        self._state.next_ids[kind] = value + 1
        return value

    # users and repositories

    def user_id(self, login: str) -> int:
        """A stable numeric id for ``login``, allocated on first sight."""
        if login not in self._state.users:
            self._state.users[login] = _USER_ID_BASE + len(self._state.users)
            self.save()
        return self._state.users[login]

    def find_repo(self, owner: str, name: str) -> Repo | None:
        """The repository ``owner/name`` (case-insensitive, as GitHub), or None."""
        return self._repos.get((owner.lower(), name.lower()))

    def create_repo(self, owner: str, name: str) -> Repo:
        """The repository ``owner/name``, created if it does not exist yet."""
        key = (owner.lower(), name.lower())
        if key not in self._repos:
            self._repos[key] = Repo(self._next_id("repo"), owner, name)
            self.save()
        return self._repos[key]

    def rename_repo(self, repo: Repo, owner: str, name: str) -> None:
        """Give ``repo`` a new ``owner/name``; the old name is then free (see ``renames``)."""
        key = (owner.lower(), name.lower())
        taken = self._repos.get(key)
        if taken is not None and taken.id != repo.id:
            raise ValueError(f"{owner}/{name} already exists")
        del self._repos[(repo.owner.lower(), repo.name.lower())]
        repo.owner, repo.name = owner, name
        self._repos[key] = repo
        self.save()

    def repo_by_id(self, repo_id: int) -> Repo | None:
        """The repository with numeric id ``repo_id``, used by ``/repositories/{id}`` links."""
        return next((r for r in self._repos.values() if r.id == repo_id), None)

    # releases

    def create_release(
        self, repo: Repo, *, author: str, commit_date: str, **fields: Any
    ) -> Release:
        """Add a release; ``fields`` are the already-validated request fields."""
        now = utc_now()
        draft = bool(fields.get("draft", False))
        release = Release(
            id=self._next_id("release"),
            repo_id=repo.id,
            tag_name=fields["tag_name"],
            target_commitish=fields.get("target_commitish") or "main",
            name=fields.get("name"),
            body=fields.get("body"),
            draft=draft,
            prerelease=bool(fields.get("prerelease", False)),
            author=author,
            created_at=commit_date,
            updated_at=now,
            published_at=None if draft else now,
            untagged=secrets.token_hex(10),
        )
        self._releases[release.id] = release
        self.mark_latest(release, fields.get("make_latest", "true"))
        self.save()
        return release

    def mark_latest(self, release: Release, make_latest: str) -> None:
        """Remember an explicit ``make_latest: "true"`` on a release that can be latest."""
        if make_latest == "true" and not release.draft and not release.prerelease:
            self._state.latest_counter += 1
            release.latest_mark = self._state.latest_counter
        elif make_latest in ("false", "legacy"):
            release.latest_mark = 0

    def releases(self, repo: Repo) -> list[Release]:
        """Releases of ``repo``, newest first."""
        found = [r for r in self._releases.values() if r.repo_id == repo.id]
        return sorted(found, key=lambda r: r.id, reverse=True)

    def release(self, repo: Repo, release_id: int) -> Release | None:
        """Release ``release_id`` if it belongs to ``repo``."""
        release = self._releases.get(release_id)
        return release if release is not None and release.repo_id == repo.id else None

    def published_by_tag(self, repo: Repo, tag: str) -> Release | None:
        """The published release using ``tag``; drafts are never found by tag."""
        return next(
            (r for r in self.releases(repo) if r.tag_name == tag and not r.draft),
            None,
        )

    def latest(self, repo: Repo) -> Release | None:
        """The latest release: explicit make_latest wins, else created_at then id."""
        candidates = [r for r in self.releases(repo) if not r.draft and not r.prerelease]
        if not candidates:
            return None
        return max(candidates, key=lambda r: (r.latest_mark, r.created_at, r.id))

    def touch(self, release: Release) -> None:
        """Persist changes made to ``release`` by the caller."""
        release.updated_at = utc_now()
        self.save()

    def delete_release(self, release: Release) -> None:
        """Remove ``release`` and its assets (the tag is kept, as on GitHub); an immutable
        release's tag name is burnt (spec 7.3)."""
        for asset in self.assets(release):
            self._drop_asset(asset)
        del self._releases[release.id]
        if release.immutable:
            burnt = self._state.burnt_tags.setdefault(str(release.repo_id), [])
            burnt.append(release.tag_name)
        self.save()

    def is_burnt(self, repo: Repo, tag: str) -> bool:
        """Whether a deleted immutable release once used ``tag`` (spec 7.3)."""
        return tag in self._state.burnt_tags.get(str(repo.id), ())

    # git tags

    def tags(self, repo: Repo) -> dict[str, str]:
        """The lightweight tags of ``repo``: name to commit sha, sorted by name."""
        return dict(sorted(self._state.tags.get(str(repo.id), {}).items()))

    def tag_sha(self, repo: Repo, tag: str) -> str | None:
        """The commit ``tag`` points at, or None when ``repo`` has no such tag."""
        return self._state.tags.get(str(repo.id), {}).get(tag)

    def ensure_tag(self, repo: Repo, tag: str) -> str:
        """Create ``tag`` unless it exists (as publishing a release does); return its sha."""
        tags = self._state.tags.setdefault(str(repo.id), {})
        if tag not in tags:
            tags[tag] = fake_commit_sha(repo.id, tag)
            self.save()
        return tags[tag]

    def delete_tag(self, repo: Repo, tag: str) -> bool:
        """Remove ``tag``; False when it did not exist.

        A published release on the tag goes back to being a draft, as users report of
        GitHub ("removing the tag simply sets the release back to draft").
        """
        tags = self._state.tags.get(str(repo.id), {})
        if tags.pop(tag, None) is None:
            return False
        for release in self.releases(repo):
            if release.tag_name == tag and not release.draft:
                release.draft, release.published_at, release.latest_mark = True, None, 0
                release.updated_at = utc_now()
        self.save()
        return True

    # assets

    def assets(self, release: Release) -> list[Asset]:
        """Assets of ``release`` in upload order, starters included."""
        found = [a for a in self._assets.values() if a.release_id == release.id]
        return sorted(found, key=lambda a: a.id)

    def asset(self, repo: Repo, asset_id: int) -> Asset | None:
        """Asset ``asset_id`` if it belongs to a release of ``repo``."""
        asset = self._assets.get(asset_id)
        if asset is None or self.release(repo, asset.release_id) is None:
            return None
        return asset

    def asset_by_id(self, asset_id: int) -> Asset | None:
        """Asset ``asset_id`` in any repository (ids are unique across the store)."""
        return self._assets.get(asset_id)

    def asset_by_blob(self, blob: str) -> Asset | None:
        """The asset whose bytes are stored as ``blob``."""
        return next((a for a in self._assets.values() if a.blob == blob), None)

    def release_of(self, asset: Asset) -> Release:
        """The release holding ``asset``."""
        return self._releases[asset.release_id]

    def add_asset(self, release: Release, **fields: Any) -> Asset:
        """Record a new asset; ``fields`` are the Asset fields other than ids and dates."""
        now = utc_now()
        asset = Asset(
            id=self._next_id("asset"),
            release_id=release.id,
            created_at=now,
            updated_at=now,
            **fields,
        )
        self._assets[asset.id] = asset
        self.save()
        return asset

    def touch_asset(self, asset: Asset) -> None:
        """Persist changes made to ``asset`` by the caller."""
        asset.updated_at = utc_now()
        self.save()

    def count_download(self, asset: Asset) -> None:
        """Bump ``download_count`` (saved lazily with the next mutation)."""
        asset.download_count += 1

    def delete_asset(self, asset: Asset) -> None:
        """Remove ``asset`` and its bytes."""
        self._drop_asset(asset)
        self.save()

    def _drop_asset(self, asset: Asset) -> None:
        del self._assets[asset.id]
        if asset.blob is not None:
            self.blob_path(asset.blob).unlink(missing_ok=True)

    # files

    def blob_path(self, blob: str) -> Path:
        """Where the bytes of ``blob`` live."""
        return self.blobs_dir / blob

    def new_temp_path(self) -> Path:
        """A unique temporary file path for an upload in progress."""
        return self.tmp_dir / f"{uuid.uuid4().hex}.part"

    def commit_blob(self, temp: Path) -> str:
        """Move a finished upload into ``blobs`` and return its blob name."""
        blob = uuid.uuid4().hex
        shutil.move(temp, self.blob_path(blob))
        return blob
