"""The API root (``GET /``, ``/api/v3/`` on GHES) and the authenticated user (``GET /user``).

``gh auth login --hostname`` and other tools probe the root with the token to validate it,
then ask who the token belongs to. The root is GitHub's map of URL templates; the emulator
serves few of them, but clients only read the map.
"""

from __future__ import annotations

from aiohttp import web

from .public import Origins
from .render import JSON, http_date, simple_user
from .service import CALLER, Caller, HttpError, json_response, named, request_origins, services

USER_DOCS = "https://docs.github.com/rest/users/users#get-the-authenticated-user"
# Guess: the emulator keeps no account dates; a fixed past date stands in for both.
_ACCOUNT_DATE = "2024-01-01T00:00:00Z"

_SEARCH = "{&page,per_page,sort,order}"


def root_json(origins: Origins) -> JSON:
    """GitHub's root document, in the key order of api.github.com's answer.

    ``topic_search_url`` comes from the OpenAPI ``root`` schema; ``hub_url`` is deprecated
    there but still sent (both as remembered from api.github.com, not from a recording).
    """
    api, web_ = origins.api, origins.web
    return {
        "current_user_url": f"{api}/user",
        "current_user_authorizations_html_url": (
            f"{web_}/settings/connections/applications{{/client_id}}"
        ),
        "authorizations_url": f"{api}/authorizations",
        "code_search_url": f"{api}/search/code?q={{query}}{_SEARCH}",
        "commit_search_url": f"{api}/search/commits?q={{query}}{_SEARCH}",
        "emails_url": f"{api}/user/emails",
        "emojis_url": f"{api}/emojis",
        "events_url": f"{api}/events",
        "feeds_url": f"{api}/feeds",
        "followers_url": f"{api}/user/followers",
        "following_url": f"{api}/user/following{{/target}}",
        "gists_url": f"{api}/gists{{/gist_id}}",
        "hub_url": f"{api}/hub",
        "issue_search_url": f"{api}/search/issues?q={{query}}{_SEARCH}",
        "issues_url": f"{api}/issues",
        "keys_url": f"{api}/user/keys",
        "label_search_url": (
            f"{api}/search/labels?q={{query}}&repository_id={{repository_id}}{{&page,per_page}}"
        ),
        "notifications_url": f"{api}/notifications",
        "organization_url": f"{api}/orgs/{{org}}",
        "organization_repositories_url": f"{api}/orgs/{{org}}/repos{{?type,page,per_page,sort}}",
        "organization_teams_url": f"{api}/orgs/{{org}}/teams",
        "public_gists_url": f"{api}/gists/public",
        "rate_limit_url": f"{api}/rate_limit",
        "repository_url": f"{api}/repos/{{owner}}/{{repo}}",
        "repository_search_url": f"{api}/search/repositories?q={{query}}{_SEARCH}",
        "current_user_repositories_url": f"{api}/user/repos{{?type,page,per_page,sort}}",
        "starred_url": f"{api}/user/starred{{/owner}}{{/repo}}",
        "starred_gists_url": f"{api}/gists/starred",
        "topic_search_url": f"{api}/search/topics?q={{query}}{{&page,per_page}}",
        "user_url": f"{api}/users/{{user}}",
        "user_organizations_url": f"{api}/user/orgs",
        "user_repositories_url": f"{api}/users/{{user}}/repos{{?type,page,per_page,sort}}",
        "user_search_url": f"{api}/search/users?q={{query}}{_SEARCH}",
    }


def private_user_json(origins: Origins, login: str, user_id: int) -> JSON:
    """The authenticated user (the ``private-user`` schema): simple-user plus profile fields.

    Profile values are empty or zero: the emulator knows logins only (a guess at what a
    fresh account shows).
    """
    return {
        **simple_user(origins, login, user_id),
        "user_view_type": "private",  # one's own account is seen in the private view
        "name": None,
        "company": None,
        "blog": "",
        "location": None,
        "email": None,
        "hireable": None,
        "bio": None,
        "twitter_username": None,
        "notification_email": None,
        "public_repos": 0,
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "created_at": _ACCOUNT_DATE,
        "updated_at": _ACCOUNT_DATE,
        "private_gists": 0,
        "total_private_repos": 0,
        "owned_private_repos": 0,
        "disk_usage": 0,
        "collaborators": 0,
        "two_factor_authentication": False,
        "plan": {"name": "free", "space": 976562499, "collaborators": 0, "private_repos": 10000},
    }


@named("api.root")
async def api_root(request: web.Request) -> web.StreamResponse:
    """GET / (``/api/v3/`` on GHES): the map of URL templates, to anyone."""
    return json_response(root_json(request_origins(request)))


@named("api.current_user")
async def current_user(request: web.Request) -> web.StreamResponse:
    """GET /user: the token's user, 401 ``Requires authentication`` without a token.

    A bad token never gets here: the pipeline answers 401 ``Bad credentials``.
    """
    caller: Caller = request[CALLER]
    if caller.login is None:
        raise HttpError.github(401, "Requires authentication", documentation_url=USER_DOCS)
    svc = services(request)
    data = private_user_json(
        request_origins(request), caller.login, svc.store.user_id(caller.login)
    )
    return json_response(data, headers={"Last-Modified": http_date(_ACCOUNT_DATE)})


def routes() -> list[web.RouteDef]:
    """The root and current-user routes of the API origin."""
    # "" is the bare prefix, so /api/v3 answers like /api/v3/ (a guess at GHES; alone it
    # never matches, every path starting with "/").
    return [web.get("/", api_root), web.get("", api_root), web.get("/user", current_user)]
