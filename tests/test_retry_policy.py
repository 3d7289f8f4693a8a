"""The one retry layer and the other pure rules of the core, without a network."""

from __future__ import annotations

import email.utils
import functools

import anyio
import pytest

from gaama_async import IntegrityError, RetryPolicy, TransferError
from gaama_async._http import api_redirect, is_uploads_host_of, origin
from gaama_async._ratelimit import gate_extension, server_clock
from gaama_async._retry import Corrupt, RateLimited, TransientError

FAST = RetryPolicy(attempts=3, initial_wait=0.001, max_wait=0.002)


class Flaky:
    """An operation failing with ``errors`` in turn, then returning "ok"; counts calls."""

    def __init__(self, *errors: Exception, moves: int = 0) -> None:
        self.errors = list(errors)
        self.calls = 0
        self.moved = 0
        self.moves = moves

    async def __call__(self) -> str:
        self.calls += 1
        self.moved += self.moves
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


@pytest.mark.anyio
async def test_a_run_gives_up_after_its_attempts_with_transfer_error() -> None:
    flaky = Flaky(*[TransientError("boom")] * 5)
    with pytest.raises(TransferError, match="3 tries") as caught:
        await FAST.run(flaky, what="Doing it")
    assert flaky.calls == 3
    assert isinstance(caught.value.__cause__, TransientError)


@pytest.mark.anyio
async def test_a_run_inside_a_run_makes_one_try() -> None:
    inner = Flaky(*[TransientError("inner")] * 10)

    async def outer() -> str:
        return await FAST.run(inner, what="inner")

    with pytest.raises(TransferError):
        await FAST.run(outer, what="outer")
    assert inner.calls == 3  # 3 outer tries x 1 inner try, never 3 x 3


@pytest.mark.anyio
async def test_tasks_spawned_inside_a_run_do_not_retry_on_their_own() -> None:
    inner = Flaky(*[TransientError("inner")] * 10)

    async def outer() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(functools.partial(FAST.run, inner, what="inner"))

    with pytest.raises(BaseExceptionGroup) as caught:
        await FAST.run(outer, what="outer")
    assert caught.group_contains(TransientError)
    assert inner.calls == 1  # the group's TransientError is not a TransientError itself


@pytest.mark.anyio
async def test_moving_bytes_resets_the_budget() -> None:
    flaky = Flaky(*[TransientError("cut")] * 6, moves=1)
    assert await FAST.run(flaky, what="x", moved=lambda: flaky.moved) == "ok"
    assert flaky.calls == 7


@pytest.mark.anyio
async def test_rate_limited_tries_are_not_counted() -> None:
    flaky = Flaky(*[RateLimited("wait")] * 6)
    assert await FAST.run(flaky, what="x") == "ok"


@pytest.mark.anyio
async def test_bad_bytes_twice_end_as_integrity_error() -> None:
    flaky = Flaky(Corrupt("'m' did not match its sha256"), Corrupt("'m' did not match"))
    with pytest.raises(IntegrityError, match="corrupt"):
        await FAST.run(flaky, what="x", moved=lambda: flaky.calls)
    assert flaky.calls == 2


def test_backoff_grows_to_its_cap() -> None:
    policy = RetryPolicy(attempts=9, initial_wait=0.5, max_wait=4.0)
    assert [policy.backoff(n, 0.0) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert policy.backoff(1, 1.0) == 1.0


def test_server_clock_reads_the_date_header() -> None:
    stamp = 1_700_000_000.0
    assert server_clock(email.utils.formatdate(stamp, usegmt=True), 0.0) == stamp
    assert server_clock(None, 5.0) == 5.0
    assert server_clock("yesterday", 5.0) == 5.0


def test_concurrent_waits_extend_the_gate_once() -> None:
    assert gate_extension(open_at=0.0, now=100.0, wait=10.0) == 10.0
    assert gate_extension(open_at=110.0, now=100.0, wait=10.0) == 0.0
    assert gate_extension(open_at=105.0, now=100.0, wait=10.0) == 5.0


@pytest.mark.parametrize(
    ("api", "upload", "allowed"),
    [
        ("https://api.github.com", "https://uploads.github.com/repos/o/r/releases/1/assets", True),
        ("https://ghes.local/api/v3", "https://ghes.local/api/uploads/repos/o/r", True),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8001/repos/o/r/releases/1/assets", True),
        ("http://127.0.0.1:8000", "http://127.0.0.2:8000/repos/o/r/releases/1/assets", True),
        ("http://localhost:8000", "http://127.0.0.2:8000/repos/o/r/releases/1/assets", True),
        ("http://127.0.0.1:8000", "http://10.0.0.2:8000/repos/o/r/releases/1/assets", False),
        ("http://10.0.0.1:8000", "http://127.0.0.2:8000/repos/o/r/releases/1/assets", False),
        ("https://api.github.com", "https://evil.example/upload", False),
        ("https://api.github.com", "http://uploads.github.com/x", False),
        ("https://ghes.local/api/v3", "https://uploads.ghes.local.evil/x", False),
    ],
)
def test_the_token_goes_only_to_the_apis_uploads_host(api: str, upload: str, allowed: bool) -> None:
    assert is_uploads_host_of(api, upload) is allowed


def test_verbatim_redirects_are_followed_only_on_trusted_origins() -> None:
    trusted = {origin("https://api.github.com")}
    url = "https://api.github.com/repos/old/name/releases/tags/v1"
    moved = "https://api.github.com/repositories/42/releases/tags/v1"
    assert api_redirect(301, moved, url, trusted) == moved
    assert api_redirect(301, "/repositories/42/x", url, trusted) == (
        "https://api.github.com/repositories/42/x"
    )
    assert api_redirect(302, moved, url, trusted) is None  # a download's storage hop
    assert api_redirect(301, "https://elsewhere.example/x", url, trusted) is None


def test_an_answer_of_the_wrong_shape_is_a_transient_fault_not_a_key_error() -> None:
    from gaama_async._http import _parse
    from gaama_async.models import Release

    with pytest.raises(TransientError, match="wrong shape"):
        _parse(Release.from_json, {"message": "Moved Permanently"}, "release 'v1'")


def test_an_upload_url_on_a_foreign_host_is_refused_before_any_token_goes_there() -> None:
    from gaama_async import GaamaError
    from gaama_async._config import Pacing, Timeouts
    from gaama_async._http import GitHubHTTP
    from gaama_async._ratelimit import AdaptiveConcurrency

    http = GitHubHTTP(
        api_url="https://api.github.com",
        authorization="Bearer secret",
        retry=RetryPolicy(),
        pacing=Pacing(),
        timeouts=Timeouts(),
        concurrency=AdaptiveConcurrency(4),
    )
    http.trust("https://uploads.github.com/repos/o/r/releases/1/assets")
    assert http.is_trusted("https://uploads.github.com/repos/o/r/releases/1/assets")
    with pytest.raises(GaamaError, match="refusing to send the token"):
        http.trust("https://collector.example/repos/o/r/releases/1/assets")
    assert not http.is_trusted("https://collector.example/x")
    assert "secret" not in str(http._headers("https://collector.example/x", None))
