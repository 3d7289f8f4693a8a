"""The API origin's repository endpoint: ``GET /repos/{owner}/{repo}``.

Release clients such as PyGithub (``gh.get_repo("o/r")``) fetch the repository before they
touch its releases and then follow its ``url``. Repositories still spring into existence on
first use, so this answers for any name; only the fields those clients read are filled in.
"""

from __future__ import annotations

from aiohttp import web

from .render import JSON, repo_json, validation_error
from .service import (
    CALLER,
    Caller,
    HttpError,
    json_response,
    named,
    read_json_object,
    repo_in_path,
    services,
)
from .store import Repo


def _permissions(caller: Caller | None) -> JSON | None:
    """Push for writers, pull for read-only tokens, nothing for anonymous callers."""
    if caller is None or caller.login is None:
        return None
    push = not caller.read_only
    return {"admin": push, "maintain": push, "push": push, "triage": push, "pull": True}


def _repo_response(request: web.Request, repo: Repo) -> web.Response:
    svc = services(request)
    data = repo_json(
        svc.store,
        svc.origins,
        repo,
        private=svc.config.private,
        permissions=_permissions(request.get(CALLER)),
    )
    return json_response(data)


@named("api.get_repo")
async def get_repo(request: web.Request) -> web.StreamResponse:
    """GET /repos/{o}/{r}: a minimal full-repository object."""
    return _repo_response(request, repo_in_path(request))


@named("api.update_repo")
async def update_repo(request: web.Request) -> web.StreamResponse:
    """PATCH /repos/{o}/{r}: only ``name`` is understood, and renames the repository.

    The old name then redirects (see ``moves``); other fields are accepted and ignored.
    """
    svc = services(request)
    repo = repo_in_path(request)
    name = (await read_json_object(request)).get("name", repo.name)
    if not isinstance(name, str) or not name.strip():
        # Guess: GitHub's exact 422 for a bad repository name is unverified.
        raise HttpError.github(
            422,
            "Validation Failed",
            errors=[validation_error("Repository", "invalid", "name")],
        )
    try:
        svc.renames.rename(svc.store, repo, repo.owner, name.strip())
    except ValueError:
        raise HttpError.github(
            422,
            "Repository creation failed.",
            errors=[validation_error("Repository", "custom", "name", "name already exists")],
        ) from None
    return _repo_response(request, repo)


def routes() -> list[web.RouteDef]:
    """The repository routes of the API origin."""
    return [
        web.get("/repos/{owner}/{repo}", get_repo),
        web.patch("/repos/{owner}/{repo}", update_repo),
    ]
