"""The tag-name rule, pure: what ``git check-ref-format refs/tags/NAME`` accepts."""

from __future__ import annotations

import pytest

from gaama_async.server.tagnames import is_valid_tag_name, tag_name_problem

VALID = [
    "v1",
    "v1.0.0",
    "1.0",
    "release/2024/01",
    "vé",
    "модель-1",
    "v1.0.0-rc.1+build.5",
    "a.b",
    "a@b",
    "@a",
    "a@",
    "-leading-dash",
    "x.lockx",
    "lock",
    "a/b.c/d",
    "weird!#$%&'()=,;<>|\"`{}",
]

INVALID = [
    ("", "empty"),
    ("@", "the single @"),
    ("vé 1", "forbidden character ' '"),
    ("../x", "contains '..'"),
    ("a..b", "contains '..'"),
    ("a~1", "forbidden character '~'"),
    ("a^1", "forbidden character '^'"),
    ("a:b", "forbidden character ':'"),
    ("a?", "forbidden character '?'"),
    ("a*", "forbidden character '*'"),
    ("a[0]", "forbidden character '['"),
    ("a\\b", "forbidden character '\\\\'"),
    ("tab\there", "forbidden character '\\t'"),
    ("nul\x00", "forbidden character '\\x00'"),
    ("del\x7f", "forbidden character '\\x7f'"),
    ("bell\x07", "forbidden character '\\x07'"),
    ("a@{1}", "contains '@{'"),
    ("a//b", "contains '//'"),
    ("/a", "starts or ends with '/'"),
    ("a/", "starts or ends with '/'"),
    ("a.", "ends with '.'"),
    ("v1.0.", "ends with '.'"),
    (".hidden", "a component starts with '.'"),
    ("a/.b", "a component starts with '.'"),
    ("a.lock", "a component ends with '.lock'"),
    ("a.lock/b", "a component ends with '.lock'"),
]


@pytest.mark.parametrize("name", VALID)
def test_git_accepts(name: str) -> None:
    assert tag_name_problem(name) is None and is_valid_tag_name(name)


@pytest.mark.parametrize(("name", "problem"), INVALID)
def test_git_refuses(name: str, problem: str) -> None:
    assert tag_name_problem(name) == problem
    assert not is_valid_tag_name(name)


@pytest.mark.parametrize("code", [*range(0x20), 0x7F])
def test_every_control_character_is_refused(code: int) -> None:
    assert not is_valid_tag_name(f"v{chr(code)}1")


@pytest.mark.parametrize("char", list(" ~^:?*[\\"))
def test_every_forbidden_character_is_refused_anywhere(char: str) -> None:
    for name in (f"{char}v", f"v{char}1", f"v{char}"):
        assert not is_valid_tag_name(name)


def test_printable_ascii_other_than_the_forbidden_set_is_accepted() -> None:
    allowed = [chr(c) for c in range(0x21, 0x7F) if chr(c) not in "~^:?*[\\./@"]
    assert all(is_valid_tag_name(f"v{c}1") for c in allowed)
