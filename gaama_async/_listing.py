"""The versions of a repository: every release across all pages, marked with what a reader
needs to choose one (latest, prerelease, draft, immutable, and the aliases pointing at it)."""

from __future__ import annotations

import dataclasses

from ._aliasdoc import Alias, aliases_by_target, is_alias_tag, parse_alias
from ._context import Context
from ._releases import published_or_none
from .models import Release


async def all_releases(ctx: Context) -> list[Release]:
    """Every release GitHub lists, newest first; drafts appear for a token with push access."""
    return await ctx.http.paginate(
        f"{ctx.repo.url}/releases",
        what=f"releases of {ctx.repo.full_name}",
        parse=Release.from_json,
    )


async def list_versions(ctx: Context, *, drafts: bool = False) -> list[Release]:
    """The releases that are versions (alias releases are not: they mark their targets),
    each with ``latest`` and ``aliases`` filled in; drafts only when asked."""
    releases = await all_releases(ctx)
    latest = await published_or_none(ctx, None)
    aliases = aliases_by_target(releases)
    return [
        dataclasses.replace(
            release,
            latest=latest is not None and release.id == latest.id,
            aliases=tuple(aliases.get(release.id, ())),
        )
        for release in releases
        if not is_alias_tag(release.tag) and (drafts or not release.draft)
    ]


async def list_aliases(ctx: Context) -> list[Alias]:
    """Every alias of the repository, by name."""
    found = filter(None, map(parse_alias, await all_releases(ctx)))
    return sorted(found, key=lambda alias: alias.name)
