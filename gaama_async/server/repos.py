"""The API origin's repository endpoint: ``GET /repos/{owner}/{repo}``.

Release clients such as PyGithub (``gh.get_repo("o/r")``) fetch the repository before they
touch its releases and then follow its ``url``. Repositories still spring into existence on
first use, so this answers for any name; only the fields those clients read are filled in.
"""

from __future__ import annotations

from aiohttp import web

from .render import JSON, repo_json
from .service import CALLER, Caller, json_response, named, services


def _permissions(caller: Caller | None) -> JSON | None:
    """Push for writers, pull for read-only tokens, nothing for anonymous callers."""
    if caller is None or caller.login is None:
        return None
    push = not caller.read_only
    return {"admin": push, "maintain": push, "push": push, "triage": push, "pull": True}


@named("api.get_repo")
async def get_repo(request: web.Request) -> web.StreamResponse:
    """GET /repos/{o}/{r}: a minimal full-repository object."""
    svc = services(request)
    repo = svc.store.repo(request.match_info["owner"], request.match_info["repo"])
    data = repo_json(
        svc.store,
        svc.origins,
        repo,
        private=svc.config.private,
        permissions=_permissions(request.get(CALLER)),
    )
    return json_response(data)


def routes() -> list[web.RouteDef]:
    """The repository routes of the API origin."""
    return [web.get("/repos/{owner}/{repo}", get_repo)]
