"""The pure parts of the registry features, with no server: the alias body, the draft check
and verify's judgement."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from gaama_async._aliasdoc import (
    MAX_HISTORY,
    alias_name_problem,
    aliases_by_target,
    new_alias,
    parse_alias,
    render_body,
)
from gaama_async._draftcheck import draft_problems, leftovers
from gaama_async._verifyplan import ExpectedFile, judge
from gaama_async.manifest import Manifest, ManifestEntry, ManifestPart
from gaama_async.models import Asset, Release

SHA_A = hashlib.sha256(b"a").hexdigest()
SHA_B = hashlib.sha256(b"b").hexdigest()


def _release(tag: str, body: str | None, **kw: Any) -> Release:
    return Release(1, tag, tag, kw.get("draft", False), True, "u", "h", "up{?name}", body)


def _asset(name: str, size: int, sha: str | None = None, state: str = "uploaded") -> Asset:
    digest = f"sha256:{sha}" if sha else None
    return Asset(7, name, size, state, digest, "application/octet-stream", None, "u", "b")


def test_an_alias_body_round_trips_and_shows_its_target_first() -> None:
    alias = new_alias("production", "v2", 11, by="octocat", at="2026-12-01T10:00:00Z")
    alias = alias.moved_to("v3", 12, by="ana", at="2026-12-02T10:00:00Z")
    body = render_body(alias, "acme/models", "https://web/acme/models/releases/tag/v3")
    assert body.splitlines()[0] == "Points to **v3**."
    assert "| 2026-12-02T10:00:00Z | ana | v2 | v3 |" in body
    assert parse_alias(_release("alias/production", body)) == alias


def test_a_tag_holding_the_comment_end_cannot_break_the_block() -> None:
    alias = new_alias("x", "v-->1", 3, by="o", at="t")
    body = render_body(alias, "acme/models")
    assert body.split("<!-- gaama-alias ")[1].count("-->") == 1  # only the block's own end
    assert parse_alias(_release("alias/x", body)) == alias


@pytest.mark.parametrize(
    ("tag", "body", "draft"),
    [
        ("v1", None, False),  # not an alias tag
        ("alias/x", "Points to **v1**.", False),  # no block: edited by hand
        ("alias/x", "<!-- gaama-alias {not json} -->", False),
        ("alias/y", None, False),
        ("alias/x", None, True),  # a draft is nobody's alias
    ],
)
def test_what_is_not_an_alias(tag: str, body: str | None, draft: bool) -> None:
    real = render_body(new_alias("x", "v1", 3, by="o", at="t"), "acme/models")
    release = _release(tag, real if body is None else body, draft=draft)
    assert parse_alias(release) is None


def test_the_history_keeps_the_last_moves_only() -> None:
    alias = new_alias("p", "v0", 1, by="o", at="t")
    for n in range(1, MAX_HISTORY + 10):
        alias = alias.moved_to(f"v{n}", n, by="o", at="t")
    assert len(alias.history) == MAX_HISTORY
    assert alias.history[-1].to_tag == f"v{MAX_HISTORY + 9}"


def test_aliases_are_grouped_by_target() -> None:
    bodies = {
        name: render_body(new_alias(name, "v1", 5, by="o", at="t"), "r")
        for name in ("stable", "production")
    }
    releases = [_release(f"alias/{n}", b) for n, b in bodies.items()]
    assert aliases_by_target(releases) == {5: ["production", "stable"]}


@pytest.mark.parametrize("name", ["", "a/b", ".hidden", "x.lock", "sp ace", "-x", "end."])
def test_alias_names_that_are_refused(name: str) -> None:
    assert alias_name_problem(name) is not None


def test_a_complete_draft_passes_and_a_damaged_one_says_why() -> None:
    manifest = Manifest(
        (
            ManifestEntry("a.bin", "a.bin", 1, SHA_A),
            ManifestEntry("big", None, 2, SHA_A, (ManifestPart("big.part001", 0, 1, SHA_A),
                                                   ManifestPart("big.part002", 1, 1, SHA_B))),
            ManifestEntry("empty", None, 0, SHA_A),
        )
    )  # fmt: skip
    good = [_asset("a.bin", 1, SHA_A), _asset("big.part001", 1), _asset("big.part002", 1, SHA_B)]
    assert draft_problems(good, manifest) == []
    bad = [_asset("a.bin", 2), _asset("big.part001", 1, SHA_B), _asset("x", 1, state="starter")]
    assert draft_problems(bad, manifest) == [
        "'a.bin' has 2 bytes, the manifest says 1",
        "'big.part001' is not the file the manifest names (sha256 differs)",
        "'big' lacks its asset 'big.part002'",
    ]
    assert [a.name for a in leftovers(bad)] == ["x"]
    assert draft_problems([], None) == ["it holds no files"]


def test_judge_names_the_part_that_differs() -> None:
    expected = ExpectedFile("big", 2, SHA_A, ((0, 1, SHA_A), (1, 1, SHA_B)))
    assert judge(expected, 2, SHA_A, [SHA_A, SHA_B]) is None
    mismatch = judge(expected, 2, SHA_B, [SHA_A, SHA_A])
    assert mismatch is not None and mismatch.parts == (2,)
    assert "part 2 of 2" in mismatch.reason
    short = judge(expected, 1, SHA_A, [SHA_A])
    assert short is not None and short.reason == "has 1 bytes, expected 2"
    assert judge(ExpectedFile("n", 1, None), 1, SHA_B, [SHA_B]) is None  # no digest: size only
