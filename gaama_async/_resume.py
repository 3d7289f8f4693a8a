"""The state record of a resumable download: what was asked for and how far each range got.

A record only counts if the remote assets are unchanged (same ids, sizes, update times and
digests); otherwise the download starts over cleanly.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .models import Asset

STATE_FORMAT = 1


def fingerprint(assets: Sequence[Asset], size: int) -> str:
    """What must be unchanged remotely for partial data on disk to still be good."""
    parts = [f"{a.id}:{a.size}:{a.updated_at}:{a.digest}" for a in assets]
    return f"{size}|" + "|".join(parts)


@dataclass(slots=True)
class ResumeState:
    """Progress of one ranged download (mutable: workers advance ``done`` as they write)."""

    fingerprint: str
    part_size: int
    done: list[int]
    etags: dict[str, str] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        return json.dumps(
            {
                "format": STATE_FORMAT,
                "fingerprint": self.fingerprint,
                "part_size": self.part_size,
                "done": self.done,
                "etags": self.etags,
            }
        ).encode()

    @classmethod
    def from_bytes(cls, raw: bytes | None) -> ResumeState | None:
        """Parse a saved record; None for a missing, foreign or damaged one."""
        try:
            data: Any = json.loads(raw or b"")
        except ValueError:
            return None
        valid = (
            isinstance(data, dict)
            and data.get("format") == STATE_FORMAT
            and isinstance(data.get("fingerprint"), str)
            and isinstance(data.get("part_size"), int)
            and isinstance(data.get("done"), list)
            and all(isinstance(d, int) and d >= 0 for d in data["done"])
            and isinstance(data.get("etags", {}), dict)
        )
        if not valid:
            return None
        etags = {str(k): str(v) for k, v in data.get("etags", {}).items()}
        return cls(data["fingerprint"], data["part_size"], list(data["done"]), etags)
