"""The GitHub CLI, ``gh``, against the local server in the GHES layout over TLS, as a user
points it at a GitHub Enterprise host: ``GH_HOST=localhost:PORT``, the token stored for that
host in ``hosts.yml`` (as ``gh auth login`` stores it), ``SSL_CERT_FILE`` naming the server's
local CA, verification on.

The setup installs gh from Debian when it is missing (``apt-get install -y gh``, as root);
the tests are skipped, saying why, only when that cannot be done. Each test drives gh through
one part of the release workflow and checks both gh's exit code and what the server holds.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest
from debian import debian_tool
from helpers import TOKEN

from gaama_async.server import ReleaseServer, ServerConfig

pytestmark = pytest.mark.anyio

OWNER, NAME = "octo", "models"
REPO = f"{OWNER}/{NAME}"


def gh_binary() -> str | None:
    """``gh``, installed from Debian by the setup when missing."""
    return debian_tool("gh")


@dataclass
class GhRun:
    code: int
    out: str
    err: str


@dataclass
class GhHost:
    """A running server and the environment that points gh at it."""

    server: ReleaseServer
    env: dict[str, str]
    work: Path

    async def gh(self, *args: str) -> GhRun:
        gh = gh_binary()
        assert gh is not None
        with anyio.fail_after(60):
            done = await anyio.run_process(
                [gh, *args, "-R", REPO], env=self.env, cwd=self.work, check=False
            )
        return GhRun(done.returncode, done.stdout.decode(), done.stderr.decode())

    def releases(self) -> list[tuple[str, bool, list[str]]]:
        """(tag, draft, sorted asset names) of each release, newest first, as the server has it."""
        store = self.server.store
        repo = store.find_repo(OWNER, NAME)
        assert repo is not None
        return [
            (r.tag_name, r.draft, sorted(a.name for a in store.assets(r)))
            for r in store.releases(repo)
        ]

    def tags(self) -> list[str]:
        store = self.server.store
        repo = store.find_repo(OWNER, NAME)
        assert repo is not None
        return list(store.tags(repo))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
async def host(tmp_path: Path) -> AsyncIterator[GhHost]:
    if gh_binary() is None:
        pytest.skip(
            "gh is not installed and could not be installed from Debian (apt-get install gh)"
        )
    port = _free_port()
    config = ServerConfig(
        root=tmp_path / "ghes", host="localhost", api_port=port, tokens={TOKEN: "octocat"},
        enterprise=True, tls=True, repos=(REPO,),
    )  # fmt: skip
    config_dir = tmp_path / "gh-config"
    config_dir.mkdir()
    (config_dir / "hosts.yml").write_text(
        f"localhost:{port}:\n    oauth_token: {TOKEN}\n    user: octocat\n    git_protocol: https\n"
    )
    work = tmp_path / "work"
    work.mkdir()
    async with ReleaseServer(config) as server:
        assert server.ca_file is not None
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp_path),
            "GH_CONFIG_DIR": str(config_dir),
            "GH_HOST": f"localhost:{port}",
            "SSL_CERT_FILE": str(server.ca_file),
            "GH_PROMPT_DISABLED": "1",
            "GH_NO_UPDATE_NOTIFIER": "1",
            "NO_COLOR": "1",
        }
        yield GhHost(server, env, work)


def _files(folder: Path) -> list[str]:
    (folder / "model.bin").write_bytes(os.urandom(200_000))
    (folder / "config.json").write_text('{"layers": 2}')
    return ["config.json", "model.bin"]


async def test_create_with_files_then_list_view_and_download(host: GhHost) -> None:
    files = _files(host.work)
    created = await host.gh("release", "create", "v1", *files, "--title", "First", "--notes", "n")
    assert created.code == 0, created.err
    assert host.releases() == [("v1", False, ["config.json", "model.bin"])]
    assert host.tags() == ["v1"]

    listed = await host.gh("release", "list")
    assert listed.code == 0, listed.err
    assert listed.out.split("\t")[:3] == ["First", "Latest", "v1"]

    viewed = await host.gh("release", "view", "v1")
    assert viewed.code == 0, viewed.err
    assert "title:\tFirst" in viewed.out and "model.bin" in viewed.out

    fetched = await host.gh("release", "download", "v1", "-D", "out")
    assert fetched.code == 0, fetched.err
    for name in files:
        assert (host.work / "out" / name).read_bytes() == (host.work / name).read_bytes()


async def test_upload_edit_delete_asset_and_delete_with_its_tag(host: GhHost) -> None:
    assert (await host.gh("release", "create", "v1", "--notes", "n")).code == 0
    files = _files(host.work)
    uploaded = await host.gh("release", "upload", "v1", *files)
    assert uploaded.code == 0, uploaded.err
    clobbered = await host.gh("release", "upload", "v1", "model.bin", "--clobber")
    assert clobbered.code == 0, clobbered.err
    assert host.releases()[0][2] == ["config.json", "model.bin"]

    edited = await host.gh("release", "edit", "v1", "--title", "Renamed", "--prerelease")
    assert edited.code == 0, edited.err
    assert "Renamed" in (await host.gh("release", "view", "v1")).out

    dropped = await host.gh("release", "delete-asset", "v1", "config.json", "-y")
    assert dropped.code == 0, dropped.err
    assert host.releases() == [("v1", False, ["model.bin"])]

    deleted = await host.gh("release", "delete", "v1", "--cleanup-tag", "-y")
    assert deleted.code == 0, deleted.err
    assert host.releases() == [] and host.tags() == []


async def test_a_draft_is_listed_viewed_then_published(host: GhHost) -> None:
    files = _files(host.work)
    drafted = await host.gh("release", "create", "v2", *files, "--draft", "--notes", "later")
    assert drafted.code == 0, drafted.err
    assert host.releases() == [("v2", True, ["config.json", "model.bin"])] and host.tags() == []

    listed = await host.gh("release", "list")
    assert listed.code == 0 and "\tDraft\tv2\t" in listed.out, listed.err
    viewed = await host.gh("release", "view", "v2")
    assert viewed.code == 0 and "draft:\ttrue" in viewed.out, viewed.err

    published = await host.gh("release", "edit", "v2", "--draft=false")
    assert published.code == 0, published.err
    assert host.releases() == [("v2", False, ["config.json", "model.bin"])]
    assert host.tags() == ["v2"]
    assert "\tLatest\tv2\t" in (await host.gh("release", "list")).out


async def test_an_unknown_tag_is_release_not_found(host: GhHost) -> None:
    for command in (["view", "nope"], ["download", "nope"], ["delete", "nope", "-y"]):
        missing = await host.gh("release", *command)
        assert missing.code == 1 and missing.err.strip() == "release not found", missing.err
    assert host.releases() == []
