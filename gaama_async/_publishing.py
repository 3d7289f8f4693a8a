"""Publishing a release, and removing files or a whole release, for ``GaAMA``.

A new release is built as a draft and published only once every asset is uploaded and
verified (spec 7.2, 12). GitHub allows any number of drafts per tag but one published release
(spec 6.1, 7.1), so two publishers of one tag each build their own draft and the publish
(``PATCH draft=false``) decides: the loser's is refused with ``already_exists``, it removes its
draft and, when the winner published the same files, returns the winner's release; otherwise
it raises ``AssetConflictError`` and leaves the winner's release as it is.

Drafts carry a hidden marker and a lease (``_drafts``): a publisher removes only drafts whose
publisher is gone — its own on failure or cancellation, and abandoned ones of the tag before it
starts — never another live publisher's, and never a draft a user kept with ``draft=True``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import anyio

from ._bundle import zip_bundle
from ._context import Context
from ._draftflow import finish_draft
from ._drafts import (
    DEFAULT_LEASE,
    RENEWALS_PER_LEASE,
    DraftMark,
    abandoned_drafts,
    kept_drafts,
    process_alive,
    this_machine,
    this_mark,
    with_mark,
)
from ._listing import all_releases
from ._names import is_leftover
from ._plan import patterns_of
from ._publisher import AdditionPlan, LocalFile, Publisher, local_files, plan_additions
from ._ratelimit import ServerClock
from ._releases import assets_of, get_release, release_by_id
from ._removal import available_names, nothing_matches, plan_removal
from ._responses import validation_codes
from ._retry import TransientError
from ._storage import read_manifest
from .errors import AssetConflictError, GaamaError, NotFoundError, PublishError
from .manifest import MANIFEST_NAME, Manifest
from .models import Release

log = logging.getLogger("gaama_async")

#: Longest wait for removing our own draft after a failure (shielded from cancellation).
DISCARD_DEADLINE = 30.0


@dataclass(frozen=True, slots=True)
class ReleaseSpec:
    """What the user asked the release to be."""

    tag: str
    name: str | None = None
    body: str | None = None
    draft: bool = False
    prerelease: bool = False


@dataclass(slots=True)
class Draft:
    """Our draft while it is built: the release as GitHub last returned it, and our marker."""

    release: Release
    mark: DraftMark
    spec: ReleaseSpec


class LostRace(Exception):
    """Another publisher published the tag first; our draft cannot become the release."""


# -- publishing ------------------------------------------------------------------------------


async def publish(
    ctx: Context,
    spec: ReleaseSpec,
    paths: Iterable[str | os.PathLike[str]],
    *,
    overwrite: bool = False,
    zip_files: bool = False,
    lease: float = DEFAULT_LEASE,
) -> Release:
    """Publish ``paths`` as the release ``spec.tag``: a new release, or added to the
    published one (identical files skipped, different ones ``AssetConflictError`` unless
    ``overwrite``). ``lease`` is how long our draft may go unrenewed before another
    publisher may take it for abandoned (we renew it four times per lease)."""
    if not lease > 0:
        raise ValueError(f"draft_lease must be a positive number of seconds, got {lease!r}")
    files = await local_files(paths)
    async with contextlib.AsyncExitStack() as stack:
        if zip_files:
            folder = [f.path for f in files]
            archive = await stack.enter_async_context(zip_bundle(spec.tag, folder))
            files = await local_files([*folder, archive])
        with _reported(f"Publishing release '{spec.tag}'", "Nothing was published."):
            existing = await published_release(ctx, spec.tag)
            clock, releases = await remove_abandoned_drafts(ctx, spec.tag, lease)
        if existing is not None:
            return await add_to_release(ctx, existing, files, overwrite=overwrite)
        kept = kept_drafts(releases, spec.tag)
        if kept:
            return await _publish_into_draft(ctx, kept[0], spec, files, overwrite=overwrite)
        return await _publish_new(ctx, spec, files, clock, lease)


async def _publish_into_draft(
    ctx: Context, draft: Release, spec: ReleaseSpec, files: list[LocalFile], *, overwrite: bool
) -> Release:
    """The tag has a draft a user kept: fill that one rather than make a second release of
    the tag, then publish it (checked by ``finish_draft``) unless ``spec.draft``."""
    filled = await add_to_release(ctx, draft, files, overwrite=overwrite)
    if spec.draft:
        return filled
    with _reported(f"Publishing draft '{spec.tag}'", "The draft was kept."):
        return await finish_draft(ctx, filled, name=spec.name, body=spec.body)


async def _publish_new(
    ctx: Context, spec: ReleaseSpec, files: list[LocalFile], clock: ServerClock, lease: float
) -> Release:
    try:
        with _reported(f"Publishing release '{spec.tag}'", "Nothing was published."):
            async with draft_release(ctx, spec, clock=clock, lease=lease) as draft:
                publisher = Publisher(ctx, draft.release)
                entries = await publisher.put_files(files)
                await publisher.write_manifest(Manifest().merged(entries), None)
            return await release_by_id(ctx, draft.release)
    except LostRace:
        return await _join_winner(ctx, spec.tag, files)


@contextlib.asynccontextmanager
async def draft_release(
    ctx: Context, spec: ReleaseSpec, *, clock: ServerClock, lease: float
) -> AsyncIterator[Draft]:
    """Create our marked draft, yield it to be filled, then publish it (or, with
    ``spec.draft``, keep it as the user's draft, marker removed). On any failure or
    cancellation the draft is deleted, shielded and within a deadline, and the error
    re-raised; ``LostRace`` when another publisher published the tag first."""
    mark = this_mark(clock.now())
    draft = Draft(await _create_draft(ctx, spec, mark), mark, spec)
    try:
        async with _renewing(ctx, draft, clock, lease):
            yield draft
        draft.release = await _finish(ctx, draft)
    except BaseException:
        await discard_draft(ctx, draft.release)
        raise


async def _create_draft(ctx: Context, spec: ReleaseSpec, mark: DraftMark) -> Release:
    # Retried like any call: a draft a lost answer leaves behind carries our marker, which
    # nobody renews, so the next publisher of the tag removes it once its lease runs out.
    try:
        return await ctx.http.parsed(
            Release.from_json,
            "POST",
            f"{ctx.repo.url}/releases",
            what=f"creating release '{spec.tag}' of {ctx.repo.full_name}",
            json={"tag_name": spec.tag, "name": spec.name or spec.tag,
                  "body": with_mark(spec.body, mark), "draft": True,
                  "prerelease": spec.prerelease},
        )  # fmt: skip
    except GaamaError as exc:
        if exc.status == 422 and "used by an immutable release" in str(exc):
            raise PublishError(
                f"Tag '{spec.tag}' belonged to an immutable release that was deleted, and "
                "GitHub never lets it be used again: publish under a new tag."
            ) from exc
        raise


async def _finish(ctx: Context, draft: Draft) -> Release:
    """Publish the draft with the user's body exactly as given (the marker goes)."""
    spec = draft.spec
    fields: dict[str, Any] = {"body": spec.body or ""}
    if not spec.draft:
        fields |= {"draft": False, "make_latest": "false" if spec.prerelease else "true"}
    try:
        what = f"publishing release '{spec.tag}'"
        return await ctx.http.parsed(  # the draft was created moments ago (spec 9.3)
            Release.from_json, "PATCH", draft.release.url, what=what, json=fields,
            after_write=True,
        )  # fmt: skip
    except GaamaError as exc:
        if exc.status == 422 and ("tag_name", "already_exists") in validation_codes(exc.details):
            raise LostRace(spec.tag) from exc
        raise


@contextlib.asynccontextmanager
async def _renewing(
    ctx: Context, draft: Draft, clock: ServerClock, lease: float
) -> AsyncIterator[None]:
    """Renew the draft's lease in the background while the caller fills the draft.

    The caller's error is re-raised after the task group, so it is not wrapped in an
    ExceptionGroup; cancellation goes through the group untouched.
    """
    failure: Exception | None = None
    async with anyio.create_task_group() as group:
        group.start_soon(_renew_forever, ctx, draft, clock, lease / RENEWALS_PER_LEASE)
        try:
            yield
        except Exception as exc:
            failure = exc
        group.cancel_scope.cancel()
    if failure is not None:
        raise failure


async def _renew_forever(ctx: Context, draft: Draft, clock: ServerClock, every: float) -> None:
    """Best effort: a renewal that fails only brings the lease's end nearer."""
    while True:
        await anyio.sleep(every)
        mark = draft.mark.renewed_at(clock.now())
        # Shielded: cancelled mid-request, the PATCH could land after the publish and put
        # the marker back into the published body.
        with anyio.CancelScope(shield=True), anyio.move_on_after(DISCARD_DEADLINE):
            try:
                await ctx.http.json(
                    "PATCH",
                    draft.release.url,
                    what=f"renewing draft '{draft.spec.tag}'",
                    json={"body": with_mark(draft.spec.body, mark)},
                    after_write=True,
                )
                draft.mark = mark
            except (GaamaError, TransientError) as exc:
                log.warning("could not renew draft %s: %s", draft.release.id, exc)


async def discard_draft(ctx: Context, release: Release) -> None:
    """Delete our draft after a failure; shielded, so cancellation cannot skip it."""
    with anyio.CancelScope(shield=True), anyio.move_on_after(DISCARD_DEADLINE):
        try:
            await ctx.http.json("DELETE", release.url, what=f"draft '{release.tag}'")
        except NotFoundError:
            pass  # already gone
        except (GaamaError, TransientError) as exc:
            log.warning("could not delete draft release %s: %s", release.id, exc)


async def remove_abandoned_drafts(
    ctx: Context, tag: str, lease: float
) -> tuple[ServerClock, list[Release]]:
    """Delete drafts of ``tag`` whose publishers are gone (see ``_drafts``); return the
    server's clock as read from the listing, for our own marker, and the releases left."""
    releases, clock = await list_releases(ctx)
    abandoned = abandoned_drafts(
        releases, tag, now=clock.now(), lease=lease, here=this_machine(), alive=process_alive
    )
    for release in abandoned:
        log.info("deleting abandoned draft %s of tag '%s'", release.id, tag)
        with contextlib.suppress(NotFoundError):  # another publisher removed it first
            await ctx.http.json("DELETE", release.url, what=f"abandoned draft '{tag}'")
    return clock, [r for r in releases if r not in abandoned]


async def _join_winner(ctx: Context, tag: str, files: list[LocalFile]) -> Release:
    """We lost the tag: succeed with the winner's release if it holds our files, byte for
    byte; never change it."""
    with _reported(f"Publishing release '{tag}'", "Nothing of ours was published."):
        winner = await published_release(ctx, tag)
        if winner is None:
            raise PublishError(
                f"Release '{tag}' was published by another publisher meanwhile and is gone "
                "again; publish again."
            )
        assets = await assets_of(ctx, winner)
        manifest = await read_manifest(ctx.http, assets) or Manifest()
        limit = ctx.limits.max_asset_size
        try:
            plan = await plan_additions(
                files, assets, manifest, overwrite=False, max_asset_size=limit, tag=tag
            )
            missing = [f.name for f in plan.upload] + [e.name for e in plan.empty]
        except AssetConflictError as exc:
            raise _other_content(tag) from exc
        if missing:
            raise _other_content(tag)
        return await release_by_id(ctx, winner)


def _other_content(tag: str) -> AssetConflictError:
    return AssetConflictError(
        f"Release '{tag}' was published meanwhile by another publisher with other files; "
        "ours were discarded and theirs left as they are: publish again (with "
        "overwrite=True to replace theirs)."
    )


async def add_to_release(
    ctx: Context, release: Release, files: list[LocalFile], *, overwrite: bool
) -> Release:
    """Add ``files`` to a published release: skip identical, refuse (or replace) different."""
    with _reported(f"Adding files to release '{release.tag}'", "Publish again to finish."):
        assets = await assets_of(ctx, release)
        manifest = await read_manifest(ctx.http, assets) or Manifest()
        # immutable: a different file is a replace to refuse, not a conflict to overwrite
        plan = await plan_additions(
            files, assets, manifest, overwrite=overwrite or release.immutable,
            max_asset_size=ctx.limits.max_asset_size, tag=release.tag,
        )  # fmt: skip
        _refuse_if_immutable(release, plan)
        publisher = Publisher(ctx, release)
        # starter placeholders block their names (spec 6.9.4), and so would the
        # temporary copies of a replace that an earlier run did not finish
        await publisher.delete(a for a in assets if not a.is_uploaded or is_leftover(a))
        entries = await publisher.put_files(plan.upload)
        entries += await publisher.put_files(plan.replace, plan.replacing)
        await publisher.delete(plan.obsolete)
        entries += plan.empty
        if entries:
            old = next((a for a in assets if a.name == MANIFEST_NAME and a.is_uploaded), None)
            await publisher.write_manifest(manifest.merged(entries), old)
        return await release_by_id(ctx, release)


def _refuse_if_immutable(release: Release, plan: AdditionPlan) -> None:
    """Before sending anything: an immutable release takes no new or replaced file (GitHub
    would refuse the upload with 422 halfway through); identical files are fine."""
    changes = [f.name for f in plan.upload + plan.replace] + [e.name for e in plan.empty]
    if release.immutable and changes:
        raise PublishError(
            f"Release '{release.tag}' is immutable: its files cannot be added or replaced "
            f"({', '.join(changes)}); publish them under a new tag instead."
        )


@dataclass(frozen=True, slots=True)
class PublishPlan:
    """What ``publish`` would do, decided by the code the real run uses (``local_files``,
    ``plan_additions``): refusals (a missing or unreadable file, a conflict) raise the same
    errors; nothing is written."""

    tag: str
    exists: bool
    upload: list[LocalFile]
    replace: list[LocalFile]
    skip: list[LocalFile]
    empty: list[str]


async def plan_publish(
    ctx: Context, tag: str, paths: Iterable[str | os.PathLike[str]], *, overwrite: bool
) -> PublishPlan:
    """The dry run of ``publish``: which files would be uploaded, replaced, skipped as
    already there, or recorded as empty (GitHub refuses empty assets)."""
    files = await local_files(paths)
    existing = await published_release(ctx, tag)
    assets = await assets_of(ctx, existing) if existing is not None else []
    manifest = (await read_manifest(ctx.http, assets) if assets else None) or Manifest()
    plan = await plan_additions(
        files, assets, manifest, overwrite=overwrite,
        max_asset_size=ctx.limits.max_asset_size, tag=tag,
    )  # fmt: skip
    empty = [e.name for e in plan.empty]
    acted = {f.name for f in plan.upload + plan.replace} | set(empty)
    skip = [f for f in files if f.name not in acted]
    return PublishPlan(tag, existing is not None, plan.upload, plan.replace, skip, empty)


# -- removing --------------------------------------------------------------------------------


async def delete_assets(
    ctx: Context,
    tag: str,
    include: str | Sequence[str],
    *,
    exclude: str | Sequence[str] | None = None,
    dry_run: bool = False,
) -> list[str]:
    """Delete the files matching ``include`` from ``tag``, manifest rewritten first (so a
    file is never listed without its assets); returns the asset names (to be) deleted."""
    release = await get_release(ctx, tag)
    if release.immutable and not dry_run:
        raise PublishError(
            f"Release '{tag}' is immutable: its files cannot be deleted. Publish the files "
            "you want under a new tag instead."
        )
    assets = await assets_of(ctx, release)
    manifest = await read_manifest(ctx.http, assets)
    plan = plan_removal(assets, manifest, patterns_of(include), patterns_of(exclude))
    if not plan.removed:
        raise nothing_matches(release.tag, include, available_names(assets, manifest))
    if not dry_run:
        publisher = Publisher(ctx, release)
        if plan.rewrite is not None:
            await publisher.write_manifest(plan.rewrite, plan.manifest_asset)
        await publisher.delete(plan.delete)
    return plan.removed


async def delete_release(ctx: Context, tag: str) -> Release:
    """Delete the published release ``tag`` and its assets (the git tag stays)."""
    release = await get_release(ctx, tag)
    await ctx.http.json("DELETE", release.url, what=f"release '{tag}'")
    return release


# -- reading ---------------------------------------------------------------------------------


async def published_release(ctx: Context, tag: str) -> Release | None:
    """The published release of ``tag``, or None; drafts are never found by tag (spec 6.3)."""
    try:
        return await get_release(ctx, tag)
    except NotFoundError:
        return None


async def list_releases(ctx: Context) -> tuple[list[Release], ServerClock]:
    """Every release, drafts included (push access), and the server's clock, set from the
    listing's ``Date``: the only clock two publishers on two machines share."""
    return await all_releases(ctx), ctx.http.clock


@contextlib.contextmanager
def _reported(what: str, outcome: str) -> Iterator[None]:
    """Typed errors pass unchanged; an untyped one becomes a PublishError saying what failed."""
    try:
        yield
    except (GaamaError, TransientError) as exc:
        if isinstance(exc, GaamaError) and type(exc) is not GaamaError:
            raise
        raise PublishError(f"{what} failed: {exc}. {outcome}") from exc
