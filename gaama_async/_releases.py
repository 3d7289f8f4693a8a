"""Reading releases and their assets from the API: shared by the download and publish
workflows, and by the facade's ``get_release`` and ``list_assets``."""

from __future__ import annotations

from urllib.parse import quote

from ._context import Context
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


async def assets_of(ctx: Context, release: Release) -> list[Asset]:
    """Every asset of ``release``, across all pages."""
    what = f"assets of release '{release.tag}'"
    return await ctx.http.paginate(f"{release.url}/assets", what=what, parse=Asset.from_json)


async def release_by_id(ctx: Context, release: Release) -> Release:
    """``release`` read again by its id (drafts included) right after writing it, e.g. once
    it is published: a 404 then is GitHub's read-after-write lag, ridden out briefly."""
    what = f"release '{release.tag}'"
    return await ctx.http.parsed(Release.from_json, "GET", release.url, what=what, after_write=True)
