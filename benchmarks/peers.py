"""The peers: find or install them, and report why one is missing instead of skipping it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

GAAMA_OLD = "gaama==0.7.2"


@dataclass(frozen=True)
class Tools:
    """Where each peer's program is, or why it is not available."""

    curl: str | None
    aria2c: str | None
    gaama072_python: str | None
    missing: dict[str, str]
    hf_transfer: bool = False


def _apt_install(package: str) -> str | None:
    """Install a Debian package; the error text on failure, else None."""
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", package]):
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{' '.join(cmd)}: {exc}"
        if done.returncode != 0:
            return f"{' '.join(cmd)} failed: {done.stderr.strip()[-300:]}"
    return None


def _binary(name: str, package: str, missing: dict[str, str]) -> str | None:
    found = shutil.which(name)
    if found is None:
        error = _apt_install(package)
        found = shutil.which(name)
        if found is None:
            missing[name] = error or f"{name} not on PATH after installing {package}"
    return found


def _gaama072(venv: Path, missing: dict[str, str]) -> str | None:
    """A side virtualenv with gaama 0.7.2 from PyPI (created once, then reused)."""
    python = venv / "bin" / "python"
    probe = [
        str(python),
        "-c",
        "import gaama.github, importlib.metadata as m; assert m.version('gaama') == '0.7.2'",
    ]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return str(python)
    steps = [
        ["python3", "-m", "venv", str(venv)],
        [str(python), "-m", "pip", "install", "--quiet", GAAMA_OLD],
    ]
    for cmd in steps:
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            missing["gaama 0.7.2"] = f"{' '.join(cmd)} failed: {done.stderr.strip()[-300:]}"
            return None
    return str(python)


def pip_module(module: str, package: str, missing: dict[str, str], peer: str) -> bool:
    """Import ``module`` in this interpreter, installing ``package`` from PyPI first if needed
    (benchmark-only dependencies: hf-transfer, matplotlib)."""
    probe = [sys.executable, "-c", f"import {module}"]
    if subprocess.run(probe, capture_output=True).returncode == 0:
        return True
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", package]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0 or subprocess.run(probe, capture_output=True).returncode != 0:
        missing[peer] = f"{' '.join(cmd)} failed: {done.stderr.strip()[-300:]}"
        return False
    return True


def compile_bytecode(missing: dict[str, str]) -> None:
    """Compile gaama_async and the runners to bytecode, as ``pip install`` does for a package.

    The checkout is an editable install, and an environment with PYTHONDONTWRITEBYTECODE
    (this sandbox's) never caches what it compiles: every CLI process then compiled some 50
    modules again, 0.15 s of its 0.35 s start, which no installed copy pays. The peers'
    Python (gaama 0.7.2, hf_transfer, pip-installed) is compiled already.
    """
    root = Path(__file__).resolve().parent.parent
    cmd = [sys.executable, "-m", "compileall", "-q", "gaama_async", "benchmarks"]
    done = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    if done.returncode != 0:
        missing["bytecode"] = f"compileall failed: {done.stdout.strip()[-300:]}"


def prepare(venv_dir: Path) -> Tools:
    """Find or install curl, aria2c, hf_transfer and gaama 0.7.2; compile our bytecode."""
    missing: dict[str, str] = {}
    compile_bytecode(missing)
    if _binary("time", "time", missing) is None:
        missing["peak RSS"] = "GNU time missing: peak RSS includes the harness's size at fork"
    curl = _binary("curl", "curl", missing)
    aria2c = _binary("aria2c", "aria2", missing)
    old = _gaama072(venv_dir, missing)
    hf = pip_module("hf_transfer", "hf-transfer", missing, "hf_transfer")
    return Tools(curl, aria2c, old, missing, hf)


def version_of(cmd: list[str]) -> str:
    """The first line a ``--version`` prints, or ``?``."""
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except OSError:
        return "?"
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if lines else "?"


def python() -> str:
    """The interpreter that runs gaama_async (this project's venv)."""
    return sys.executable
