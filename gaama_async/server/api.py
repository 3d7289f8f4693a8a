"""The API origin: releases and assets endpoints (spec section 6).

Repositories spring into existence on first use; the emulator has no repository endpoints.
"""

from __future__ import annotations

from aiohttp import web

from .._names import normalize_asset_name
from .immutable import refuse_asset_change, refuse_burnt_tag, refuse_release_change
from .lag import Kind
from .notes import generate_notes, previous_tag, web_repo_url, with_given_body
from .pagination import choose_page, link_header
from .render import (
    ASSETS_DOCS,
    JSON,
    RELEASES_DOCS,
    asset_json,
    http_date,
    release_json,
    validation_error,
)
from .service import (
    BUDGET,
    CALLER,
    ROUTE,
    Caller,
    HttpError,
    Services,
    json_response,
    named,
    not_found,
    read_json_object,
    repo_in_path,
    request_origins,
    services,
)
from .storage import serve_blob, signed_url
from .store import Asset, Release, Repo, utc_now
from .validation import asset_fields, release_fields


def _has_push(request: web.Request) -> bool:
    caller: Caller | None = request.get(CALLER)
    return caller is not None and caller.login is not None and not caller.read_only


def _login(request: web.Request) -> str:
    caller: Caller = request[CALLER]
    assert caller.login is not None
    return caller.login


def _lagging(svc: Services, kind: Kind, ident: int, asset: str | None = None) -> bool:
    """Whether the object was written too recently to be seen (spec 9.3; counted)."""
    if not svc.lag.lagging(kind, ident, svc.config.read_after_write_lag):
        return False
    svc.counters.fault_hit("lag", asset)
    return True


def _release(request: web.Request, repo: Repo, *, lag: bool = True) -> Release:
    """The release in the path; drafts are hidden from callers without push access, and
    (``lag``) a release written a moment ago may not be seen yet."""
    svc = services(request)
    release = svc.store.release(repo, int(request.match_info["release_id"]))
    if release is None or (release.draft and not _has_push(request)):
        raise not_found()
    if lag and _lagging(svc, "release", release.id):
        raise not_found()
    return release


def _asset(request: web.Request, repo: Repo, *, lag: bool = True) -> Asset:
    svc = services(request)
    asset = svc.store.asset(repo, int(request.match_info["asset_id"]))
    if asset is None or (svc.store.release_of(asset).draft and not _has_push(request)):
        raise not_found()
    if lag and _lagging(svc, "asset", asset.id, asset.name):
        raise not_found()
    return asset


def _seen(svc: Services, release: Release | None) -> Release:
    """A release found by tag or as latest, unless missing or too fresh to be seen."""
    if release is None or _lagging(svc, "release", release.id):
        raise not_found()
    return release


def _release_response(
    request: web.Request, repo: Repo, release: Release, *, status: int = 200
) -> web.Response:
    data = release_json(services(request).store, request_origins(request), repo, release)
    headers = {"Last-Modified": http_date(release.updated_at)}
    if status == 201:
        headers["Location"] = data["url"]
    return json_response(data, status=status, headers=headers)


def _asset_response(request: web.Request, repo: Repo, asset: Asset) -> web.Response:
    data = asset_json(services(request).store, request_origins(request), repo, asset)
    return json_response(data, headers={"Last-Modified": http_date(asset.updated_at)})


def _tag_taken(svc: Services, repo: Repo, tag: str, exclude: int | None, doc: str) -> None:
    existing = svc.store.published_by_tag(repo, tag)
    if existing is not None and existing.id != exclude:
        raise HttpError.github(
            422,
            "Validation Failed",
            errors=[validation_error("Release", "already_exists", "tag_name")],
            documentation_url=f"{RELEASES_DOCS}#{doc}",
        )


def _fill_notes(svc: Services, web_origin: str, repo: Repo, fields: JSON) -> None:
    """``generate_release_notes``: ``name`` unless given, and the notes after any ``body``."""
    tag = fields["tag_name"]
    notes = generate_notes(
        web_repo_url(web_origin, repo),
        tag,
        previous=previous_tag(svc.store, repo, tag),
        commitish=fields.get("target_commitish") or "main",
    )
    fields["name"] = fields.get("name") or notes.name
    fields["body"] = with_given_body(fields.get("body"), notes.body)


