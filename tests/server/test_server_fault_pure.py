"""Pure parts of the fault machinery, without sockets: matching, chunking, redirects, renames."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web

from gaama_async.server.blobs import BlobVersions
from gaama_async.server.bodies import next_chunk
from gaama_async.server.faults import Fault, FaultSet
from gaama_async.server.moves import by_id_routes, moved_location, redirect_status
from gaama_async.server.renames import Renames
from gaama_async.server.store import Store


def test_aiming_at_an_asset_asks_for_the_name_only_when_needed() -> None:
    asked: list[str] = []

    def about() -> str | None:
        asked.append("asked")
        return "model.bin"

    faults = FaultSet()
    faults.add(Fault("status", route="api.*"))
    assert faults.take("storage", {"status"}, asset=about) is None
    assert asked == []  # no fault names an asset: no lookup
    scoped = faults.add(Fault("status", route="storage", asset="*.json"))
    assert faults.take("storage", {"status"}, asset=about) is None
    assert asked == ["asked"] and scoped.hits == 0
    hit = faults.add(Fault("status", route="storage", asset="model.*"))
    assert faults.take("storage", {"status"}, asset=about) is hit and hit.hits == 1
    assert faults.take("storage", {"status"}) is None  # about no asset: never hit


@pytest.mark.parametrize(
    ("left", "sent", "stop_at", "expected"),
    [
        (10_000_000, 0, None, 256 * 1024),
        (100, 0, None, 100),
        (10_000, 0, 1000, 1000),
        (10_000, 1000, None, 10_000),
        (10_000, 500, 1000, 500),
        (10_000, 2000, 1000, 10_000),  # past the stop point: it no longer limits
    ],
)
def test_next_chunk_never_passes_a_stop_point(
    left: int, sent: int, stop_at: int | None, expected: int
) -> None:
    assert next_chunk(None, left, sent, stop_at) == expected


def test_redirect_status_keeps_the_method_for_writes() -> None:
    assert [redirect_status(m) for m in ("GET", "HEAD", "POST", "PATCH", "DELETE")] == [
        301,
        301,
        307,
        307,
        307,
    ]


@pytest.mark.parametrize(
    ("raw_path", "query", "expected"),
    [
        ("/repos/o/r", "", "API/repositories/7"),
        ("/repos/o/r/releases", "per_page=1", "API/repositories/7/releases?per_page=1"),
        ("/api/v3/repos/o/r/releases/tags/v%2F1", "", "API/repositories/7/releases/tags/v%2F1"),
    ],
)
def test_moved_location(raw_path: str, query: str, expected: str) -> None:
    assert moved_location("API", 7, raw_path, query) == expected


def test_by_id_routes_adds_each_missing_twin_once() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        raise AssertionError

    routes = [
        web.get("/repos/{owner}/{repo}/releases", handler),
        web.get("/repositories/{repo_id:\\d+}/releases", handler),
        web.patch("/repos/{owner}/{repo}", handler),
        web.get("/rate_limit", handler),
    ]
    twins = [(r.method, r.path) for r in by_id_routes(routes)[len(routes) :]]
    assert twins == [("PATCH", "/repositories/{repo_id:\\d+}")]


def test_blob_versions_count_rewrites() -> None:
    versions = BlobVersions()
    assert versions.get("b").generation == 0 and versions.get("b").modified is None
    versions.replace("b")
    second = versions.replace("b")
    assert versions.get("b") == second and second.generation == 2
    assert versions.get("other").generation == 0


def test_renames_persist_and_a_name_taken_back_stops_redirecting(tmp_path: Path) -> None:
    store = Store(tmp_path)
    repo = store.create_repo("octo", "models")
    Renames(tmp_path).rename(store, repo, "octo", "weights")
    again = Renames(tmp_path)
    assert again.moved_to("OCTO", "Models") == repo.id
    again.rename(store, repo, "octo", "models")
    assert Renames(tmp_path).moved_to("octo", "models") is None
    assert Renames(tmp_path).moved_to("octo", "weights") == repo.id
    other = store.create_repo("octo", "other")
    with pytest.raises(ValueError):
        again.rename(store, other, "octo", "models")
