"""Release and Asset: small frozen views of GitHub's JSON, parsed once at the edge; and
``DownloadTarget``, the file a download writes, shared by the planner and the transfer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._blocks import BlockDigests


def _upload_base(template: str) -> str:
    """Cut an RFC 6570 ``upload_url`` at its first ``{`` (as gh does)."""
    return template.split("{", 1)[0]


@dataclass(frozen=True, slots=True)
class Asset:
    """One release asset as GitHub stores it (``name`` is the stored, normalized name)."""

    id: int
    name: str
    size: int
    state: str
    digest: str | None
    content_type: str
    label: str | None
    url: str
    browser_download_url: str
    created_at: str | None = None
    updated_at: str | None = None
    download_count: int = 0

    @property
    def sha256(self) -> str | None:
        """The hex sha256 from ``digest`` (``"sha256:<hex>"``), or None when GitHub has none."""
        if self.digest and self.digest.startswith("sha256:"):
            return self.digest.removeprefix("sha256:").lower()
        return None

    @property
    def is_uploaded(self) -> bool:
        """Only ``uploaded`` assets are usable; ``starter`` and ``open`` are leftovers."""
        return self.state == "uploaded"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Asset:
        """Parse GitHub's release-asset JSON (unknown keys ignored, optional ones defaulted)."""
        return cls(
            id=int(data["id"]),
            name=str(data["name"]),
            size=int(data["size"]),
            state=str(data.get("state") or "uploaded"),
            digest=data.get("digest"),
            content_type=str(data.get("content_type") or "application/octet-stream"),
            label=data.get("label"),
            url=str(data["url"]),
            browser_download_url=str(data.get("browser_download_url") or ""),
            created_at=data.get("created_at"),
            updated_at=data.get("updated_at"),
            download_count=int(data.get("download_count") or 0),
        )


@dataclass(frozen=True, slots=True)
class Release:
    """One release: its tag, flags, URLs and the assets it carried when it was read."""

    id: int
    tag: str
    name: str | None
    draft: bool
    prerelease: bool
    url: str
    html_url: str
    upload_url: str
    body: str | None = None
    created_at: str | None = None
    published_at: str | None = None
    assets: tuple[Asset, ...] = field(default=())
    #: Published while the repository had immutable releases on: assets and tag are locked.
    immutable: bool = False
    #: Filled by ``GaAMA.list_releases`` only: whether GitHub names it the latest release,
    #: and the aliases (``GaAMA.set_alias``) that point at it.
    latest: bool = False
    aliases: tuple[str, ...] = ()

    @property
    def upload_base(self) -> str:
        """``upload_url`` without its ``{?name,label}`` template suffix."""
        return _upload_base(self.upload_url)

    def asset(self, name: str) -> Asset | None:
        """The asset stored under ``name``, if the release has one."""
        return next((a for a in self.assets if a.name == name), None)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Release:
        """Parse GitHub's release JSON, with the assets it lists inline."""
        return cls(
            id=int(data["id"]),
            tag=str(data["tag_name"]),
            name=data.get("name"),
            draft=bool(data.get("draft")),
            prerelease=bool(data.get("prerelease")),
            url=str(data["url"]),
            html_url=str(data.get("html_url") or ""),
            upload_url=str(data["upload_url"]),
            body=data.get("body"),
            created_at=data.get("created_at"),
            published_at=data.get("published_at"),
            assets=tuple(Asset.from_json(a) for a in data.get("assets") or ()),
            immutable=bool(data.get("immutable")),
        )


@dataclass(frozen=True, slots=True)
class DownloadTarget:
    """One file to write: the asset(s) it is made of, in order, and the digests to check.

    A file published whole has one piece; a file split past GitHub's size limit has several.
    """

    path: Path
    size: int
    sha256: str | None
    pieces: tuple[Asset, ...]
    piece_sha256: tuple[str | None, ...]
    #: Each piece's block digests from the manifest; empty when it has none for any piece.
    piece_blocks: tuple[BlockDigests, ...] = ()

    @classmethod
    def whole(cls, asset: Asset, path: Path, sha256: str | None) -> DownloadTarget:
        return cls(path, asset.size, sha256, (asset,), (sha256,))

    @property
    def label(self) -> str:
        return self.path.name

    @property
    def names(self) -> tuple[str, ...]:
        """A file is selected by its own name or by the name of any asset it is made of."""
        return (self.path.name, *(a.name for a in self.pieces))
