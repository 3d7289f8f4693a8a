"""GitHub's renaming of asset names (spec section 8), shared by the client and the server.

GitHub does not document the algorithm; this rule reproduces every renamed example the spec
collects, so the client can predict the stored name and the server can store it.
"""

from __future__ import annotations

import re
import unicodedata

from .models import Asset

# Letters that NFKD does not decompose into an ASCII base letter.
_TRANSLITERATIONS = {
    "ð": "d", "Ð": "D", "æ": "ae", "Æ": "AE", "ŋ": "ng", "Ŋ": "NG", "ø": "o", "Ø": "O",
    "ß": "ss", "þ": "th", "Þ": "TH", "œ": "oe", "Œ": "OE", "ł": "l", "Ł": "L", "đ": "d",
    "Đ": "D", "\u0131": "i",
}  # fmt: skip
_SPECIAL = re.compile(r"[^A-Za-z0-9._+\-]")
_DOTS = re.compile(r"\.{2,}")


def _transliterate(char: str) -> str:
    if char.isascii():
        return char
    if char in _TRANSLITERATIONS:
        return _TRANSLITERATIONS[char]
    if not char.isalpha():
        return "."
    base = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode("ascii")
    return base or "."


def normalize_asset_name(name: str) -> str:
    """Return the name GitHub stores for an upload sent with ``name`` (decoded)."""
    ascii_name = "".join(_transliterate(c) for c in name)
    dotted = _DOTS.sub(".", _SPECIAL.sub(".", ascii_name)).rstrip(".")
    if dotted.startswith("."):
        dotted = "default" + dotted
    return dotted


def name_problem(name: str) -> str | None:
    """Why GitHub cannot take a local file named ``name``, or None when it can.

    A name that is not valid UTF-8 on disk reaches Python as lone surrogates
    (``os.fsdecode(b"w\\xff.bin")``); it cannot be sent in a URL or written to the manifest.
    """
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "its name is not valid UTF-8"
    if not normalize_asset_name(name):
        return "GitHub would store it under an empty name"
    return None


def printable_name(name: str) -> str:
    """``name`` for a message: undecodable bytes shown as ``\\xff`` escapes."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


#: The suffix of the temporary copy a replace uploads before it swaps names.
REPLACING_SUFFIX = ".gaama-replacing"


def is_leftover(asset: Asset) -> bool:
    """A temporary copy from a replace that did not finish (the run died before renaming)."""
    return asset.name.endswith(REPLACING_SUFFIX)
