"""GitHub-shaped JSON for releases, assets, users and errors (spec sections 2-4).

Key order follows the 2025 responses seen in the spec; consumers must not depend on it,
but matching it makes diffs against real responses easy to read.
"""

from __future__ import annotations

import base64
import calendar
import time
from email.utils import formatdate
from typing import Any
from urllib.parse import quote

from .public import Origins
from .store import Asset, Release, Repo, Store

DOCS = "https://docs.github.com/rest"
RELEASES_DOCS = "https://docs.github.com/rest/releases/releases"
ASSETS_DOCS = "https://docs.github.com/rest/releases/assets"
RATE_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"

JSON = dict[str, Any]


def http_date(timestamp: str) -> str:
    """A GitHub timestamp as an HTTP date (for ``Last-Modified``)."""
    seconds = calendar.timegm(time.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ"))
    return formatdate(seconds, usegmt=True)


def node_id(prefix: str, number: int) -> str:
    """An opaque node id in the modern ``XX_kw...`` style."""
    raw = number.to_bytes(8, "big")
    return f"{prefix}_kwDO{base64.urlsafe_b64encode(raw).decode().rstrip('=')}"


def simple_user(origins: Origins, login: str, user_id: int) -> JSON:
    """The simple-user object (spec 3.2) for ``login``."""
    api = f"{origins.api}/users/{login}"
    return {
        "login": login,
        "id": user_id,
        "node_id": node_id("U", user_id),
        "avatar_url": f"{origins.web}/avatars/u/{user_id}?v=4",
        "gravatar_id": "",
        "url": api,
        "html_url": f"{origins.web}/{login}",
        "followers_url": f"{api}/followers",
        "following_url": f"{api}/following{{/other_user}}",
        "gists_url": f"{api}/gists{{/gist_id}}",
        "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{api}/subscriptions",
        "organizations_url": f"{api}/orgs",
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events{{/privacy}}",
        "received_events_url": f"{api}/received_events",
        "type": "User",
        "user_view_type": "public",
        "site_admin": False,
    }


def url_tag(release: Release) -> str:
    """The tag segment of web URLs: ``untagged-<hex>`` while the release is a draft."""
    return f"untagged-{release.untagged}" if release.draft else release.tag_name


def _repo_path(repo: Repo) -> str:
    return f"repos/{repo.owner}/{repo.name}"


def asset_json(store: Store, origins: Origins, repo: Repo, asset: Asset) -> JSON:
    """The release-asset object (spec 4); ``url`` is always on the API origin."""
    release = store.release_of(asset)
    tag = quote(url_tag(release), safe="")
    return {
        "url": f"{origins.api}/{_repo_path(repo)}/releases/assets/{asset.id}",
        "id": asset.id,
        "node_id": node_id("RA", asset.id),
        "name": asset.name,
        "label": asset.label,
        "uploader": simple_user(origins, asset.uploader, store.user_id(asset.uploader)),
        "content_type": asset.content_type,
        "state": asset.state,
        "size": asset.size,
        "digest": asset.digest,
        "download_count": asset.download_count,
        "created_at": asset.created_at,
        "updated_at": asset.updated_at,
        "browser_download_url": (
            f"{origins.web}/{repo.owner}/{repo.name}/releases/download/{tag}/"
            f"{quote(asset.name, safe='')}"
        ),
    }


def release_json(store: Store, origins: Origins, repo: Repo, release: Release) -> JSON:
    """The release object (spec 3), assets inline (starters included)."""
    base = f"{origins.api}/{_repo_path(repo)}"
    tag = quote(release.tag_name, safe="")
    # Believed null for drafts (spec 3, INF): no git tag exists yet.
    archive = None if release.draft else f"{base}/tarball/{tag}"
    return {
        "url": f"{base}/releases/{release.id}",
        "assets_url": f"{base}/releases/{release.id}/assets",
        "upload_url": (
            f"{origins.uploads}/{_repo_path(repo)}/releases/{release.id}/assets{{?name,label}}"
        ),
        "html_url": (
            f"{origins.web}/{repo.owner}/{repo.name}/releases/tag/"
            f"{quote(url_tag(release), safe='')}"
        ),
        "id": release.id,
        "author": simple_user(origins, release.author, store.user_id(release.author)),
        "node_id": node_id("RE", release.id),
        "tag_name": release.tag_name,
        "target_commitish": release.target_commitish,
        "name": release.name,
        "draft": release.draft,
        "immutable": release.immutable,
        "prerelease": release.prerelease,
        "created_at": release.created_at,
        "updated_at": release.updated_at,
        "published_at": release.published_at,
        "assets": [asset_json(store, origins, repo, a) for a in store.assets(release)],
        "tarball_url": archive,
        "zipball_url": None if archive is None else f"{base}/zipball/{tag}",
        "body": release.body,
    }


def repo_json(
    store: Store, origins: Origins, repo: Repo, *, private: bool, permissions: JSON | None
) -> JSON:
    """A minimal full-repository object: what PyGithub and similar clients read.

    ``permissions`` appears only for authenticated callers, as on GitHub.
    """
    api = f"{origins.api}/{_repo_path(repo)}"
    web = f"{origins.web}/{repo.owner}/{repo.name}"
    data: JSON = {
        "id": repo.id,
        "node_id": node_id("R", repo.id),
        "name": repo.name,
        "full_name": f"{repo.owner}/{repo.name}",
        "private": private,
        "owner": simple_user(origins, repo.owner, store.user_id(repo.owner)),
        "html_url": web,
        "description": None,
        "fork": False,
        "url": api,
        "releases_url": f"{api}/releases{{/id}}",
        "tags_url": f"{api}/tags",
        "clone_url": f"{web}.git",
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z",
        "pushed_at": "2024-01-01T00:00:00Z",
        "size": 0,
        "archived": False,
        "disabled": False,
        "visibility": "private" if private else "public",
        "default_branch": "main",
    }
    if permissions is not None:
        data["permissions"] = permissions
    return data


def error_json(
    status: int,
    message: str,
    *,
    documentation_url: str = DOCS,
    errors: list[JSON] | None = None,
) -> JSON:
    """A basic or validation error body; ``status`` is a string, as GitHub sends since 2024."""
    body: JSON = {"message": message}
    if errors is not None:
        body["errors"] = errors
    body["documentation_url"] = documentation_url
    body["status"] = str(status)
    return body


def validation_error(resource: str, code: str, field: str, message: str | None = None) -> JSON:
    """One entry of a 422 ``errors`` array."""
    entry: JSON = {"resource": resource, "code": code, "field": field}
    if message is not None:
        entry["message"] = message
    return entry


def tag_ref_json(origins: Origins, repo: Repo, tag: str, sha: str) -> JSON:
    """The git-ref object of a lightweight tag: ``object.type`` is ``commit``, not ``tag``."""
    base = f"{origins.api}/{_repo_path(repo)}/git"
    ref = f"refs/tags/{tag}"
    raw = repo.id.to_bytes(8, "big") + ref.encode()
    return {
        "ref": ref,
        "node_id": f"REF_kwDO{base64.urlsafe_b64encode(raw).decode().rstrip('=')}",
        "url": f"{base}/{quote(ref, safe='/')}",
        "object": {"sha": sha, "type": "commit", "url": f"{base}/commits/{sha}"},
    }
