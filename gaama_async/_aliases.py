"""Aliases (channels) on GitHub: setting or moving one, reading them, and resolving a tag that
names one to the release it points at. The representation is ``_aliasdoc``'s.

A tag is resolved as itself first: a real release always wins over an alias of the same name,
so an alias never shadows a version (and setting an alias named like a released tag is
refused). Only when no release has the tag is ``alias/TAG`` looked up.
"""

from __future__ import annotations

import time

from ._aliasdoc import (
    Alias,
    alias_name_problem,
    alias_tag,
    alias_title,
    is_alias_tag,
    new_alias,
    parse_alias,
    render_body,
)
from ._context import Context
from ._releases import get_release, published_or_none
from ._responses import validation_codes
from .errors import GaamaError, NotFoundError, PublishError
from .models import Release


async def resolve_release(ctx: Context, tag: str | None) -> Release:
    """The published release ``tag`` names: its own, else the one alias ``tag`` points at."""
    try:
        return await get_release(ctx, tag)
    except NotFoundError as missing:
        if tag is None or is_alias_tag(tag) or alias_name_problem(tag):
            raise
        carrier = await published_or_none(ctx, alias_tag(tag))
        alias = parse_alias(carrier) if carrier else None
        if alias is None:
            raise missing from None
    return await _target_of(ctx, alias)


async def _target_of(ctx: Context, alias: Alias) -> Release:
    """The release ``alias`` points at, by its id, so a tag re-created since is not taken
    for the release the alias was set to."""
    url = f"{ctx.repo.url}/releases/{alias.target_id}"
    try:
        target = await ctx.http.parsed(Release.from_json, "GET", url, what=f"alias '{alias.name}'")
    except NotFoundError:
        target = None
    if target is None or target.draft:
        raise NotFoundError(
            f"Alias '{alias.name}' of {ctx.repo.full_name} points to {alias.target_tag} "
            f"(release {alias.target_id}), which was deleted: move the alias to another tag "
            f"(gaama alias {ctx.repo.full_name} {alias.name} TAG)."
        )
    return target


async def set_alias(ctx: Context, name: str, tag: str) -> Alias:
    """Point alias ``name`` at the published release ``tag``: one PATCH of the alias
    release's title and body (one POST the first time), history appended."""
    if problem := alias_name_problem(name):
        raise ValueError(problem)
    if is_alias_tag(tag):
        raise ValueError(f"point alias '{name}' at a release, not at another alias ({tag!r})")
    target = await get_release(ctx, tag)
    if await published_or_none(ctx, name) is not None:
        raise PublishError(
            f"'{name}' is already a release tag of {ctx.repo.full_name}: an alias of that name "
            "would be hidden by it; choose another alias name."
        )
    carrier = await published_or_none(ctx, alias_tag(name))
    by, at = await _who(ctx), _now(ctx)
    if carrier is None:
        alias = new_alias(name, target.tag, target.id, by=by, at=at)
        created = await _create(ctx, alias, target)
        if created is not None:
            return alias
        carrier = await get_release(ctx, alias_tag(name))  # another mover created it first
    current = parse_alias(carrier)
    if current is None:
        raise PublishError(
            f"Release '{carrier.tag}' of {ctx.repo.full_name} is not a gaama alias; "
            "delete it or choose another alias name."
        )
    alias = current.moved_to(target.tag, target.id, by=by, at=at)
    await ctx.http.json(
        "PATCH", carrier.url, what=f"moving alias '{name}'", json=_fields(ctx, alias, target)
    )
    return alias


async def _create(ctx: Context, alias: Alias, target: Release) -> Release | None:
    """Create the alias release; None when another mover created it meanwhile.

    A prerelease with ``make_latest: false``: GitHub's latest is never a prerelease, so an
    alias can never become the repository's latest release, however "latest" is computed.
    """
    fields = {"tag_name": alias.tag, "draft": False, "prerelease": True, "make_latest": "false"}
    try:
        return await ctx.http.parsed(
            Release.from_json, "POST", f"{ctx.repo.url}/releases",
            what=f"creating alias '{alias.name}'", json=fields | _fields(ctx, alias, target),
        )  # fmt: skip
    except GaamaError as exc:
        if exc.status == 422 and ("tag_name", "already_exists") in validation_codes(exc.details):
            return None
        raise


def _fields(ctx: Context, alias: Alias, target: Release) -> dict[str, str]:
    body = render_body(alias, ctx.repo.full_name, target.html_url or None)
    return {"name": alias_title(alias), "body": body}


async def get_alias(ctx: Context, name: str) -> Alias:
    """Alias ``name`` as it stands, with its history."""
    carrier = await published_or_none(ctx, alias_tag(name))
    alias = parse_alias(carrier) if carrier else None
    if alias is None:
        raise NotFoundError(f"{ctx.repo.full_name} has no alias '{name}'.")
    return alias


async def _who(ctx: Context) -> str:
    """The login of the token's owner, for the history; ``unknown`` when GitHub will not say."""
    try:
        user = await ctx.http.json("GET", f"{ctx.repo.api_url}/user", what="the token's user")
    except GaamaError:
        return "unknown"
    return str(user.get("login") or "unknown") if isinstance(user, dict) else "unknown"


def _now(ctx: Context) -> str:
    """Now on GitHub's clock (its ``Date``), the clock every mover shares."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ctx.http.clock.now()))
