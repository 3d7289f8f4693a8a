"""The local server over HTTPS: a local CA that real clients verify, never verification off."""

from __future__ import annotations

import os
import signal
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import anyio
import pytest
from cli_helpers import GAAMA, cli_env, run_gaama, serve_lines_until_ready
from helpers import REPO, TOKEN, sha256_file, write_random

from gaama_async.server import ReleaseServer, ServerConfig

pytestmark = pytest.mark.anyio


def _trusting(ca_file: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file))


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[ReleaseServer]:
    config = ServerConfig(root=tmp_path / "github", tokens={TOKEN: "octocat"}, tls=True)
    config.repos = (REPO,)
    async with ReleaseServer(config) as server:
        yield server


async def test_every_origin_is_https_with_a_certificate_from_the_local_ca(
    tls_server: ReleaseServer,
) -> None:
    server = tls_server
    assert server.ca_file is not None and server.ca_file.name.endswith(".pem")
    urls = [server.api_url, server.uploads_url, server.storage_url, server.web_url]
    assert all(url.startswith("https://127.0.0.") for url in urls)
    connector = aiohttp.TCPConnector(ssl=_trusting(server.ca_file))
    async with aiohttp.ClientSession(connector=connector) as session:
        for url in urls:
            async with session.get(f"{url}/") as response:
                assert response.status in (200, 404)  # a TLS handshake that verified
        async with session.get(f"{server.api_url}/") as response:
            assert (await response.json())["current_user_url"] == f"{server.api_url}/user"
    async with aiohttp.ClientSession() as untrusting:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await untrusting.get(f"{server.api_url}/")


async def test_the_cli_publishes_and_downloads_trusting_only_ssl_cert_file(
    tls_server: ReleaseServer, tmp_path: Path
) -> None:
    server = tls_server
    digest = write_random(tmp_path / "w.bin", 300_000)
    env = cli_env(server.api_url, SSL_CERT_FILE=str(server.ca_file), GAAMA_CACHE_DIR="off")
    published = await run_gaama(
        "publish", REPO, "--tag", "v1", str(tmp_path / "w.bin"), api_url=None, env=env
    )
    assert published.code == 0, published.err
    out = tmp_path / "out"
    fetched = await run_gaama(
        "download", REPO, "--tag", "v1", "--dir", str(out), api_url=None, env=env
    )
    assert fetched.code == 0, fetched.err
    assert sha256_file(out / "w.bin") == digest
    untrusted = await run_gaama(
        "download",
        REPO,
        "--tag",
        "v1",
        "--dir",
        str(tmp_path / "no"),
        api_url=None,
        env={**env, "SSL_CERT_FILE": "/nonexistent.pem"},
    )
    assert untrusted.code != 0 and "Traceback" not in untrusted.err
    assert not (tmp_path / "no" / "w.bin").exists()


async def test_the_ca_is_kept_across_restarts_and_its_key_is_private(tmp_path: Path) -> None:
    config = ServerConfig(root=tmp_path / "github", tls=True)
    async with ReleaseServer(config) as first:
        assert first.ca_file is not None
        ca = first.ca_file.read_bytes()
    async with ReleaseServer(config) as second:
        assert second.ca_file is not None and second.ca_file.read_bytes() == ca
    keys = [p for p in (tmp_path / "github" / "tls").iterdir() if "key" in p.name]
    assert keys and all(p.stat().st_mode & 0o077 == 0 for p in keys)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_gaama_serve_tls_enterprise_on_localhost_prints_the_ca_to_trust(
    tmp_path: Path,
) -> None:
    port = _free_port()
    command = [
        *GAAMA,
        *("serve", "--root", str(tmp_path / "s"), "--enterprise", "--tls"),
        *("--host", "localhost", "--port", str(port), "--repo", REPO, "--token", TOKEN),
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    async with await anyio.open_process(command, env=env) as serving:
        try:
            lines = await serve_lines_until_ready(serving)
            exported = [line.split("=", 1)[1] for line in lines if "SSL_CERT_FILE=" in line]
            assert len(exported) == 1 and exported[0].endswith(".pem")
            base = f"https://localhost:{port}"
            assert f"  export GAAMA_API_URL={base}/api/v3" in lines
            connector = aiohttp.TCPConnector(ssl=_trusting(Path(exported[0])))
            async with aiohttp.ClientSession(connector=connector) as session:
                async with session.get(f"{base}/api/v3/repos/{REPO}") as response:
                    assert response.status == 200
                    assert (await response.json())["url"] == f"{base}/api/v3/repos/{REPO}"
                async with session.get(f"https://127.0.0.1:{port}/api/v3/") as response:
                    assert response.status == 200  # the certificate covers 127.0.0.1 too
        finally:
            serving.send_signal(signal.SIGINT)
            with anyio.fail_after(20):
                await serving.wait()