@named("api.create_release")
async def create_release(request: web.Request) -> web.StreamResponse:
    """POST /repos/{o}/{r}/releases: 201 with ``Location``; only published tags conflict."""
    svc = services(request)
    repo = repo_in_path(request)
    fields = release_fields(await read_json_object(request), creating=True)
    # Guess (spec 7.3 says only "creating a release for it fails"): drafts are refused too.
    refuse_burnt_tag(svc.store.is_burnt(repo, fields["tag_name"]), "create-a-release")
    if not fields.get("draft", False):
        _tag_taken(svc, repo, fields["tag_name"], None, "create-a-release")
    if fields.pop("generate_release_notes", False):
        _fill_notes(svc, request_origins(request).web, repo, fields)
    release = svc.store.create_release(
        repo, author=_login(request), commit_date=svc.config.commit_date, **fields
    )
    if not release.draft:
        svc.store.ensure_tag(repo, release.tag_name)  # publishing makes the tag if missing
        _lock_if_immutable(svc, release)
    svc.lag.wrote("release", release.id)
    return _release_response(request, repo, release, status=201)


def _lock_if_immutable(svc: Services, release: Release) -> None:
    """A release published while the setting is on is immutable for good (spec 7.3)."""
    if svc.config.immutable and not release.immutable:
        release.immutable = True
        svc.store.touch(release)


@named("api.list_releases")
async def list_releases(request: web.Request) -> web.StreamResponse:
    """GET .../releases: newest first, drafts only for push access, paginated."""
    svc = services(request)
    repo = repo_in_path(request)
    releases = [r for r in svc.store.releases(repo) if not r.draft or _has_push(request)]
    releases = [r for r in releases if not _lagging(svc, "release", r.id)]
    page = choose_page(request.query, len(releases))
    origins = request_origins(request)
    data = [release_json(svc.store, origins, repo, r) for r in page.slice(releases)]
    link = link_header(f"{origins.api}/repositories/{repo.id}/releases", page)
    return json_response(data, headers={"Link": link} if link else None)


@named("api.get_release")
async def get_release(request: web.Request) -> web.StreamResponse:
    """GET .../releases/{id}."""
    repo = repo_in_path(request)
    return _release_response(request, repo, _release(request, repo))


@named("api.get_release_by_tag")
async def get_release_by_tag(request: web.Request) -> web.StreamResponse:
    """GET/HEAD .../releases/tags/{tag}: published releases only, drafts are 404."""
    svc = services(request)
    repo = repo_in_path(request)
    release = _seen(svc, svc.store.published_by_tag(repo, request.match_info["tag"]))
    return _release_response(request, repo, release)


@named("api.latest_release")
async def latest_release(request: web.Request) -> web.StreamResponse:
    """GET .../releases/latest: newest non-draft, non-prerelease release, or 404."""
    svc = services(request)
    repo = repo_in_path(request)
    return _release_response(request, repo, _seen(svc, svc.store.latest(repo)))


@named("api.update_release")
async def update_release(request: web.Request) -> web.StreamResponse:
    """PATCH .../releases/{id}: publishing a draft switches URLs to the tag form."""
    svc = services(request)
    repo = repo_in_path(request)
    release = _release(request, repo)
    fields = release_fields(await read_json_object(request), creating=False)
    refuse_release_change(release, fields)
    tag = fields.get("tag_name", release.tag_name)
    will_be_draft = fields.get("draft", release.draft)
    if release.draft and not will_be_draft:
        refuse_burnt_tag(svc.store.is_burnt(repo, tag), "update-a-release")
    if not will_be_draft:
        # Guess (spec 6.6, 14.10): publishing a draft into a tag that already has a published
        # release fails like creating one, 422 already_exists. Publishers of one tag rely on
        # this being atomic: of two drafts of a tag, only the first PATCH publishes.
        _tag_taken(svc, repo, tag, release.id, "update-a-release")
    publishing = release.draft and not will_be_draft
    for name in ("tag_name", "target_commitish", "name", "body", "prerelease", "draft"):
        if name in fields:
            setattr(release, name, fields[name])
    if publishing:
        release.published_at = utc_now()
    elif will_be_draft:
        release.published_at = None
    if "make_latest" in fields or publishing:
        svc.store.mark_latest(release, fields.get("make_latest", "true"))
    if not release.draft:
        svc.store.ensure_tag(repo, release.tag_name)  # also when a published tag is renamed
    if publishing:
        _lock_if_immutable(svc, release)
    svc.store.touch(release)
    svc.lag.wrote("release", release.id)
    return _release_response(request, repo, release)


@named("api.delete_release")
async def delete_release(request: web.Request) -> web.StreamResponse:
    """DELETE .../releases/{id}: 204, assets go too, the tag stays."""
    svc = services(request)
    repo = repo_in_path(request)
    svc.store.delete_release(_release(request, repo, lag=False))
    return web.Response(status=204)


