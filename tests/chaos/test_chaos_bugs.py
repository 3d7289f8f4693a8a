"""Client bugs the chaos suite found, kept as strict xfails until fixed (then drop the mark)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import FAST_RETRY, REPO, TOKEN

from gaama_async import GaAMA, GaamaError
from gaama_async.server import Fault, ReleaseServer

pytestmark = pytest.mark.anyio


@pytest.mark.xfail(
    strict=True,
    reason="a 5xx on POST /releases (sent with retry=False) escapes as the private "
    "gaama_async._retry.TransientError instead of a retry or a PublishError",
)
async def test_a_5xx_while_creating_the_release_is_retried_or_typed(
    server: ReleaseServer, tmp_path: Path
) -> None:
    (tmp_path / "f").write_bytes(b"x")
    server.faults.add(Fault("status", route="api.create_release", status=503))
    async with GaAMA(repo=REPO, token=TOKEN, api_url=server.api_url, retry=FAST_RETRY) as client:
        try:
            release = await client.publish("v1", [tmp_path / "f"])
        except GaamaError:
            return  # typed: acceptable (a retry that succeeds is better)
    assert [asset.name for asset in release.assets]
