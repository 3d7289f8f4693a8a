"""Through a real forward proxy: tinyproxy (Debian's), started by each test on loopback.

What went through the proxy is read from the proxy's own log (one ``Request`` line per
proxied request, with its absolute URL); what reached GitHub's hosts, and with which
headers, from the server's counters.
"""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest
from cli_helpers import cli_env, run_gaama
from debian import debian_tool
from helpers import FAST_RETRY, REPO, TOKEN, sha256_file, write_random
from yarl import URL

from gaama_async import GaAMA
from gaama_async.server import ReleaseServer, ServerConfig

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(
        debian_tool("tinyproxy") is None,
        reason="needs tinyproxy, which could not be installed (apt-get install tinyproxy)",
    ),
]


@dataclass
class ForwardProxy:
    """A running tinyproxy and its log."""

    url: str
    log: Path

    def requests(self) -> list[URL]:
        """The absolute URLs of the requests it forwarded (CONNECT tunnels included)."""
        text = self.log.read_text(errors="replace")
        found = re.findall(r"Request \(file descriptor \d+\): (\S+) (\S+) HTTP", text)
        return [URL(target if "://" in target else f"//{target}") for _, target in found]

    def hosts(self) -> set[tuple[str | None, int | None]]:
        return {(u.host, u.port) for u in self.requests()}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def proxy(tmp_path: Path) -> AsyncIterator[ForwardProxy]:
    port = _free_port()
    log = tmp_path / "tinyproxy.log"
    config = tmp_path / "tinyproxy.conf"
    # No ConnectPort line: CONNECT is allowed to every port (the servers' are random).
    config.write_text(
        f'Port {port}\nListen 127.0.0.1\nTimeout 60\nLogFile "{log}"\nLogLevel Info\n'
        "MaxClients 200\nAllow 127.0.0.1\n"
    )
    process = await anyio.open_process(["tinyproxy", "-d", "-c", str(config)])
    try:
        with anyio.fail_after(10):
            while "Accepting connections" not in (log.read_text() if log.exists() else ""):
                assert process.returncode is None, "tinyproxy did not start"
                await anyio.sleep(0.02)
        yield ForwardProxy(f"http://127.0.0.1:{port}", log)
    finally:
        process.terminate()
        await process.wait()
        await process.aclose()


def _origins(server: ReleaseServer) -> dict[str, tuple[str | None, int | None]]:
    urls = {
        "api": server.api_url,
        "uploads": server.uploads_url,
        "storage": server.storage_url,
        "web": server.web_url,
    }
    return {name: (URL(u).host, URL(u).port) for name, u in urls.items()}


async def _publish_and_download(server: ReleaseServer, tmp_path: Path) -> str:
    digest = write_random(tmp_path / "model.bin", 300_000, seed=3)
    async with GaAMA(
        repo=REPO, token=TOKEN, api_url=server.api_url, retry=FAST_RETRY, write_interval=0
    ) as client:
        await client.publish("v1", [tmp_path / "model.bin"])
        await client.download("v1", tmp_path / "out")
    return digest


