"""How each peer performs one transfer: the command it runs and what is timed around it."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from .github import Api, Resolved
from .measure import Run, run_from
from .peers import Tools, python
from .process import run_measured
from .server import BenchServer

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
MANIFEST = "gaama-manifest.json"


@dataclass
class Bench:
    """Everything a scenario needs: the server, the API, the peers, where to write."""

    server: BenchServer
    api: Api
    tools: Tools
    work: Path
    repo: str
    token: str
    repeat: int
    budget: float

    def env(self) -> dict[str, str]:
        """Every client's environment: no download cache (a cached file would measure the
        cache), and the TLS server's CA trusted where there is one."""
        env = {**os.environ, "GAAMA_CACHE_DIR": "off"}
        if self.server.urls.ca_file:
            env["SSL_CERT_FILE"] = self.server.urls.ca_file
        return env

    def gaama_async(self, *args: str) -> list[str]:
        """A command running :mod:`benchmarks.run_gaama_async`."""
        common = ["--repo", self.repo, "--token", self.token, "--api-url", self.server.urls.api]
        return [python(), "-m", "benchmarks.run_gaama_async", args[0], *common, *args[1:]]

    def gaama072(self, *args: str) -> list[str]:
        """A command running :mod:`benchmarks.run_gaama072` with the side venv's Python."""
        assert self.tools.gaama072_python is not None
        urls = self.server.urls
        common = ["--repo", self.repo, "--token", self.token]
        common += ["--api-url", urls.api, "--uploads-url", urls.uploads]
        script = str(HERE / "run_gaama072.py")
        return [self.tools.gaama072_python, script, args[0], *common, *args[1:]]


def check_files(dest: Path, expected: dict[str, int]) -> str:
    """An error naming the first missing or wrong-sized file, else ``""``."""
    for name, size in expected.items():
        path = dest / name
        if not path.exists():
            return f"{name} missing"
        if path.stat().st_size != size:
            return f"{name} has {path.stat().st_size} bytes, expected {size}"
    return ""


def _resolve(bench: Bench, tag: str, names: set[str] | None) -> tuple[list[Resolved], float]:
    start = time.perf_counter()
    if names is None:
        resolved = bench.api.resolve(tag)
    else:
        assets = [a for a in bench.api.release(tag)["assets"] if a["name"] in names]
        resolved = [Resolved(a["name"], a["size"], bench.api.storage_url(a["url"])) for a in assets]
    return resolved, time.perf_counter() - start


def download_gaama_async(
    bench: Bench,
    tag: str,
    dest: Path,
    *,
    concurrency: int | None = None,
    inside: bool = False,
    cache: bool = False,
) -> Run:
    """``download()`` through the public API in its own process; with ``inside`` the time
    charged is the call's own (the in-process number), else the whole process. ``cache``:
    with the download cache on, as by default, in an empty cache folder beside ``dest``
    (what a first download pays to enter the cache; never a hit)."""
    cmd = bench.gaama_async("download", "--tag", tag, "--dir", str(dest))
    if concurrency is not None:
        cmd += ["--concurrency", str(concurrency)]
    env = bench.env()
    if cache:
        env["GAAMA_CACHE_DIR"] = str(fresh_dir(dest.with_name(dest.name + "-cache")))
    try:
        run = run_from(run_measured(cmd, cwd=REPO_ROOT, env=env))
    finally:
        if cache:
            shutil.rmtree(env["GAAMA_CACHE_DIR"], ignore_errors=True)
    if inside and run.inner is not None:
        run = Run(**{**run.__dict__, "wall": run.inner})
    return run


def download_gaama_cli(bench: Bench, tag: str, dest: Path) -> Run:
    """``gaama download`` as users run it: the whole process, interpreter start included."""
    env = {**bench.env(), "GITHUB_TOKEN": bench.token, "GAAMA_API_URL": bench.server.urls.api}
    cmd = [python(), "-m", "gaama_async", "download", bench.repo, "--tag", tag]
    return run_from(run_measured([*cmd, "--dir", str(dest), "-q"], env=env, cwd=REPO_ROOT))


def download_hf_transfer(bench: Bench, tag: str, dest: Path, name: str) -> Run:
    """hf_transfer (Rust) on the resolved signed URL: 16 files x 16 MiB chunks, as
    huggingface_hub runs it (resolution timed)."""
    (asset,), resolve = _resolve(bench, tag, {name})
    cmd = [python(), "-m", "benchmarks.run_hf_transfer", asset.url, str(dest / name)]
    return run_from(run_measured(cmd, cwd=REPO_ROOT, env=bench.env()), resolve=resolve)


