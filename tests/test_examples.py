"""The scripts in examples/ run against a local server, configured only by the environment."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import anyio
import pytest
from aiohttp.test_utils import TestClient, TestServer

from gaama_async.testing import LocalGitHub, local_github

pytestmark = pytest.mark.anyio
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through it
    spec.loader.exec_module(module)
    return module


def _env(gh: LocalGitHub) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "GITHUB_API_URL")}
    return {**env, **gh.env()}


@pytest.mark.parametrize("name", sorted(p.stem for p in EXAMPLES.glob("*.py")))
def test_examples_import_without_side_effects(name: str, tmp_path: Path) -> None:
    before = set(tmp_path.iterdir())
    module = _load(name)
    assert callable(module.main) and module.__doc__
    assert set(tmp_path.iterdir()) == before


async def test_publish_then_serve_with_the_model_downloaded_at_startup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with local_github() as gh:
        script = EXAMPLES / "publish_from_training.py"
        result = await anyio.run_process(
            [sys.executable, str(script), "--tag", "v1", "--out", str(tmp_path / "ckpt")],
            env=_env(gh),
            check=False,
        )
        assert result.returncode == 0, result.stderr.decode()[-3000:]
        assert b"published 4 files as v1" in result.stdout
        release = await gh.client.get_release("v1")
        assert {"checkpoint-001.bin", "config.json"} <= {a.name for a in release.assets}

        # The service builds its own GaAMA() from the environment, like in production.
        for key, value in _env(gh).items():
            monkeypatch.setenv(key, value)
        service = _load("download_at_startup_aiohttp")
        source = service.ModelSource("acme/models", "v1", tmp_path / "models", "*.bin")
        async with TestClient(TestServer(service.create_app(source))) as http:
            response = await http.get("/model")
            model = await response.json()
        assert model["tag"] == "v1"
        assert sorted(model["files"]) == [f"checkpoint-00{i}.bin" for i in (1, 2, 3)]
        assert (tmp_path / "models" / "checkpoint-003.bin").stat().st_size == 64 * 1024
