"""The API origin's git references: the lightweight tags that published releases create.

Only ``refs/tags/*`` exist here (the emulator has no branches or git objects); each tag
points at a stable fake commit (see ``store.fake_commit_sha``). ``gh release delete
--cleanup-tag`` and ghapi's ``delete_release`` delete tags through ``DELETE git/refs``.
"""

from __future__ import annotations

from aiohttp import web

from .render import JSON, tag_ref_json
from .service import HttpError, json_response, named, repo_in_path, request_origins, services
from .store import Repo

GIT_REFS_DOCS = "https://docs.github.com/rest/git/refs"
_TAGS = "tags/"


def _refs(request: web.Request, repo: Repo) -> list[JSON]:
    svc = services(request)
    return [
        tag_ref_json(request_origins(request), repo, tag, sha)
        for tag, sha in svc.store.tags(repo).items()
    ]


def _exact(request: web.Request, repo: Repo, ref: str) -> JSON | None:
    svc = services(request)
    if not ref.startswith(_TAGS):
        return None
    tag = ref.removeprefix(_TAGS)
    sha = svc.store.tag_sha(repo, tag)
    return None if sha is None else tag_ref_json(request_origins(request), repo, tag, sha)


def _not_found(doc: str) -> HttpError:
    return HttpError.github(404, "Not Found", documentation_url=f"{GIT_REFS_DOCS}#{doc}")


@named("api.get_ref")
async def get_ref(request: web.Request) -> web.StreamResponse:
    """GET git/ref/{ref}: exactly that reference, or 404."""
    repo = repo_in_path(request)
    found = _exact(request, repo, request.match_info["ref"])
    if found is None:
        raise _not_found("get-a-reference")
    return json_response(found)


@named("api.get_ref")
async def get_refs_legacy(request: web.Request) -> web.StreamResponse:
    """GET git/refs/{ref}, the older path: the reference itself, else the prefix matches.

    As GitHub documented for this path: when ``ref`` names no reference but some start with
    it, they come back as an array (``refs/tags/v1`` finds ``v1.0`` and ``v1.1``); 404 when
    none do.
    """
    svc = services(request)
    repo = repo_in_path(request)
    ref = request.match_info["ref"]
    tag = ref.removeprefix(_TAGS)
    locked = any(r.immutable and r.tag_name == tag for r in svc.store.releases(repo))
    if ref.startswith(_TAGS) and locked:
        # Guess: spec 7.3 says the tag "cannot be deleted while the release exists"; the
        # wording of GitHub's refusal is not recorded.
        raise HttpError.github(422, "Cannot delete a tag of an immutable release.")
    found = _exact(request, repo, ref)
    if found is not None:
        return json_response(found)
    matches = [r for r in _refs(request, repo) if r["ref"].startswith(f"refs/{ref}")]
    if not matches:
        raise _not_found("get-a-reference")
    return json_response(matches)


@named("api.matching_refs")
async def matching_refs(request: web.Request) -> web.StreamResponse:
    """GET git/matching-refs/{ref}: every reference starting with ``refs/{ref}``, maybe [].

    Not paginated here (GitHub paginates it; a guess that release tags stay few).
    """
    repo = repo_in_path(request)
    prefix = f"refs/{request.match_info['ref']}"
    return json_response([r for r in _refs(request, repo) if r["ref"].startswith(prefix)])


@named("api.matching_refs")
async def list_refs(request: web.Request) -> web.StreamResponse:
    """GET git/refs: every reference (PyGithub's ``get_git_refs``); unpaginated here too."""
    return json_response(_refs(request, repo_in_path(request)))


@named("api.delete_ref")
async def delete_ref(request: web.Request) -> web.StreamResponse:
    """DELETE git/refs/{ref}: 204, or GitHub's 422 "Reference does not exist".

    A published release on the tag becomes a draft again (see ``Store.delete_tag``).
    """
    svc = services(request)
    repo = repo_in_path(request)
    ref = request.match_info["ref"]
    tag = ref.removeprefix(_TAGS)
    locked = any(r.immutable and r.tag_name == tag for r in svc.store.releases(repo))
    if ref.startswith(_TAGS) and locked:
        # Guess: spec 7.3 says the tag "cannot be deleted while the release exists"; the
        # wording of GitHub's refusal is not recorded.
        raise HttpError.github(422, "Cannot delete a tag of an immutable release.")
    if not (ref.startswith(_TAGS) and svc.store.delete_tag(repo, tag)):
        raise HttpError.github(
            422,
            "Reference does not exist",
            documentation_url=f"{GIT_REFS_DOCS}#delete-a-reference",
        )
    return web.Response(status=204)


def routes() -> list[web.RouteDef]:
    """The git-reference routes of the API origin."""
    git = "/repos/{owner}/{repo}/git"
    return [
        web.get(f"{git}/refs", list_refs),
        web.get(f"{git}/ref/{{ref:.+}}", get_ref),
        web.get(f"{git}/refs/{{ref:.+}}", get_refs_legacy),
        web.get(f"{git}/matching-refs/{{ref:.*}}", matching_refs),
        web.delete(f"{git}/refs/{{ref:.+}}", delete_ref),
    ]
