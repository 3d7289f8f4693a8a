"""The package's layers, checked from the source: no module imports one above it, and the
pure planners import no I/O module. README's Layout names the same layers."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "gaama_async"
# Bottom to top. A module may import modules of its own layer or below, never above.
LAYERS: dict[str, int] = {
    # 0: pure decisions and shared types: no network, no disk
    **dict.fromkeys(
        [
            "errors", "_version", "progress", "_config", "_names", "_filenames", "_ranges",
            "models", "manifest", "_resume", "_plan", "_removal", "_ratelimit", "_retry",
            "_concurrency", "_aliasdoc", "_draftcheck", "_verifyplan", "_netenv", "_blocks",
        ],
        0,
    ),
    # 1: the edges that do I/O: the disk, and HTTP to GitHub
    **dict.fromkeys(
        [
            "_files", "_http", "_wire", "_responses", "_archives", "_bundle", "_cache", "_record",
            "_drafts", "_filesystems",
        ],
        1,
    ),
    # 2: moving the bytes of one asset or file
    **dict.fromkeys(
        ["_context", "_storage", "_releases", "upload", "_publisher", "_ranged", "download"], 2
    ),
    # 3: the workflows
    **dict.fromkeys(
        ["_downloading", "_publishing", "_aliases", "_listing", "_draftflow", "_verify"], 3
    ),
    # 4: the facade
    **dict.fromkeys(["client", "compat", "__init__"], 4),
    # 5: programs on top of the facade
    **dict.fromkeys(
        [
            "cli", "_cli_cache", "_cli_errors", "_cli_listing", "_commands", "_cmd_registry",
            "_console", "demo", "__main__", "testing",
        ],
        5,
    ),
}  # fmt: skip
PURE = {name for name, layer in LAYERS.items() if layer == 0}
IO_LIBRARIES = {"aiohttp", "aiofiles", "filelock", "shutil", "zipfile"}


def _modules() -> list[str]:
    return sorted(p.stem for p in PACKAGE.glob("*.py"))


def _imports(module: str) -> tuple[set[str], set[str]]:
    """The package modules and the top-level libraries ``module`` imports."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    ours: set[str] = set()
    libraries: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                ours.add(node.module.split(".")[0])
            else:
                ours.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            libraries.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            libraries.update(alias.name.split(".")[0] for alias in node.names)
    return ours - {"server"}, libraries


def test_every_module_has_a_layer() -> None:
    assert set(_modules()) == set(LAYERS)


@pytest.mark.parametrize("module", _modules())
def test_no_module_imports_one_above_it(module: str) -> None:
    ours, _ = _imports(module)
    above = sorted(m for m in ours if LAYERS[m] > LAYERS[module])
    assert not above, f"{module} (layer {LAYERS[module]}) imports {above} from above"


@pytest.mark.parametrize("module", sorted(PURE))
def test_pure_modules_import_no_io(module: str) -> None:
    ours, libraries = _imports(module)
    assert not (ours - PURE), f"{module} imports I/O modules {sorted(ours - PURE)}"
    assert not (libraries & IO_LIBRARIES), f"{module} imports {sorted(libraries & IO_LIBRARIES)}"


def test_only_the_retry_policy_counts_tries() -> None:
    users = [m for m in _modules() if "tenacity" in _imports(m)[1]]
    assert users == ["_retry"]


def test_the_cli_starts_without_the_server() -> None:
    """Every ``gaama`` command builds the whole parser, ``serve``'s flags included; the server
    app (aiohttp's server, graphql-core: 0.3 s of imports) must load only for ``serve``."""
    code = (
        "import sys; from gaama_async.cli import build_parser; build_parser(); "
        "print(sorted(m for m in sys.modules if m.startswith(('gaama_async.server.app', "
        "'graphql', 'aiohttp.web'))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"
