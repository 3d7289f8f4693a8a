"""Which tag names git accepts: the rules of ``git check-ref-format`` for ``refs/tags/NAME``.

Pure, so the rule is tested on its own; the API turns a refusal into GitHub's 422.
"""

from __future__ import annotations

# Characters git never allows in a ref name, besides ASCII control characters.
_FORBIDDEN = frozenset(" ~^:?*[\\")


def tag_name_problem(name: str) -> str | None:
    """Why git would refuse ``refs/tags/{name}``, or None when the name is valid.

    The rules, in ``git check-ref-format``'s order: no component starts with ``.`` or ends
    with ``.lock``; no ``..``; no ASCII control character, space, ``~ ^ : ? * [`` or
    backslash; no leading, trailing or doubled ``/``; no trailing ``.``; no ``@{``; and not
    the single ``@``. Non-ASCII letters are fine (git allows them).
    """
    if not name:
        return "empty"
    if name == "@":
        return "the single @"
    bad = next((c for c in name if ord(c) < 0x20 or ord(c) == 0x7F or c in _FORBIDDEN), None)
    if bad is not None:
        return f"forbidden character {bad!r}"
    for fragment, why in (("..", "'..'"), ("@{", "'@{'"), ("//", "'//'")):
        if fragment in name:
            return f"contains {why}"
    if name.startswith("/") or name.endswith("/"):
        return "starts or ends with '/'"
    if name.endswith("."):
        return "ends with '.'"
    for component in name.split("/"):
        if component.startswith("."):
            return "a component starts with '.'"
        if component.endswith(".lock"):
            return "a component ends with '.lock'"
    return None


def is_valid_tag_name(name: str) -> bool:
    """Whether git accepts ``name`` as a tag (see :func:`tag_name_problem`)."""
    return tag_name_problem(name) is None
