"""Drafts a user kept (``publish(draft=True)``): finishing one after checking its files, and
deleting them. In-progress drafts of live publishers are never touched (see ``_drafts``)."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from ._context import Context
from ._draftcheck import draft_problems, leftovers
from ._drafts import DEFAULT_LEASE, abandoned_drafts, kept_drafts, process_alive, this_machine
from ._listing import all_releases
from ._publisher import Publisher
from ._releases import assets_of, published_or_none
from ._responses import validation_codes
from ._storage import read_manifest
from .errors import GaamaError, NotFoundError, PublishError
from .models import Release

log = logging.getLogger("gaama_async")


async def kept_draft(ctx: Context, tag: str) -> Release:
    """The newest draft of ``tag`` a user kept; a clear error when there is none."""
    drafts = kept_drafts(await all_releases(ctx), tag)
    if drafts:
        if len(drafts) > 1:
            others = ", ".join(str(d.id) for d in drafts[1:])
            log.warning("tag '%s' has %d kept drafts; using the newest (others: %s)",
                        tag, len(drafts), others)  # fmt: skip
        return drafts[0]
    if await published_or_none(ctx, tag) is not None:
        raise PublishError(f"Release '{tag}' of {ctx.repo.full_name} is already published.")
    raise NotFoundError(
        f"{ctx.repo.full_name} has no draft of '{tag}' (drafts are listed only for a token "
        "with push access): publish one with draft=True (gaama publish --draft)."
    )


async def finish_draft(
    ctx: Context, draft: Release, *, name: str | None = None, body: str | None = None
) -> Release:
    """Publish ``draft`` once its assets match its manifest; leftovers of failed uploads go
    first. Refused, with the draft kept, when a file is missing or differs."""
    assets = await assets_of(ctx, draft)
    problems = draft_problems(assets, await read_manifest(ctx.http, assets))
    if problems:
        raise PublishError(
            f"Draft '{draft.tag}' cannot be published: {'; '.join(problems)}. It was kept: "
            "publish the files again into it, or delete it (gaama rm --tag TAG --draft)."
        )
    await Publisher(ctx, draft).delete(leftovers(assets))
    fields: dict[str, Any] = {"draft": False, "make_latest": str(not draft.prerelease).lower()}
    fields |= {k: v for k, v in (("name", name), ("body", body)) if v is not None}
    try:
        return await ctx.http.parsed(
            Release.from_json, "PATCH", draft.url, what=f"publishing draft '{draft.tag}'",
            json=fields,
        )  # fmt: skip
    except GaamaError as exc:
        if exc.status == 422 and ("tag_name", "already_exists") in validation_codes(exc.details):
            raise PublishError(
                f"Release '{draft.tag}' was published meanwhile by another publisher; the "
                "draft was kept: delete it (gaama rm --tag TAG --draft)."
            ) from exc
        raise


async def delete_drafts(
    ctx: Context, tag: str, *, lease: float = DEFAULT_LEASE, dry_run: bool = False
) -> list[Release]:
    """Delete the drafts of ``tag`` no live publisher is filling: the ones users kept and
    abandoned in-progress ones. Returns them (none is an error: nothing to delete); with
    ``dry_run`` only returns them."""
    releases = await all_releases(ctx)
    doomed = kept_drafts(releases, tag) + abandoned_drafts(
        releases, tag, now=ctx.http.clock.now(), lease=lease, here=this_machine(),
        alive=process_alive,
    )  # fmt: skip
    if not doomed:
        raise NotFoundError(f"{ctx.repo.full_name} has no draft of '{tag}' to delete.")
    for release in () if dry_run else doomed:
        with contextlib.suppress(NotFoundError):  # another process deleted it first
            await ctx.http.json("DELETE", release.url, what=f"draft '{tag}'")
    return doomed
