"""Which names may land as plain files in a download folder: the rules, pure.

Asset names and manifest entries come from the server, and a hostile mirror controls them;
local names come from the disk and may not be valid Unicode. Both are checked here, once.
"""

from __future__ import annotations

import sys
import unicodedata

#: The one hidden entry a download keeps in the destination folder.
PRIVATE_FOLDER = ".gaama"


class UnsafeNameError(ValueError):
    """A name from the server that would not land as a plain file inside the target folder."""


_WINDOWS_DEVICES = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{port}{n}" for port in ("COM", "LPT") for n in [*"123456789", "¹", "²", "³"]]
)
_WINDOWS_FORBIDDEN = frozenset('<>:"|?*')


def windows_problem(name: str) -> str | None:
    """Why Windows could not hold ``name`` as a plain file, or None.

    Device names (``CON``, ``nul.txt``: the part before the first dot counts), a trailing dot
    or space (Windows strips it, so two names would collide), and ``<>:"|?*`` (``a:b`` names
    an alternate data stream).
    """
    if name.split(".")[0].rstrip(" ").upper() in _WINDOWS_DEVICES:
        return "is a reserved device name on Windows"
    if name.endswith((".", " ")):
        return "ends with a dot or a space, which Windows strips"
    if any(c in _WINDOWS_FORBIDDEN for c in name):
        return 'holds one of <>:"|?*, which Windows forbids'
    return None


def name_problem(name: str, *, windows: bool) -> str | None:
    """Why ``name`` is not a plain file name in a folder, or None; pure."""
    if not name or name in (".", ".."):
        return "is not a file name"
    if any(sep in name for sep in ("/", "\\", "\x00")):
        return "holds a path separator or NUL"
    if any(unicodedata.category(c) == "Cs" for c in name):
        return "is not valid Unicode (a lone surrogate, or bytes that are not UTF-8)"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "holds a control character"
    if name.casefold() == PRIVATE_FOLDER:
        return "is the name of gaama's private folder"
    return windows_problem(name) if windows else None


def safe_filename(name: str, *, platform: str = sys.platform) -> str:
    """Return ``name`` if it is a plain file name here, else raise ``UnsafeNameError``.

    Asset names and manifest entries are untrusted: a hostile mirror could send ``../x``, an
    absolute path, a backslash path, a NUL, a control character, or (JSON allows it) a lone
    surrogate such as ``\\udcff``. A local name decoded by ``os.fsdecode`` from bytes that are
    not UTF-8 carries such surrogates too, and is refused for the same reason: it cannot be
    sent to GitHub. Windows' reserved names are refused only on Windows.
    """
    problem = name_problem(name, windows=platform.startswith("win"))
    if problem is not None:
        raise UnsafeNameError(f"refusing unsafe file name {name!r}: it {problem}")
    return name