def download_gaama072(bench: Bench, tag: str, dest: Path) -> Run:
    return run_from(run_measured(bench.gaama072("download", "--tag", tag, "--dir", str(dest))))


def download_curl(bench: Bench, tag: str, dest: Path, name: str) -> Run:
    """One stream: resolve the signed URL (timed), then ``curl -o``."""
    assert bench.tools.curl is not None
    (asset,), resolve = _resolve(bench, tag, {name})
    cmd = [bench.tools.curl, "-sS", "-f", *_curl_ca(bench), "-o", str(dest / name), asset.url]
    return run_from(run_measured(cmd), resolve=resolve)


def _curl_ca(bench: Bench) -> list[str]:
    ca = bench.server.urls.ca_file
    return ["--cacert", ca] if ca else []


def _aria2c(bench: Bench, dest: Path) -> list[str]:
    assert bench.tools.aria2c is not None
    # --file-allocation=none: aria2c's fastest choice (the default 'prealloc' writes zeros first).
    return [
        bench.tools.aria2c,
        "-q",
        "-d",
        str(dest),
        "--file-allocation=none",
        "--allow-overwrite=true",
        "--auto-file-renaming=false",
        "--summary-interval=0",
        *([f"--ca-certificate={bench.server.urls.ca_file}"] if bench.server.urls.ca_file else []),
    ]


def download_aria2c_large(
    bench: Bench, tag: str, dest: Path, name: str, connections: int = 16
) -> Run:
    """``aria2c -xN -sN -k16M`` on the resolved signed URL (resolution timed): N connections,
    pieces of 16 MiB like gaama_async's ranges."""
    (asset,), resolve = _resolve(bench, tag, {name})
    split = [f"-x{connections}", f"-s{connections}", "-k16M"]
    cmd = [*_aria2c(bench, dest), *split, "-o", name, asset.url]
    return run_from(run_measured(cmd), resolve=resolve)


def download_aria2c_many(bench: Bench, tag: str, dest: Path) -> Run:
    """``aria2c -j16 -i LIST`` over every asset, its signed URLs given for free: resolved by
    the harness (16 at a time) before the timed section, that time reported, not charged
    (issue 11: aria2c is measured as a downloader handed its URLs)."""
    resolved, given = _resolve(bench, tag, None)
    listing = dest.parent / f"{dest.name}.aria2-list"
    listing.write_text("".join(f"{a.url}\n  out={a.name}\n" for a in resolved))
    try:
        return run_from(
            run_measured([*_aria2c(bench, dest), "-j16", "-i", str(listing)]), given=given
        )
    finally:
        listing.unlink()


def upload_gaama_async(bench: Bench, tag: str, source: Path) -> Run:
    """``publish``: draft, upload, verify, manifest, publish; then the release is deleted."""
    try:
        return run_from(
            run_measured(
                bench.gaama_async("publish", "--tag", tag, str(source)),
                cwd=REPO_ROOT,
                env=bench.env(),
            )
        )
    finally:
        bench.api.delete_by_tag(tag)


def upload_gaama072(bench: Bench, tag: str, source: Path) -> Run:
    """0.7.2's publish (``zip_files=False``): create release, read the file, POST it."""
    try:
        return run_from(
            run_measured(
                bench.gaama072("publish", "--tag", tag, "--dir", str(source.parent), str(source))
            )
        )
    finally:
        bench.api.delete_by_tag(tag)


def upload_curl(bench: Bench, tag: str, source: Path) -> Run:
    """Create a draft (timed), then ``curl -T`` streams the file to the uploads URL."""
    assert bench.tools.curl is not None
    start = time.perf_counter()
    draft = bench.api.create_draft(tag)
    resolve = time.perf_counter() - start
    upload = draft["upload_url"].split("{")[0] + f"?name={source.name}"
    # "Expect:" off: curl would otherwise wait up to 1 s for a 100-continue.
    cmd = [
        bench.tools.curl,
        "-sS",
        "-f",
        "-o",
        os.devnull,
        "-X",
        "POST",
        "-T",
        str(source),
        "-H",
        f"Authorization: token {bench.token}",
        "-H",
        "Expect:",
        "-H",
        "Content-Type: application/octet-stream",
        upload,
    ]
    try:
        return run_from(run_measured(cmd), resolve=resolve)
    finally:
        bench.api.delete_release(draft["id"])


def fresh_dir(path: Path) -> Path:
    """An empty folder at ``path``."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path
