"""The local server over HTTPS: a local CA that real clients verify, never verification off."""

from __future__ import annotations

import os
import signal
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest
from cli_helpers import GAAMA, cli_env, run_gaama, serve_lines_until_ready
from helpers import FAST_RETRY, REPO, TOKEN, sha256_file, storage_requests, write_random

from gaama_async import GaAMA
from gaama_async.server import Fault, ReleaseServer, ServerConfig

pytestmark = pytest.mark.anyio
MIB = 1 << 20


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


async def _published_over_tls(
    server: ReleaseServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **options: Any
) -> tuple[GaAMA, str]:
    """A client trusting the server's CA (as users do, through SSL_CERT_FILE) and the
    digest of a 12 MiB file it published: three ranges of 4 MiB when downloaded."""
    monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_file))
    client = GaAMA(
        repo=REPO, token=TOKEN, api_url=server.api_url, retry=FAST_RETRY, part_size=4 * MIB,
        cache_dir=False, **options,
    )  # fmt: skip
    digest = write_random(tmp_path / "weights.bin", 12 * MIB)
    await client.publish("v1", [tmp_path / "weights.bin"])
    return client, digest


async def test_a_range_cut_over_tls_continues_from_its_last_byte(
    tls_server: ReleaseServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TLS bodies are read record by record on the worker threads (``_wire``): a cut ends
    the read with the bytes that arrived kept, and the range continues after them."""
    server = tls_server
    client, digest = await _published_over_tls(server, tmp_path, monkeypatch)
    cut = Fault("cut", route="storage", asset="weights.bin", times=3, after_bytes=3 * MIB + 77)
    server.faults.add(cut)
    server.counters.reset()
    async with client:
        [path] = await client.download("v1", tmp_path / "out")

    assert sha256_file(path) == digest
    assert server.counters.hits("cut", "weights.bin") == cut.hits == 3
    assert storage_requests(server, "weights.bin") == 3 + 3  # three ranges, three continued
    assert server.counters.bytes_sent < 12 * MIB + 3 * MIB  # not each cut range over again


async def test_a_range_stalled_over_tls_times_out_and_keeps_what_arrived(
    tls_server: ReleaseServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = tls_server
    client, digest = await _published_over_tls(server, tmp_path, monkeypatch, read_timeout=0.5)
    # Mid-buffer (1 MiB each): the bytes of the buffer that arrived before the stall are kept.
    stall = Fault(
        "stall", route="storage", asset="weights.bin", after_bytes=MIB + 900 * 1024, delay=6
    )
    server.faults.add(stall)
    server.counters.reset()
    started = anyio.current_time()
    async with client:
        [path] = await client.download("v1", tmp_path / "out")

    assert sha256_file(path) == digest
    assert server.counters.hits("stall", "weights.bin") == stall.hits == 1
    assert anyio.current_time() - started < 5  # the read gave up; it did not sit out 6 s
    assert server.counters.bytes_sent < 12 * MIB + 256 * 1024  # the 900 KiB not sent again
