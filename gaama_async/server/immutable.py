"""Immutable releases (spec 7.3): the repository setting and the 422s it brings.

With ``ServerConfig.immutable`` on, a release becomes immutable when it is published and
stays so even if the setting is turned off later (spec 7.3). Its title, notes, prerelease
and latest flags may still change; its assets and tag may not, it cannot go back to being a
draft, and once deleted its tag name is burnt for good: no release may use it again.

The checks raise the ``HttpError`` the handler returns; the wording of the upload and state
refusals is GitHub's (spec 6.6, 6.9.3, 7.3); the asset-edit and tag-move wordings are
guesses, as the spec records none (marked where they are made).
"""

from __future__ import annotations

from typing import Any

from .render import RELEASES_DOCS, validation_error
from .service import HttpError
from .store import Release

UPLOAD_REFUSED = "Cannot upload assets to an immutable release."
STATE_REFUSED = "state cannot be changed when release is immutable"
BURNT_TAG = "tag_name was used by an immutable release"
# Guess: GitHub documents that assets of an immutable release cannot be modified or deleted
# (spec 6.12, 6.13) but no verbatim answer is recorded; we answer like the upload refusal.
ASSET_REFUSED = "Cannot modify assets of an immutable release."
# Guess: the tag "cannot be moved" (spec 7.3); wording unrecorded.
TAG_REFUSED = "tag_name cannot be changed when release is immutable"


def refuse_upload(release: Release) -> None:
    """422 for an upload to a published immutable release (``errors`` empty, as Go clients
    print it: ``422 Cannot upload assets to an immutable release. []``)."""
    if release.immutable:
        raise HttpError.github(422, UPLOAD_REFUSED, errors=[])


def refuse_asset_change(release: Release) -> None:
    """422 for renaming, relabelling or deleting an asset of an immutable release."""
    if release.immutable:
        raise HttpError.github(422, ASSET_REFUSED, errors=[])


def refuse_release_change(release: Release, fields: dict[str, Any]) -> None:
    """422 when a PATCH would unpublish an immutable release or move its tag."""
    if not release.immutable:
        return
    if fields.get("draft") is True:
        raise HttpError.github(422, STATE_REFUSED, documentation_url=_doc("update-a-release"))
    if fields.get("tag_name", release.tag_name) != release.tag_name:
        raise HttpError.github(422, TAG_REFUSED, documentation_url=_doc("update-a-release"))


def refuse_burnt_tag(burnt: bool, doc: str) -> None:
    """422 for a release (created or published) on a tag an immutable release once had."""
    if burnt:
        entry = validation_error("Release", "custom", "tag_name", BURNT_TAG)
        raise HttpError.github(
            422, "Validation Failed", errors=[entry], documentation_url=_doc(doc)
        )


def _doc(anchor: str) -> str:
    return f"{RELEASES_DOCS}#{anchor}"
