"""The web origin: ``browser_download_url`` redirects for public repositories.

The real web host needs a browser session for private repositories, so it answers 404
there even to a valid token (spec 6.14); draft ``untagged-`` URLs need a session too.
A renamed repository's old URLs redirect (301) to its current name, as github.com does.
"""

from __future__ import annotations

from aiohttp import web

from .service import Services, known_repo, named, request_origins, services
from .storage import signed_url


@named("web.download")
async def browser_download(request: web.Request) -> web.StreamResponse:
    """302 to a signed storage URL for a published release's uploaded asset."""
    svc = services(request)
    if svc.config.private:
        raise web.HTTPNotFound()
    owner, repo_name = request.match_info["owner"], request.match_info["repo"]
    moved = svc.renames.moved_to(owner, repo_name)
    if moved is not None:
        return _moved(request, svc, moved)
    tag, _, name = request.match_info["rest"].rpartition("/")
    repo = known_repo(svc, owner, repo_name)
    if repo is None:
        raise web.HTTPNotFound()
    release = svc.store.published_by_tag(repo, tag)
    if release is None:
        raise web.HTTPNotFound()
    asset = next((a for a in svc.store.assets(release) if a.name == name), None)
    if asset is None or asset.state != "uploaded":
        raise web.HTTPNotFound()
    svc.store.count_download(asset)
    return web.Response(
        status=302,
        headers={"Location": signed_url(svc, request_origins(request).storage, repo.id, asset)},
    )


def _moved(request: web.Request, svc: Services, repo_id: int) -> web.StreamResponse:
    """A renamed repository's old web URL: 301 to the same path under the current name."""
    repo = svc.store.repo_by_id(repo_id)
    if repo is None:
        raise web.HTTPNotFound()
    _, _, _, rest = request.rel_url.raw_path.split("/", 3)  # "", owner, repo, rest
    location = f"{request_origins(request).web}/{repo.owner}/{repo.name}/{rest}"
    return web.Response(status=301, headers={"Location": location})


def routes() -> list[web.RouteDef]:
    """The web origin's routes."""
    return [web.get("/{owner}/{repo}/releases/download/{rest:.+}", browser_download)]
