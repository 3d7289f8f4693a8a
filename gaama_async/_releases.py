"""Reading releases and their assets from the API: shared by the download and publish
workflows, and by the facade's ``get_release`` and ``list_assets``."""

from __future__ import annotations

import contextlib
from urllib.parse import quote

from ._context import Context
from .errors import NotFoundError
from .models import Asset, Release


def release_url(ctx: Context, tag: str | None) -> tuple[str, str]:
    """The API URL of the release for ``tag`` (latest when None), and how to name it."""
    if tag is None:
        return f"{ctx.repo.url}/releases/latest", f"latest release of {ctx.repo.full_name}"
    return (
        f"{ctx.repo.url}/releases/tags/{quote(tag, safe='')}",
        f"release '{tag}' of {ctx.repo.full_name}",
    )


async def get_release(ctx: Context, tag: str | None) -> Release:
    """The published release for ``tag``, or the latest release when ``tag`` is None."""
    url, what = release_url(ctx, tag)
    return await ctx.http.parsed(Release.from_json, "GET", url, what=what)


# A release object lists its assets inline, in one unpaginated array whose size cap GitHub
# does not document (spec 6.8). Guess: a cap, if any, is not below one page (100), so an
# inline list shorter than that is complete; a longer one is read again page by page.
INLINE_ASSETS_TRUSTED = 100


def inline_assets_complete(release: Release) -> bool:
    """Whether ``release``'s inline assets can stand in for listing them (one API call)."""
    return len(release.assets) < INLINE_ASSETS_TRUSTED


async def assets_to_download(ctx: Context, release: Release) -> list[Asset]:
    """Every asset of ``release``, without another API call when its inline list is complete:
    a fleet starting at once then spends one call per host (the release)."""
    if inline_assets_complete(release):
        return list(release.assets)
    return await assets_of(ctx, release)


async def assets_of(ctx: Context, release: Release) -> list[Asset]:
    """Every asset of ``release``, across all pages; the pages its inline list already
    fills are asked at once (500 assets: one round trip, not five)."""
    what = f"assets of release '{release.tag}'"
    return await ctx.http.paginate(
        f"{release.url}/assets", what=what, parse=Asset.from_json, at_least=len(release.assets)
    )


async def release_by_id(ctx: Context, release: Release) -> Release:
    """``release`` read again by its id (drafts included) right after writing it, e.g. once
    it is published: a 404 then is GitHub's read-after-write lag, ridden out briefly."""
    what = f"release '{release.tag}'"
    return await ctx.http.parsed(Release.from_json, "GET", release.url, what=what, after_write=True)


async def published_or_none(ctx: Context, tag: str | None) -> Release | None:
    """The published release for ``tag`` (latest when None), or None; drafts are never found
    by tag (spec 6.3)."""
    with contextlib.suppress(NotFoundError):
        return await get_release(ctx, tag)
    return None
