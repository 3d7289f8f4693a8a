"""What blob storage knows about a blob beyond its bytes: how often it was written.

A ``change`` fault rewrites a blob in place: from then on storage answers with a new
``ETag`` and ``Last-Modified``, and an ``If-Range`` naming the old ETag gets the whole body
(200), as a real blob store does once a blob was replaced. The bytes stay the same, so the
asset's ``digest`` and ``size`` stay true: this is a re-upload of identical content, as when
GitHub moved release assets between storage backends and every ETag changed. Versions live
in memory; a restarted server serves every blob at generation 0 again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .store import utc_now


@dataclass(frozen=True)
class BlobVersion:
    """A blob's write count since upload, and when it was last written (None: at upload)."""

    generation: int = 0
    modified: str | None = None


@dataclass
class BlobVersions:
    """Versions by blob name; a blob never rewritten is at generation 0."""

    _versions: dict[str, BlobVersion] = field(default_factory=dict)

    def get(self, blob: str) -> BlobVersion:
        """The current version of ``blob``."""
        return self._versions.get(blob, BlobVersion())

    def replace(self, blob: str) -> BlobVersion:
        """Record that ``blob`` was written again, now."""
        version = BlobVersion(self.get(blob).generation + 1, utc_now())
        self._versions[blob] = version
        return version
