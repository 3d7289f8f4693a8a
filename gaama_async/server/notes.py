"""Generated release notes: ``generate_release_notes`` on create and ``generate-notes``.

GitHub lists the merged pull requests and new contributors since the previous release, then
a **Full Changelog** link. The emulator has no pull requests, so the notes are what GitHub
writes for a repository without any: the link alone, as recorded in 2024-2025 (PyGithub
``testGenerateReleaseNotes*``):

* no previous release: ``**Full Changelog**: https://github.com/O/R/commits/TAG``;
* with one: ``**Full Changelog**: https://github.com/O/R/compare/PREV...TAG``;
* with ``configuration_file_path``, a comment naming it comes first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from aiohttp import web

from .render import RELEASES_DOCS
from .service import (
    HttpError,
    json_response,
    named,
    read_json_object,
    repo_in_path,
    request_origins,
    services,
)
from .store import Repo, Store

NOTES_DOCS = f"{RELEASES_DOCS}#generate-release-notes-content-for-a-release"
NOTES_FIELDS = ("tag_name", "target_commitish", "previous_tag_name", "configuration_file_path")


@dataclass(frozen=True)
class Notes:
    """A generated release name and body."""

    name: str
    body: str


def generate_notes(
    web_repo: str,
    tag: str,
    *,
    previous: str | None,
    configuration_file_path: str | None = None,
    commitish: str = "main",
) -> Notes:
    """The notes GitHub generates for ``tag`` in a repository without pull requests.

    ``web_repo`` is the repository's web URL (``https://github.com/O/R``).
    """
    if previous is None:
        link = f"{web_repo}/commits/{tag}"
    else:
        link = f"{web_repo}/compare/{previous}...{tag}"
    body = f"**Full Changelog**: {link}"
    if configuration_file_path is not None:
        comment = (
            f"<!-- Release notes generated using configuration in {configuration_file_path}"
            f" at {commitish} -->"
        )
        body = f"{comment}\n\n\n\n{body}"  # the empty sections leave these blank lines
    return Notes(name=tag, body=body)


def with_given_body(given: str | None, generated: str) -> str:
    """A body the caller gave goes in front of the generated notes.

    Guess: separated by a blank line, as the web form does when it appends notes.
    """
    return f"{given}\n\n{generated}" if given else generated


def previous_tag(store: Store, repo: Repo, tag: str) -> str | None:
    """The tag the notes start from when none is given: the latest release's, unless it is
    ``tag`` itself (guess: GitHub picks the latest full release before this one)."""
    latest = store.latest(repo)
    return None if latest is None or latest.tag_name == tag else latest.tag_name


def web_repo_url(web_origin: str, repo: Repo) -> str:
    """The repository's page on the web origin."""
    return f"{web_origin}/{repo.owner}/{repo.name}"


def _notes_request(body: dict[str, object]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for name in NOTES_FIELDS:
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise HttpError.github(
                422,
                f"Invalid request.\n\nFor 'properties/{name}', {json.dumps(value)}"
                " is not a string.",
                documentation_url=NOTES_DOCS,
            )
        fields[name] = value
    if not fields.get("tag_name"):
        # Guess: GitHub's schema wording for a missing required key.
        raise HttpError.github(
            422,
            'Invalid request.\n\n"tag_name" wasn\'t supplied.',
            documentation_url=NOTES_DOCS,
        )
    return fields


@named("api.generate_notes")
async def generate_notes_handler(request: web.Request) -> web.StreamResponse:
    """POST .../releases/generate-notes: 200 ``{"name", "body"}``; nothing is saved."""
    svc = services(request)
    repo = repo_in_path(request)
    fields = _notes_request(await read_json_object(request))
    tag = fields["tag_name"]
    notes = generate_notes(
        web_repo_url(request_origins(request).web, repo),
        tag,
        previous=fields.get("previous_tag_name") or previous_tag(svc.store, repo, tag),
        configuration_file_path=fields.get("configuration_file_path"),
        commitish=fields.get("target_commitish") or "main",
    )
    return json_response({"name": notes.name, "body": notes.body})


def routes() -> list[web.RouteDef]:
    """The release-notes route of the API origin."""
    return [web.post("/repos/{owner}/{repo}/releases/generate-notes", generate_notes_handler)]
