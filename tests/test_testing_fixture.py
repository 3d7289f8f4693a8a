"""gaama_async.testing, used the way a user's own test suite would use it."""

from __future__ import annotations

import hashlib
import os
import sys
import textwrap
from pathlib import Path

import anyio
import pytest

from gaama_async import GaAMA, RetryPolicy
from gaama_async._cache import ContentCache, default_cache_dir
from gaama_async.server import Fault, ReleaseServer
from gaama_async.testing import LocalGitHub, local_github

pytestmark = pytest.mark.anyio


async def load_model(client: GaAMA, directory: Path) -> Path:
    """A stand-in for a user's service start-up: download the model, return its path."""
    [path] = await client.download("v1", directory, include="*.bin")
    return path


async def test_client_publishes_and_a_service_downloads_through_a_fault(
    gaama_client: GaAMA, gaama_server: ReleaseServer, tmp_path: Path
) -> None:
    (tmp_path / "model.bin").write_bytes(b"weights" * 1000)
    await gaama_client.publish("v1", [tmp_path / "model.bin"])
    gaama_server.faults.add(
        # The repository is public: its download link comes from the web host.
        Fault("status", route="web.download", asset="model.bin", status=502)
    )

    path = await load_model(gaama_client, tmp_path / "models")

    assert path.read_bytes() == b"weights" * 1000
    assert gaama_server.counters.hits("status", "model.bin") == 1
    assert gaama_server.counters.statuses[502] == 1


async def test_env_points_a_plain_client_at_the_local_server(
    gaama_env: LocalGitHub, tmp_path: Path
) -> None:
    (tmp_path / "config.json").write_text("{}")
    async with GaAMA(retry=RetryPolicy(attempts=2, initial_wait=0.01)) as client:
        release = await client.publish("v2", [tmp_path / "config.json"])
    assert os.environ["GAAMA_API_URL"] == gaama_env.api_url
    assert os.environ["GITHUB_TOKEN"] == gaama_env.token
    assert client.owner == "acme" and client.repository == "models"
    assert [a.name for a in release.assets if a.name == "config.json"] == ["config.json"]
    assert "GH_TOKEN" not in os.environ


async def test_local_github_works_without_fixtures_and_cleans_up(tmp_path: Path) -> None:
    (tmp_path / "encoder.bin").write_bytes(b"e" * 10)
    async with local_github(repo="team/encoders", enterprise=True) as gh:
        root = gh.server.config.root
        assert gh.api_url.endswith("/api/v3") and gh.faults is gh.server.faults
        assert gh.env()["GITHUB_REPOSITORY"] == "team/encoders"
        await gh.client.publish("v1", [tmp_path / "encoder.bin"])
        names = sorted(a.name for a in await gh.client.list_assets("v1"))
        assert names == ["encoder.bin", "gaama-manifest.json"]
        assert gh.counters.requests["upload"] == 2
    assert not root.exists()


USER_TEST = """
import pytest
from gaama_async.server import Fault


@pytest.mark.anyio
async def test_publish_with_a_flaky_upload(gaama_client, gaama_server, tmp_path):
    (tmp_path / "w.bin").write_bytes(b"x" * 100)
    gaama_server.faults.add(Fault("status", route="upload", asset="w.bin", status=503))
    release = await gaama_client.publish("v1", [tmp_path / "w.bin"])
    assert "w.bin" in [a.name for a in release.assets]
    assert gaama_server.counters.hits("status", "w.bin") == 1
"""


async def test_the_plugin_loads_by_entry_point_in_a_fresh_pytest(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(textwrap.dedent(USER_TEST))
    result = await anyio.run_process(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error"],
        cwd=tmp_path,
        check=False,
    )
    output = result.stdout.decode() + result.stderr.decode()
    assert result.returncode == 0, output[-3000:]
    assert "1 passed" in output


# The example of README's "Testing your own service", verbatim.


async def readme_load_model(path: Path) -> list[Path]:  # your service's start-up code
    async with GaAMA(repo="acme/models") as client:
        return await client.download("v1", path)


async def test_readme_example(
    gaama_env: LocalGitHub, gaama_client: GaAMA, gaama_server: ReleaseServer, tmp_path: Path
) -> None:
    (tmp_path / "model.bin").write_bytes(b"weights")
    await gaama_client.publish("v1", [tmp_path / "model.bin"])
    gaama_server.faults.add(Fault("cut", route="storage", asset="model.bin", after_bytes=3))

    [path] = await readme_load_model(tmp_path / "models")

    assert path.read_bytes() == b"weights"
    assert gaama_server.counters.hits("cut", "model.bin") == 1


CACHE_USER_TESTS = """
from urllib.parse import unquote

import pytest
from gaama_async import GaAMA

MODEL = b"weights" * 100


def fetched(server):
    return sum(
        "model.bin" in unquote(r.path) for r in server.counters.log if r.route == "storage"
    )


async def publish(client, tmp_path):
    (tmp_path / "model.bin").write_bytes(MODEL)
    await client.publish("v1", [tmp_path / "model.bin"])


@pytest.mark.anyio
async def test_the_fixture_client_fetches(gaama_client, gaama_server, tmp_path):
    await publish(gaama_client, tmp_path)
    [path] = await gaama_client.download("v1", tmp_path / "out")
    assert path.read_bytes() == MODEL and fetched(gaama_server) == 1


@pytest.mark.anyio
async def test_a_plain_client_fetches_too(gaama_env, gaama_client, gaama_server, tmp_path):
    await publish(gaama_client, tmp_path)
    async with GaAMA() as own:
        [path] = await own.download("v1", tmp_path / "out")
    assert path.read_bytes() == MODEL and fetched(gaama_server) == 1
"""


def _tree(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
    }


async def test_each_test_gets_its_own_empty_cache_and_the_users_is_untouched(
    tmp_path: Path,
) -> None:
    """A user's cache already holding the model (planted) is neither read nor written.

    Were it read, the user tests' downloads would link model.bin instead of fetching it; two
    tests download the same file, so a cache shared between tests would answer the second.
    """
    home = tmp_path / "home"
    user_cache = home / ".cache" / "gaama-async"  # platformdirs' folder under XDG_CACHE_HOME
    planted = tmp_path / "planted.bin"
    planted.write_bytes(b"weights" * 100)
    await ContentCache(user_cache).add(planted, hashlib.sha256(planted.read_bytes()).hexdigest())
    before = _tree(home)
    assert any("/sha256/" in name for name in before)
    (tmp_path / "test_user.py").write_text(CACHE_USER_TESTS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAAMA_")}
    env |= {"HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")}

    result = await anyio.run_process(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error",
         "test_user.py"],
        cwd=tmp_path, env=env, check=False,
    )  # fmt: skip

    output = result.stdout.decode() + result.stderr.decode()
    assert result.returncode == 0, output[-3000:]
    assert "2 passed" in output
    assert _tree(home) == before


def test_our_own_suite_keeps_off_the_users_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """tests/conftest.py turns the cache off, and moves the default folder into the test's."""
    assert default_cache_dir() is None
    monkeypatch.delenv("GAAMA_CACHE_DIR")
    fallback = default_cache_dir()
    assert fallback is not None and fallback.is_relative_to(tmp_path_factory.getbasetemp())
