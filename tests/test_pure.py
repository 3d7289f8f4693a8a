"""The pure decisions: names, rate limits, error mapping, manifest, safe paths, selection."""

from __future__ import annotations

import inspect

import pytest

import gaama_async
from gaama_async._config import RepoRef
from gaama_async._filenames import UnsafeNameError, safe_filename
from gaama_async._names import normalize_asset_name
from gaama_async._plan import selected
from gaama_async._ratelimit import classify_rate_limit
from gaama_async._responses import error_for_status, validation_codes
from gaama_async.client import _api_url
from gaama_async.errors import AuthenticationError, NotFoundError, RateLimitError
from gaama_async.manifest import Manifest, ManifestEntry, ManifestError

SHA = "a" * 64


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("plugin a.zip", "plugin.a.zip"),
        ("my title.exe", "my.title.exe"),
        ("pkg-1.1.0-1~buster_amd64.deb", "pkg-1.1.0-1.buster_amd64.deb"),
        ("x:y", "x.y"),
        ("app-v1.3.0-(15-5)-6064eac.apk", "app-v1.3.0-.15-5.-6064eac.apk"),
        ("test~file!!!", "test.file"),
        (".config", "default.config"),
        ("a5_ð_æ_©_ŋ.txt", "a5_d_ae_._ng.txt"),
        ("x+y.tgz", "x+y.tgz"),
        ("café model.bin", "cafe.model.bin"),
        ("model.safetensors", "model.safetensors"),
    ],
)
def test_normalize_asset_name_matches_githubs_renames(sent: str, stored: str) -> None:
    assert normalize_asset_name(sent) == stored


def test_primary_limit_waits_until_reset_plus_one_second() -> None:
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1000"}
    limit = classify_rate_limit(403, headers, "API rate limit exceeded for user ID 1.", now=990)
    assert limit is not None
    assert (limit.kind, limit.wait) == ("primary", 11.0)


def test_retry_after_wins_over_everything() -> None:
    headers = {"retry-after": "7", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "5000"}
    limit = classify_rate_limit(429, headers, "", now=0)
    assert limit is not None and limit.wait == 7.0


def test_secondary_without_retry_after_waits_the_configured_minimum() -> None:
    message = "You have exceeded a secondary rate limit and have been temporarily blocked"
    limit = classify_rate_limit(403, {}, message, now=0, secondary_wait=60)
    assert limit is not None
    assert (limit.kind, limit.wait) == ("secondary", 60)


def test_repeated_secondary_limits_back_off_exponentially_with_jitter() -> None:
    message = "You have exceeded a secondary rate limit"
    waits = [
        classify_rate_limit(403, {}, message, now=0, secondary_wait=60, strikes=n).wait  # type: ignore[union-attr]
        for n in range(3)
    ]
    assert waits == [60, 120, 240]
    jittered = classify_rate_limit(403, {}, message, now=0, secondary_wait=60, jitter=1.0)
    assert jittered is not None and jittered.wait == pytest.approx(66)
    with_header = classify_rate_limit(403, {"retry-after": "5"}, message, now=0, strikes=4)
    assert with_header is not None and with_header.wait == 5


def test_plain_403_is_not_a_rate_limit() -> None:
    message = "Resource not accessible by personal access token"
    assert classify_rate_limit(403, {"x-ratelimit-remaining": "4999"}, message, now=0) is None
    assert classify_rate_limit(404, {}, "Not Found", now=0) is None


def test_error_mapping_names_what_failed_and_never_echoes_credentials() -> None:
    error = error_for_status(401, {"message": "Bad credentials"}, what="release 'v1' of a/b")
    assert isinstance(error, AuthenticationError)
    assert "release 'v1' of a/b" in str(error) and "GITHUB_TOKEN" in str(error)
    assert isinstance(error_for_status(404, {}, what="x"), NotFoundError)
    limited = error_for_status(403, {"message": "x"}, what="x", rate_limit_reset=5.0)
    assert isinstance(limited, RateLimitError) and limited.reset_at == 5.0


def test_validation_codes_read_field_and_code() -> None:
    payload = {"errors": [{"resource": "ReleaseAsset", "code": "already_exists", "field": "name"}]}
    assert validation_codes(payload) == {("name", "already_exists")}
    assert validation_codes("not json") == set()


def test_manifest_round_trips_and_merges_by_file_name() -> None:
    one = Manifest((ManifestEntry("a b.bin", "a.b.bin", 3, SHA),))
    merged = one.merged(
        [ManifestEntry("empty", None, 0, SHA), ManifestEntry("a b.bin", "a.b.bin", 4, SHA)]
    )
    assert Manifest.from_bytes(merged.to_bytes()) == merged
    assert merged.by_name()["a b.bin"].size == 4
    assert set(merged.by_asset()) == {"a.b.bin"}


@pytest.mark.parametrize(
    "raw",
    [b"{", b"[]", b'{"format": 99, "files": []}', b'{"format": 1, "files": [{"name": 1}]}'],
)
def test_manifest_rejects_malformed_documents(raw: bytes) -> None:
    with pytest.raises(ManifestError):
        Manifest.from_bytes(raw)


@pytest.mark.parametrize(
    "name",
    ["", ".", "..", "../x", "/etc/passwd", "a\\b", "a\x00b", "a\nb"],  # C:evil: Windows
)
def test_unsafe_names_are_refused(name: str) -> None:
    with pytest.raises(UnsafeNameError):
        safe_filename(name)


def test_plain_names_are_accepted() -> None:
    assert safe_filename("model weights.bin") == "model weights.bin"
    assert safe_filename("..hidden") == "..hidden"


def test_include_and_exclude_globs() -> None:
    assert selected(("a.bin",), None, None)
    assert selected(("a.bin",), "*.bin", None)
    assert not selected(("a.txt",), ["*.bin"], None)
    assert not selected(("a.bin",), "*", "a.*")
    assert selected(("orig name.txt", "orig.name.txt"), "orig name*", None)


def test_repo_forms() -> None:
    assert RepoRef.parse("acme/models") == RepoRef("acme", "models")
    assert RepoRef("a c", "m/x", "https://h/api/v3").url == "https://h/api/v3/repos/a%20c/m%2Fx"
    for bad in ("acme", "acme/", "/models", "a/b/c"):
        with pytest.raises(ValueError, match="owner/name"):
            RepoRef.parse(bad)


def test_api_url_needs_a_scheme_and_a_host() -> None:
    assert _api_url("https://ghes.local/api/v3/") == "https://ghes.local/api/v3"
    for bad in ("localhost:8080", "ftp://h", "http://", "api.github.com"):
        with pytest.raises(ValueError, match="http"):
            _api_url(bad)


def test_public_surface_is_sorted_and_complete() -> None:
    exported = gaama_async.__all__
    assert exported == sorted(exported)
    public = {
        name
        for name, value in vars(gaama_async).items()
        if (not name.startswith("_") or name == "__version__") and not inspect.ismodule(value)
    }
    assert public == set(exported)