@named("api.list_assets")
async def list_assets(request: web.Request) -> web.StreamResponse:
    """GET .../releases/{id}/assets: upload order, starters included, paginated."""
    svc = services(request)
    repo = repo_in_path(request)
    release = _release(request, repo)
    assets = svc.store.assets(release)
    page = choose_page(request.query, len(assets))
    origins = request_origins(request)
    data = [asset_json(svc.store, origins, repo, a) for a in page.slice(assets)]
    base = f"{origins.api}/repositories/{repo.id}/releases/{release.id}/assets"
    link = link_header(base, page)
    return json_response(data, headers={"Link": link} if link else None)


@named("api.get_asset")
async def get_asset(request: web.Request) -> web.StreamResponse:
    """GET .../releases/assets/{id}: JSON, or with the octet-stream Accept the bytes."""
    svc = services(request)
    repo = repo_in_path(request)
    asset = _asset(request, repo)
    if request[ROUTE] != "api.download_asset":
        return _asset_response(request, repo, asset)
    if asset.state != "uploaded" or asset.blob is None:
        # Guess: GitHub's exact answer for a starter is unknown (concourse saw a redirect error).
        raise not_found()
    svc.store.count_download(asset)
    if svc.config.serves_directly:
        return await serve_blob(request, svc, asset)
    return web.Response(
        status=302,
        headers={
            "Location": signed_url(svc, request_origins(request).storage, repo.id, asset),
            "Content-Type": "text/html;charset=utf-8",
        },
    )


@named("api.update_asset")
async def update_asset(request: web.Request) -> web.StreamResponse:
    """PATCH .../releases/assets/{id}: rename (normalized, unique) and label."""
    svc = services(request)
    repo = repo_in_path(request)
    asset = _asset(request, repo)
    refuse_asset_change(svc.store.release_of(asset))
    fields = asset_fields(await read_json_object(request))
    if "name" in fields:
        name = normalize_asset_name(fields["name"])
        siblings = svc.store.assets(svc.store.release_of(asset))
        if any(a.name == name and a.id != asset.id for a in siblings):
            raise HttpError.github(
                422,
                "Validation Failed",
                errors=[validation_error("ReleaseAsset", "already_exists", "name")],
                documentation_url=f"{ASSETS_DOCS}#update-a-release-asset",
            )
        asset.name = name
    if "label" in fields:
        asset.label = fields["label"]
    svc.store.touch_asset(asset)
    svc.lag.wrote("asset", asset.id)
    return _asset_response(request, repo, asset)


@named("api.delete_asset")
async def delete_asset(request: web.Request) -> web.StreamResponse:
    """DELETE .../releases/assets/{id}: 204 (starters too)."""
    svc = services(request)
    repo = repo_in_path(request)
    asset = _asset(request, repo, lag=False)
    refuse_asset_change(svc.store.release_of(asset))
    svc.store.delete_asset(asset)
    return web.Response(status=204)


@named("api.rate_limit")
async def rate_limit(request: web.Request) -> web.StreamResponse:
    """GET /rate_limit: free for the primary budget; no ``rate`` object in 2026-03-10.

    With limits off, GHES answers 404 "Rate limiting is not enabled." (reported by users of
    several clients since 2017), so tools probing it see what they would see there.
    """
    if not services(request).config.limits_enabled:
        raise HttpError.github(404, "Rate limiting is not enabled.")
    budget = request[BUDGET]
    core = {
        "limit": budget.limit,
        "used": budget.used,
        "remaining": budget.remaining,
        "reset": int(budget.reset),
        "resource": "core",
    }
    data: dict[str, object] = {"resources": {"core": core}}
    if request.headers.get("X-GitHub-Api-Version") != "2026-03-10":
        data["rate"] = core
    return json_response(data)


def routes() -> list[web.RouteDef]:
    """The API origin's routes; list endpoints also answer on ``/repositories/{id}``."""
    repo = "/repos/{owner}/{repo}"
    by_id = "/repositories/{repo_id:\\d+}"
    release = "/releases/{release_id:\\d+}"
    asset = "/releases/assets/{asset_id:\\d+}"
    return [
        web.post(f"{repo}/releases", create_release),
        web.get(f"{repo}/releases", list_releases),
        web.get(f"{by_id}/releases", list_releases),
        web.get(f"{repo}/releases/latest", latest_release),
        web.get(f"{repo}/releases/tags/{{tag:.+}}", get_release_by_tag),
        web.get(f"{repo}{release}", get_release),
        web.patch(f"{repo}{release}", update_release),
        web.delete(f"{repo}{release}", delete_release),
        web.get(f"{repo}{release}/assets", list_assets),
        web.get(f"{by_id}{release}/assets", list_assets),
        web.get(f"{repo}{asset}", get_asset),
        web.patch(f"{repo}{asset}", update_asset),
        web.delete(f"{repo}{asset}", delete_asset),
        web.get("/rate_limit", rate_limit),
    ]