async def test_every_host_is_reached_through_the_proxy_and_storage_never_sees_the_token(
    server: ReleaseServer, proxy: ForwardProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    await _publish_and_download(server, tmp_path)
    origins = _origins(server)
    assert set(origins.values()) <= proxy.hosts(), (origins, proxy.hosts())
    storage = [r for r in server.counters.log if r.route == "storage"]
    assert storage
    assert not any(r.had_authorization for r in storage)
    assert server.counters.storage_requests_with_authorization == 0
    api = [r for r in server.counters.log if r.route.startswith(("api.", "upload"))]
    assert api and all(r.had_authorization for r in api)  # the token still reached GitHub


async def test_no_proxy_by_network_bypasses_the_proxy(
    server: ReleaseServer, proxy: ForwardProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "internal.example, 127.0.0.0/8")
    await _publish_and_download(server, tmp_path)
    assert server.counters.requests["storage"] >= 1
    assert proxy.requests() == []


async def test_no_proxy_by_host_and_port_bypasses_only_that_origin(
    server: ReleaseServer, proxy: ForwardProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage_host, storage_port = _origins(server)["storage"]
    monkeypatch.setenv("http_proxy", proxy.url)
    monkeypatch.setenv("no_proxy", f"{storage_host}:{storage_port}")
    await _publish_and_download(server, tmp_path)
    proxied = proxy.hosts()
    assert _origins(server)["api"] in proxied
    assert (storage_host, storage_port) not in proxied
    assert server.counters.requests["storage"] >= 1


async def test_the_cli_downloads_through_the_proxy(
    server: ReleaseServer, proxy: ForwardProxy, tmp_path: Path
) -> None:
    write_random(tmp_path / "weights.bin", 70_000, seed=5)
    env = cli_env(server.api_url, HTTP_PROXY=proxy.url, NO_PROXY="")
    published = await run_gaama(
        "publish", REPO, "--tag", "v1", str(tmp_path / "weights.bin"), api_url=None, env=env
    )
    assert published.code == 0, published.err
    got = await run_gaama(
        "download", REPO, "--tag", "v1", "--dir", str(tmp_path / "out"), api_url=None, env=env
    )
    assert got.code == 0, got.err
    assert (tmp_path / "out" / "weights.bin").stat().st_size == 70_000
    assert _origins(server)["storage"] in proxy.hosts()
    assert server.counters.storage_requests_with_authorization == 0


async def test_a_proxy_that_is_down_is_a_network_error_naming_it(
    server: ReleaseServer, tmp_path: Path
) -> None:
    dead = f"http://127.0.0.1:{_free_port()}"
    env = cli_env(server.api_url, HTTPS_PROXY=dead, HTTP_PROXY=dead, NO_PROXY="")
    run = await run_gaama("ls", REPO, "--tag", "v1", "--retries", "1", api_url=None, env=env)
    assert run.code == 9, run.err
    assert f"the proxy {dead.removeprefix('http://')}" in run.error_line
    assert "HTTPS_PROXY" in run.error_line
    assert server.counters.requests.total() == 0


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[ReleaseServer]:
    config = ServerConfig(
        root=tmp_path / "github-tls", tokens={TOKEN: "octocat"}, auto_create=True, tls=True
    )
    async with ReleaseServer(config) as running:
        yield running


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"])
async def test_a_ca_bundle_named_by_the_environment_is_trusted_for_tls(
    tls_server: ReleaseServer, tmp_path: Path, variable: str
) -> None:
    assert tls_server.ca_file is not None and tls_server.api_url.startswith("https://")
    write_random(tmp_path / "weights.bin", 70_000, seed=5)
    env = cli_env(tls_server.api_url, **{variable: str(tls_server.ca_file)})
    for name in {"REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"} - {variable}:
        env.pop(name, None)
    published = await run_gaama(
        "publish", REPO, "--tag", "v1", str(tmp_path / "weights.bin"), api_url=None, env=env
    )
    assert published.code == 0, published.err
    assert tls_server.counters.requests["upload"] == 2  # the file and the manifest


async def test_without_the_ca_bundle_tls_fails_with_a_hint_naming_the_variables(
    tls_server: ReleaseServer,
) -> None:
    env = cli_env(tls_server.api_url)
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        env.pop(name, None)
    run = await run_gaama("ls", REPO, "--tag", "v1", api_url=None, env=env)
    assert run.code == 1, run.err
    assert "certificate" in run.error_line and "REQUESTS_CA_BUNDLE" in run.error_line
    assert tls_server.counters.requests.total() == 0


async def test_https_goes_through_the_proxy_as_a_tunnel(
    tls_server: ReleaseServer, proxy: ForwardProxy, tmp_path: Path
) -> None:
    assert tls_server.ca_file is not None
    write_random(tmp_path / "weights.bin", 70_000, seed=6)
    env = cli_env(
        tls_server.api_url,
        HTTPS_PROXY=proxy.url,
        NO_PROXY="",
        REQUESTS_CA_BUNDLE=str(tls_server.ca_file),
    )
    for args in (
        ["publish", REPO, "--tag", "v1", str(tmp_path / "weights.bin")],
        ["download", REPO, "--tag", "v1", "--dir", str(tmp_path / "out")],
    ):
        run = await run_gaama(*args, api_url=None, env=env)
        assert run.code == 0, run.err
    tunnels = [u for u in proxy.requests() if not u.scheme]  # CONNECT host:port
    assert set(_origins(tls_server).values()) <= {(u.host, u.port) for u in tunnels}
    assert tls_server.counters.storage_requests_with_authorization == 0


async def test_ranged_downloads_go_through_the_proxy_too(
    server: ReleaseServer, proxy: ForwardProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large files are read on worker threads (``_wire``) only when no proxy is in the way."""
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    digest = write_random(tmp_path / "big.bin", 9 * 1024 * 1024 + 7, seed=4)
    async with GaAMA(
        repo=REPO, token=TOKEN, api_url=server.api_url, retry=FAST_RETRY, write_interval=0,
        part_size=2 * 1024 * 1024, cache_dir=False,
    ) as client:  # fmt: skip
        await client.publish("v1", [tmp_path / "big.bin"])
        before = len([u for u in proxy.requests() if u.host == URL(server.storage_url).host])
        [path] = await client.download("v1", tmp_path / "out")
    ranges = [r for r in server.counters.log if r.route == "storage"]
    through = [u for u in proxy.requests() if u.host == URL(server.storage_url).host]
    assert sha256_file(path) == digest and len(ranges) >= 5
    assert len(through) - before >= 5  # every range crossed the proxy
