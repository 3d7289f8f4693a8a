"""Checks of JSON request bodies for releases and assets, with GitHub's 422 wording."""

from __future__ import annotations

import json
from typing import Any

from .render import JSON, RELEASES_DOCS, validation_error
from .service import HttpError
from .tagnames import is_valid_tag_name

STRING_FIELDS = ("tag_name", "target_commitish", "name", "body", "discussion_category_name")
NULLABLE_FIELDS = frozenset({"name", "body"})
BOOL_FIELDS = ("draft", "prerelease", "generate_release_notes")
MAKE_LATEST = ("true", "false", "legacy")


def _invalid(field: str, value: Any, expected: str) -> HttpError:
    # GitHub's schema-type 422 has no errors array (spec 2.2).
    return HttpError.github(
        422,
        f"Invalid request.\n\nFor 'properties/{field}', {json.dumps(value)} is not {expected}.",
        documentation_url=RELEASES_DOCS,
    )


def release_fields(body: JSON, *, creating: bool) -> JSON:
    """The recognised release fields of ``body``, type-checked; raise 422 on bad input."""
    fields: JSON = {}
    for name in STRING_FIELDS:
        if name in body:
            value = body[name]
            if not isinstance(value, str) and not (value is None and name in NULLABLE_FIELDS):
                raise _invalid(name, value, "a string")
            fields[name] = value
    for name in BOOL_FIELDS:
        if name in body:
            if not isinstance(body[name], bool):
                raise _invalid(name, body[name], "a boolean")
            fields[name] = body[name]
    if "make_latest" in body:
        # A boolean is refused: the API wants the strings (spec 13.5; GitHub's answer is a guess).
        if body["make_latest"] not in MAKE_LATEST or not isinstance(body["make_latest"], str):
            raise _invalid("make_latest", body["make_latest"], 'one of ["true", "false", "legacy"]')
        fields["make_latest"] = body["make_latest"]
    if creating and not fields.get("tag_name"):
        raise HttpError.github(
            422,
            "Validation Failed",
            errors=[validation_error("Release", "missing_field", "tag_name")],
            documentation_url=f"{RELEASES_DOCS}#create-a-release",
        )
    if "tag_name" in fields and not is_valid_tag_name(fields["tag_name"]):
        # The shape of GitHub's answer to a name git refuses (resource Release, code invalid);
        # guess: drafts are checked too, though no tag is made for them yet.
        doc = "create-a-release" if creating else "update-a-release"
        raise HttpError.github(
            422,
            "Validation Failed",
            errors=[validation_error("Release", "invalid", "tag_name")],
            documentation_url=f"{RELEASES_DOCS}#{doc}",
        )
    return fields


def asset_fields(body: JSON) -> JSON:
    """The recognised asset fields (``name``, ``label``) of a PATCH body."""
    fields: JSON = {}
    for name in ("name", "label", "state"):
        if name in body:
            if not isinstance(body[name], str):
                raise _invalid(name, body[name], "a string")
            fields[name] = body[name]
    return fields
