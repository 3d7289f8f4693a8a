"""Read-after-write lag (spec 9.3): what was just written is briefly "not found".

GitHub's reads are served from replicas that trail its writes; tools report a release just
created that is not found by tag or in the list, and an asset just uploaded that 404s on
GET or PATCH, for about a second. With ``ServerConfig.read_after_write_lag`` set, a release
or asset created or edited less than that many seconds ago answers 404 to reads and edits
(GET by id, by tag, latest, PATCH) and is left out of the releases list. Guess: DELETE and
uploads into a fresh release are not delayed (no report says they are). Every request that
lag answered is counted as ``counters.hits("lag", ASSET_NAME_OR_None)``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["release", "asset"]
# Past this many notes, those older than the longest lag worth emulating are forgotten.
MAX_NOTES = 4096
LONGEST_LAG = 3600.0


@dataclass
class WriteLag:
    """When each release and asset was last written, on the monotonic clock."""

    written: dict[tuple[Kind, int], float] = field(default_factory=dict)

    def wrote(self, kind: Kind, ident: int) -> None:
        now = time.monotonic()
        self.written[(kind, ident)] = now
        if len(self.written) > MAX_NOTES:
            self.written = {k: t for k, t in self.written.items() if now - t < LONGEST_LAG}

    def lagging(self, kind: Kind, ident: int, lag: float) -> bool:
        """Whether a read of this object falls within ``lag`` seconds of its last write."""
        at = self.written.get((kind, ident))
        if at is None or lag <= 0:
            return False
        if time.monotonic() - at < lag:
            return True
        del self.written[(kind, ident)]
        return False
