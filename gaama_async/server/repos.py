"""The API origin's repository endpoints: read, rename and create repositories.

Release clients such as PyGithub (``gh.get_repo("o/r")``) fetch the repository before they
touch its releases and then follow its ``url``; only the fields those clients read are
filled in. Repositories exist because the server was started with them
(``ServerConfig.repos``, ``gaama serve --repo``), because a client created them as on GitHub
(``POST /user/repos``, ``POST /orgs/{org}/repos``), or, with ``auto_create``, on first use.
Unknown ones answer GitHub's 404.
"""

from __future__ import annotations

import re

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
    request_origins,
    services,
)
from .store import Repo

CREATE_DOCS = (
    "https://docs.github.com/rest/repos/repos#create-a-repository-for-the-authenticated-user"
)
# GitHub's rule for repository names: ASCII letters, digits, '-', '_' and '.', at most 100.
_REPO_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")


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
        request_origins(request),
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


def _created(request: web.Request, owner: str, name: object) -> web.Response:
    """Create ``owner/name`` as GitHub's repository-creation endpoints do: 201, or 422."""
    svc = services(request)
    if not isinstance(name, str) or not _REPO_NAME.fullmatch(name) or name in (".", ".."):
        raise HttpError.github(
            422,
            "Repository creation failed.",
            errors=[validation_error("Repository", "custom", "name", "name is invalid")],
            documentation_url=CREATE_DOCS,
        )
    if svc.store.find_repo(owner, name) is not None:
        raise HttpError.github(
            422,
            "Repository creation failed.",
            errors=[
                validation_error(
                    "Repository", "custom", "name", "name already exists on this account"
                )
            ],
            documentation_url=CREATE_DOCS,
        )
    repo = svc.store.create_repo(owner, name)
    response = _repo_response(request, repo)
    response.set_status(201)
    return response


@named("api.create_user_repo")
async def create_user_repo(request: web.Request) -> web.StreamResponse:
    """POST /user/repos: a repository owned by the caller (the gateway requires a token)."""
    caller: Caller = request[CALLER]
    assert caller.login is not None  # writes without a token were refused with 401
    return _created(request, caller.login, (await read_json_object(request)).get("name"))


@named("api.create_org_repo")
async def create_org_repo(request: web.Request) -> web.StreamResponse:
    """POST /orgs/{org}/repos. Guess: every writing token is a member of every organisation
    here; GitHub answers 404 for organisations the caller cannot create in."""
    name = (await read_json_object(request)).get("name")
    return _created(request, request.match_info["org"], name)


def routes() -> list[web.RouteDef]:
    """The repository routes of the API origin."""
    return [
        web.get("/repos/{owner}/{repo}", get_repo),
        web.patch("/repos/{owner}/{repo}", update_repo),
        web.post("/user/repos", create_user_repo),
        web.post("/orgs/{org}/repos", create_org_repo),
    ]
