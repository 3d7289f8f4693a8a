"""The client parses every recorded real GitHub answer into its models or the right error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gaama_async import Asset, GaamaError, Release
from gaama_async._responses import error_for_status, validation_codes
from gaama_async.upload import UploadSource, _upload_refused

# A copy of the recordings lives with the tests (tests/fixtures/github-recorded/README.md), so
# these tests always run.
RECORDED = Path(__file__).parent / "fixtures" / "github-recorded"


def _exchanges() -> list[dict[str, Any]]:
    found = []
    for path in sorted(RECORDED.glob("*.normalized.json")):
        found += [dict(e, file=path.name) for e in json.loads(path.read_text())]
    return found


EXCHANGES = _exchanges()


def _ids(kind: str) -> list[Any]:
    return [
        pytest.param(e, id=f"{e['file']}:{e['method']}:{e['status']}")
        for e in EXCHANGES
        if kind == _kind(e)
    ]


def _kind(exchange: dict[str, Any]) -> str:
    body, path = exchange["response"], exchange["path"].split("?")[0]
    if exchange["status"] >= 400:
        return "error"
    if isinstance(body, dict) and "tag_name" in body:
        return "release"
    if isinstance(body, dict) and "browser_download_url" in body:
        return "asset"
    if isinstance(body, list) and path.endswith("/assets"):
        return "asset-list"
    return "other"


@pytest.mark.parametrize("exchange", _ids("release"))
def test_recorded_releases_parse(exchange: dict[str, Any]) -> None:
    release = Release.from_json(exchange["response"])
    assert release.tag == exchange["response"]["tag_name"]
    assert release.upload_base.endswith("/assets") and "{" not in release.upload_base


@pytest.mark.parametrize("exchange", _ids("asset") + _ids("asset-list"))
def test_recorded_assets_parse(exchange: dict[str, Any]) -> None:
    body = exchange["response"]
    for item in body if isinstance(body, list) else [body]:
        asset = Asset.from_json(item)
        assert asset.name == item["name"] and asset.size == item["size"]
        assert asset.is_uploaded == (item["state"] == "uploaded")
        assert asset.sha256 is None  # recorded before GitHub exposed digests


@pytest.mark.parametrize("exchange", _ids("error"))
def test_recorded_errors_map_to_typed_exceptions(exchange: dict[str, Any]) -> None:
    body = exchange["response"]
    error = error_for_status(exchange["status"], body, what="the recorded request")
    assert isinstance(error, GaamaError) and error.status == exchange["status"]
    assert body["message"] in str(error)
    if ("name", "already_exists") in validation_codes(body):
        refused = _upload_refused(error, UploadSource("test-upload.txt", 1), "x", _release())
        assert type(refused).__name__ == "AssetConflictError"


def _release() -> Release:
    return Release(1, "v1", None, False, False, "u", "h", "https://up/x/assets{?name,label}")


def test_the_recordings_cover_every_kind() -> None:
    kinds = {_kind(e) for e in EXCHANGES}
    assert {"release", "asset", "asset-list", "error"} <= kinds
