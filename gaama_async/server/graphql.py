"""The GraphQL endpoint, as far as release tools read it: ``POST /graphql`` on the API origin
(``https://api.github.com/graphql``), ``POST /api/graphql`` in the GHES layout.

gh 2.23 (Debian's) looks releases up by tag through GraphQL in parallel with REST, and lists
them through GraphQL only. Captured from gh itself with ``GH_DEBUG=api`` (the texts are in
``tests/fixtures/gh-graphql/``):

* ``RepositoryReleaseByTag``: ``repository(owner, name){release(tagName){databaseId,isDraft}}``
  (release view, download, upload, edit, delete, delete-asset);
* ``RepositoryReleaseList``: ``repository(owner, name){releases(first, orderBy: {field:
  CREATED_AT, direction: DESC}, after){nodes{name,tagName,isDraft,isLatest,isPrerelease,
  createdAt,publishedAt},pageInfo{hasNextPage,endCursor}}}`` (release list).

The schema is GitHub's, cut down to releases: ``repository.release(tagName)``,
``releases(first, after, last, before, orderBy)``, ``latestRelease``, ``ref(qualifiedName)``,
release assets, ``viewer`` and ``rateLimit``. graphql-core parses, validates and executes, so
unknown fields fail as on GitHub (a 200 with ``errors``). GitHub's shapes reproduced: a
missing repository is ``repository: null`` with a ``NOT_FOUND`` error naming it; a missing tag
is ``release: null`` without an error; drafts are visible only to callers with push access,
as in REST; anonymous callers get 401. Not emulated: node ids as inputs (``node(id)``),
mutations, query cost (every query is charged one request of the REST budget, whereas
GitHub charges points against a separate ``graphql`` resource), and the exact wording of
parse errors (graphql-core's, not GitHub's).
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from graphql import GraphQLError, build_schema, graphql

from .render import JSON, node_id, release_json
from .service import (
    CALLER,
    Caller,
    HttpError,
    Services,
    json_response,
    known_repo,
    named,
    now,
    read_json_object,
    request_origins,
    services,
)
from .store import Release, Repo

AUTH_DOCS = (
    "https://docs.github.com/graphql/guides/forming-calls-with-graphql#authenticating-with-graphql"
)
# GitHub's cap on ``first``/``last`` of any connection.
MAX_PAGE = 100

SCHEMA = build_schema(
    """
    scalar DateTime
    scalar URI
    scalar GitObjectID
    # GitHub types databaseId as Int (32 bits); this server's ids start past 2^31 on purpose
    # (clients must cope with large ids), so they travel as GitHub's BigInt scalar: JSON
    # numbers all the same, which is what gh decodes.
    scalar BigInt

    type Query {
      repository(owner: String!, name: String!, followRenames: Boolean = true): Repository
      viewer: User!
      rateLimit: RateLimit
    }

    type RateLimit { limit: Int!, cost: Int!, remaining: Int!, resetAt: DateTime!, used: Int! }

    type User { id: ID!, databaseId: BigInt, login: String!, url: URI! }

    type Repository {
      id: ID!
      databaseId: BigInt
      name: String!
      nameWithOwner: String!
      url: URI!
      isPrivate: Boolean!
      owner: User!
      release(tagName: String!): Release
      releases(first: Int, after: String, last: Int, before: String,
               orderBy: ReleaseOrder): ReleaseConnection!
      latestRelease: Release
      ref(qualifiedName: String!): Ref
    }

    input ReleaseOrder { field: ReleaseOrderField!, direction: OrderDirection! }
    enum ReleaseOrderField { CREATED_AT NAME }
    enum OrderDirection { ASC DESC }

    type PageInfo {
      hasNextPage: Boolean!
      hasPreviousPage: Boolean!
      startCursor: String
      endCursor: String
    }

    type ReleaseConnection {
      nodes: [Release]
      edges: [ReleaseEdge]
      pageInfo: PageInfo!
      totalCount: Int!
    }
    type ReleaseEdge { cursor: String!, node: Release }

    type Release {
      id: ID!
      databaseId: BigInt
      name: String
      tagName: String!
      description: String
      isDraft: Boolean!
      isLatest: Boolean!
      isPrerelease: Boolean!
      createdAt: DateTime!
      publishedAt: DateTime
      updatedAt: DateTime!
      url: URI!
      author: User
      tag: Ref
      releaseAssets(first: Int, after: String, last: Int, before: String,
                    name: String): ReleaseAssetConnection!
    }

    type ReleaseAssetConnection {
      nodes: [ReleaseAsset]
      edges: [ReleaseAssetEdge]
      pageInfo: PageInfo!
      totalCount: Int!
    }
    type ReleaseAssetEdge { cursor: String!, node: ReleaseAsset }

    type ReleaseAsset {
      id: ID!
      name: String!
      contentType: String!
      size: Int!
      downloadCount: Int!
      downloadUrl: URI!
      url: URI!
      createdAt: DateTime!
      updatedAt: DateTime!
    }

    type Ref { id: ID!, name: String!, prefix: String!, target: GitObject }
    type GitObject { oid: GitObjectID!, abbreviatedOid: String! }
    """
)


@named("api.graphql")
async def graphql_handler(request: web.Request) -> web.StreamResponse:
    """POST .../graphql: 200 with ``data`` and, where anything failed, ``errors``."""
    caller: Caller = request[CALLER]
    if caller.login is None:
        raise HttpError.github(
            401, "This endpoint requires you to be authenticated.", documentation_url=AUTH_DOCS
        )
    body = await read_json_object(request)
    query, variables = body.get("query"), body.get("variables") or {}
    if not isinstance(query, str) or not isinstance(variables, dict):
        return json_response({"errors": [{"message": "A query attribute must be specified"}]})
    result = await graphql(
        SCHEMA,
        query,
        root_value=_Query(_View.of(request)),
        variable_values=variables,
        operation_name=body.get("operationName"),
    )
    answer: JSON = {}
    if result.data is not None or not result.errors:
        answer["data"] = result.data
    if result.errors:
        answer["errors"] = [github_error(dict(error.formatted)) for error in result.errors]
    return json_response(answer)


def github_error(formatted: dict[str, Any]) -> JSON:
    """graphql-core's error as GitHub shapes it: ``type`` at the top level, beside
    ``path``, ``locations`` and ``message``."""
    error = dict(formatted)
    extensions = error.pop("extensions", None) or {}
    if "type" in extensions:
        error = {"type": extensions["type"], **error}
    return error


def encode_cursor(index: int) -> str:
    """An opaque cursor for the item at ``index`` (GitHub's are opaque too)."""
    return base64.b64encode(f"cursor:v2:{index}".encode()).decode()


def decode_cursor(cursor: str | None) -> int | None:
    """The index an ``encode_cursor`` cursor names; GitHub's error for anything else."""
    if cursor is None:
        return None
    try:
        kind, version, index = base64.b64decode(cursor, validate=True).decode().split(":")
        if (kind, version) == ("cursor", "v2"):
            return int(index)
    except ValueError:
        pass
    raise GraphQLError(f"`{cursor}` does not appear to be a valid cursor.")


def page_bounds(
    count: int, first: int | None, after: str | None, last: int | None, before: str | None
) -> tuple[int, int]:
    """The ``[start, stop)`` slice of ``count`` items a connection's arguments select."""
    for value, name in ((first, "first"), (last, "last")):
        if value is not None and not 0 <= value <= MAX_PAGE:
            raise GraphQLError(
                f"Requesting {value} records on the `{name}` argument exceeds the limit of "
                f"{MAX_PAGE} records."
                if value > MAX_PAGE
                else f"`{name}` must be a non-negative integer"
            )
    start = (decode_cursor(after) + 1) if after is not None else 0  # type: ignore[operator]
    stop = decode_cursor(before) if before is not None else count
    start, stop = max(0, start), min(count, stop if stop is not None else count)
    if first is not None:
        stop = min(stop, start + first)
    if last is not None:
        start = max(start, stop - last)
    return start, max(start, stop)


def connection(items: list[Any], start: int, stop: int) -> JSON:
    """A GraphQL connection over ``items[start:stop]``."""
    chosen = items[start:stop]
    cursors = [encode_cursor(start + n) for n in range(len(chosen))]
    return {
        "nodes": chosen,
        "edges": [{"cursor": c, "node": n} for c, n in zip(cursors, chosen, strict=True)],
        "pageInfo": {
            "hasNextPage": stop < len(items),
            "hasPreviousPage": start > 0,
            "startCursor": cursors[0] if cursors else None,
            "endCursor": cursors[-1] if cursors else None,
        },
        "totalCount": len(items),
    }


@dataclass(frozen=True)
class _View:
    """What the resolvers need of one request: the shared state, who asks, and the URLs."""

    svc: Services
    request: web.Request
    push: bool

    @classmethod
    def of(cls, request: web.Request) -> _View:
        caller: Caller = request[CALLER]
        push = caller.login is not None and not caller.read_only
        return cls(services(request), request, push)

    def release_data(self, repo: Repo, release: Release) -> JSON:
        """The REST rendering of ``release``, whose URLs the GraphQL fields reuse."""
        return release_json(self.svc.store, request_origins(self.request), repo, release)


class _Query:
    def __init__(self, view: _View) -> None:
        self._view = view

    def repository(self, _info: Any, owner: str, name: str, **_: Any) -> _Repository:
        found = known_repo(self._view.svc, owner, name)
        if found is None:
            raise GraphQLError(
                f"Could not resolve to a Repository with the name '{owner}/{name}'.",
                extensions={"type": "NOT_FOUND"},
            )
        return _Repository(self._view, found)

    def viewer(self, _info: Any) -> JSON:
        caller: Caller = self._view.request[CALLER]
        assert caller.login is not None
        return _user(self._view, caller.login)

    def rateLimit(self, _info: Any) -> JSON:
        svc, caller = self._view.svc, self._view.request[CALLER]
        budget = svc.primary.budget(
            caller.rate_key, svc.config.rate_limit, svc.config.rate_limit_window, now()
        )
        return {
            "limit": budget.limit,
            "cost": 1,
            "remaining": budget.remaining,
            "resetAt": _iso(budget.reset),
            "used": budget.used,
        }


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _user(view: _View, login: str) -> JSON:
    user_id = view.svc.store.user_id(login)
    return {
        "id": node_id("U", user_id),
        "databaseId": user_id,
        "login": login,
        "url": f"{request_origins(view.request).web}/{login}",
    }


class _Repository:
    def __init__(self, view: _View, repo: Repo) -> None:
        self._view, self._repo = view, repo
        self.id = node_id("R", repo.id)
        self.databaseId = repo.id
        self.name = repo.name
        self.nameWithOwner = f"{repo.owner}/{repo.name}"
        self.isPrivate = view.svc.config.private
        self.url = f"{request_origins(view.request).web}/{repo.owner}/{repo.name}"
        self.owner = _user(view, repo.owner)

    def _visible(self) -> list[Release]:
        store = self._view.svc.store
        return [r for r in store.releases(self._repo) if not r.draft or self._view.push]

    def release(self, _info: Any, tagName: str) -> _Release | None:
        """The published release of ``tagName``, else (for push access) its newest draft."""
        candidates = [r for r in self._visible() if r.tag_name == tagName]
        published = [r for r in candidates if not r.draft]
        chosen = published or candidates
        return _Release(self._view, self._repo, chosen[0]) if chosen else None

    def releases(self, _info: Any, **args: Any) -> JSON:
        found = _ordered(self._visible(), args.get("orderBy"))
        start, stop = page_bounds(
            len(found), args.get("first"), args.get("after"), args.get("last"), args.get("before")
        )
        views = [_Release(self._view, self._repo, r) for r in found]
        return connection(views, start, stop)

    def latestRelease(self, _info: Any) -> _Release | None:
        latest = self._view.svc.store.latest(self._repo)
        return None if latest is None else _Release(self._view, self._repo, latest)

    def ref(self, _info: Any, qualifiedName: str) -> JSON | None:
        tag = qualifiedName.removeprefix("refs/tags/")
        return _tag_ref(self._view, self._repo, tag)


def _tag_ref(view: _View, repo: Repo, tag: str) -> JSON | None:
    """A lightweight tag as a GraphQL ``Ref``; only tags exist here, no branches."""
    sha = view.svc.store.tag_sha(repo, tag)
    if sha is None:
        return None
    return {
        "id": node_id("REF", abs(hash((repo.id, tag))) % 2**40),
        "name": tag,
        "prefix": "refs/tags/",
        "target": {"oid": sha, "abbreviatedOid": sha[:7]},
    }


def _ordered(releases: list[Release], order: dict[str, str] | None) -> list[Release]:
    """GitHub's ``ReleaseOrder``; without one, newest first."""
    field = (order or {}).get("field", "CREATED_AT")
    descending = (order or {}).get("direction", "DESC") == "DESC"
    if field == "NAME":
        return sorted(releases, key=lambda r: r.name or "", reverse=descending)
    return sorted(releases, key=lambda r: (r.created_at, r.id), reverse=descending)


class _Release:
    def __init__(self, view: _View, repo: Repo, release: Release) -> None:
        data = view.release_data(repo, release)
        latest = view.svc.store.latest(repo)
        self._view, self._repo, self._release = view, repo, release
        self.id = data["node_id"]
        self.databaseId = release.id
        self.name = release.name
        self.tagName = release.tag_name
        self.description = release.body
        self.isDraft = release.draft
        self.isLatest = latest is not None and latest.id == release.id
        self.isPrerelease = release.prerelease
        self.createdAt = release.created_at
        self.publishedAt = release.published_at
        self.updatedAt = release.updated_at
        self.url = data["html_url"]
        self.author = _user(view, release.author)
        self._assets = data["assets"]

    def tag(self, _info: Any) -> JSON | None:
        return None if self._release.draft else _tag_ref(self._view, self._repo, self.tagName)

    def releaseAssets(self, _info: Any, **args: Any) -> JSON:
        assets = [a for a in self._assets if a["state"] == "uploaded"]
        if args.get("name") is not None:
            assets = [a for a in assets if a["name"] == args["name"]]
        start, stop = page_bounds(
            len(assets), args.get("first"), args.get("after"), args.get("last"), args.get("before")
        )
        return connection([_asset(a) for a in assets], start, stop)


def _asset(data: JSON) -> JSON:
    """A REST asset object's fields under their GraphQL names."""
    return {
        "id": data["node_id"],
        "name": data["name"],
        "contentType": data["content_type"],
        "size": data["size"],
        "downloadCount": data["download_count"],
        "downloadUrl": data["browser_download_url"],
        "url": data["url"],
        "createdAt": data["created_at"],
        "updatedAt": data["updated_at"],
    }


def routes() -> list[web.RouteDef]:
    """The GraphQL route of the API origin (and of the GHES layout's ``/api`` mount)."""
    return [web.post("/graphql", graphql_handler)]
