"""The web origin: ``browser_download_url`` redirects for public repositories.

The real web host needs a browser session for private repositories, so it answers 404
there even to a valid token (spec 6.14); draft ``untagged-`` URLs need a session too.
"""

from __future__ import annotations

from aiohttp import web

from .service import named, services
from .storage import signed_url


@named("web.download")
async def browser_download(request: web.Request) -> web.StreamResponse:
    """302 to a signed storage URL for a published release's uploaded asset."""
    svc = services(request)
    if svc.config.private:
        raise web.HTTPNotFound()
    owner, repo_name = request.match_info["owner"], request.match_info["repo"]
    tag, _, name = request.match_info["rest"].rpartition("/")
    repo = svc.store.repo(owner, repo_name)
    release = svc.store.published_by_tag(repo, tag)
    if release is None:
        raise web.HTTPNotFound()
    asset = next((a for a in svc.store.assets(release) if a.name == name), None)
    if asset is None or asset.state != "uploaded":
        raise web.HTTPNotFound()
    svc.store.count_download(asset)
    return web.Response(status=302, headers={"Location": signed_url(svc, repo.id, asset)})


def routes() -> list[web.RouteDef]:
    """The web origin's routes."""
    return [web.get("/{owner}/{repo}/releases/download/{rest:.+}", browser_download)]
