"""A local GitHub for your own tests: no network, no mocks.

Code that publishes models or downloads them at start-up can be tested against the local
release server gaama ships, over real sockets. Two ways in:

**pytest fixtures** (this module is a pytest plugin, registered by the ``gaama`` entry point
when ``gaama-async`` is installed; async fixtures need the anyio plugin, which comes with
anyio, so mark the tests ``@pytest.mark.anyio``)::

    import pytest
    from gaama_async.server import Fault

    @pytest.mark.anyio
    async def test_service_downloads_its_model(gaama_client, gaama_server, tmp_path):
        (tmp_path / "model.bin").write_bytes(b"weights")
        await gaama_client.publish("v1", [tmp_path / "model.bin"])
        gaama_server.faults.add(Fault("cut", route="storage", asset="model.bin", after_bytes=3))
        paths = await my_service.load_model(gaama_client, tmp_path / "models")  # your code
        assert paths[0].read_bytes() == b"weights"
        assert gaama_server.counters.hits("cut", "model.bin") == 1

Aim a fault at the asset it is about (``asset=``): every download reads
``gaama-manifest.json`` first, and a fault that hit the manifest instead tests nothing you
meant; ``counters.hits(action, asset)`` says what it hit.

``gaama_server`` is a running :class:`~gaama_async.server.ReleaseServer` (state in a temporary
directory), ``gaama_client`` a :class:`~gaama_async.GaAMA` for ``acme/models`` pointed at it
with short retry waits, ``gaama_github`` both plus the token and URL (a :class:`LocalGitHub`),
and ``gaama_env`` sets ``GAAMA_API_URL``, ``GITHUB_TOKEN``, ``GITHUB_REPOSITORY`` and
``GAAMA_CACHE_DIR`` for code that builds its own ``GaAMA()``. The names start with ``gaama_``
so they never shadow yours.

Each test gets its own empty download cache (in a temporary folder): a file cached by an
earlier test, or by your own downloads in ``~/.cache/gaama-async``, would otherwise be linked
into place instead of fetched, and the test would measure the cache instead of your code.

**An async context manager**, for scripts or other test runners::

    async with local_github() as gh:
        await gh.client.publish("v1", ["model.bin"])
        print(gh.api_url, gh.token, gh.server.counters.snapshot())
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Literal

from ._retry import RetryPolicy
from .client import GaAMA
from .server import Counters, FaultSet, ReleaseServer, ServerConfig

DEFAULT_REPO = "acme/models"
DEFAULT_TOKEN = "gaama-test-token"
# Faults are retried within milliseconds, so tests that inject them stay fast.
TEST_RETRY = RetryPolicy(attempts=4, initial_wait=0.01, max_wait=0.05)

__all__ = [
    "DEFAULT_REPO",
    "DEFAULT_TOKEN",
    "TEST_RETRY",
    "LocalGitHub",
    "gaama_client",
    "gaama_env",
    "gaama_github",
    "gaama_server",
    "local_github",
]


@dataclass(frozen=True)
class LocalGitHub:
    """A running local release server and a client pointed at it."""

    server: ReleaseServer
    client: GaAMA
    repo: str
    token: str
    # The client's download cache (None: off); env() hands it on to code that builds its own.
    cache_dir: Path | None = None

    @property
    def api_url(self) -> str:
        """The API base URL: what ``GAAMA_API_URL`` or ``GaAMA(api_url=...)`` takes."""
        return self.server.api_url

    @property
    def faults(self) -> FaultSet:
        """The server's fault knobs: ``gh.faults.add(Fault("cut", asset="model.bin", ...))``."""
        return self.server.faults

    @property
    def counters(self) -> Counters:
        """The server's live request counters (requests per route, statuses, bytes)."""
        return self.server.counters

    def env(self) -> dict[str, str]:
        """The environment a process needs to reach this server with a plain ``GaAMA()``."""
        return {
            "GAAMA_API_URL": self.api_url,
            "GITHUB_TOKEN": self.token,
            "GITHUB_REPOSITORY": self.repo,
            "GAAMA_CACHE_DIR": "off" if self.cache_dir is None else str(self.cache_dir),
        }


@asynccontextmanager
async def local_github(
    root: Path | None = None,
    *,
    repo: str = DEFAULT_REPO,
    token: str = DEFAULT_TOKEN,
    retry: RetryPolicy = TEST_RETRY,
    cache_dir: Path | Literal[False] | None = None,
    **server_options: Any,
) -> AsyncIterator[LocalGitHub]:
    """Run a local release server and yield it with a client for ``repo``.

    State lives under ``root``, or in a temporary directory removed afterwards.
    ``server_options`` are :class:`~gaama_async.server.ServerConfig` fields, e.g.
    ``enterprise=True``, ``private=True`` or ``bandwidth=1e6``. The client retries after
    milliseconds (``retry``) so injected faults do not slow tests down. Its download cache is
    ``cache_dir`` (``False``: off), by default an empty one in the temporary directory: the
    user's own cache is never read or written.
    """
    with tempfile.TemporaryDirectory(prefix="gaama-github-") as scratch:
        config = ServerConfig(
            root=Path(scratch) / "github" if root is None else root,
            tokens={token: repo.partition("/")[0]},
            **{**server_options, "repos": (repo, *server_options.get("repos", ()))},
        )
        cache = Path(scratch) / "cache" if cache_dir is None else cache_dir or None
        async with (
            ReleaseServer(config) as server,
            GaAMA(
                repo=repo,
                token=token,
                api_url=server.api_url,
                retry=retry,
                cache_dir=cache or False,
            ) as client,
        ):
            yield LocalGitHub(server, client, repo, token, cache)


# The fixtures need pytest; local_github() works without it (pytest is not a runtime dependency).
if find_spec("pytest") is not None:
    import pytest

    @pytest.fixture
    async def gaama_github(
        tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
    ) -> AsyncIterator[LocalGitHub]:
        """A running local GitHub (state under ``tmp_path``) and a client for ``acme/models``.

        The client's download cache is this test's own, empty at the start (outside
        ``tmp_path``, so it does not show up among the test's files).
        """
        cache = tmp_path_factory.mktemp("gaama-cache")
        async with local_github(tmp_path / "gaama-github", cache_dir=cache) as running:
            yield running

    @pytest.fixture
    def gaama_server(gaama_github: LocalGitHub) -> ReleaseServer:
        """The running local release server: ``.faults``, ``.counters``, ``.api_url``."""
        return gaama_github.server

    @pytest.fixture
    def gaama_client(gaama_github: LocalGitHub) -> GaAMA:
        """A :class:`~gaama_async.GaAMA` for ``acme/models`` pointed at ``gaama_server``."""
        return gaama_github.client

    @pytest.fixture
    def gaama_env(gaama_github: LocalGitHub, monkeypatch: pytest.MonkeyPatch) -> LocalGitHub:
        """Point code that builds its own ``GaAMA()`` at the local server, via the environment.

        Sets ``GAAMA_API_URL``, ``GITHUB_TOKEN``, ``GITHUB_REPOSITORY`` and ``GAAMA_CACHE_DIR``
        (the test's own cache, shared with ``gaama_client``) and removes the variables that
        would take precedence, leak a real token or skip the server (``GH_TOKEN``,
        ``GITHUB_API_URL``, ``GAAMA_OFFLINE``); everything is restored after the test.
        """
        for name in ("GH_TOKEN", "GITHUB_API_URL", "GAAMA_OFFLINE"):
            monkeypatch.delenv(name, raising=False)
        for name, value in gaama_github.env().items():
            monkeypatch.setenv(name, value)
        return gaama_github
