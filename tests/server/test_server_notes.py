"""Generated release notes: the pure text, generate-notes, and generate_release_notes on create."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import ServerFactory

from gaama_async.server import Fault
from gaama_async.server.notes import Notes, generate_notes, with_given_body

WEB = "https://github.com/PyGithub/PyGithub"


def test_a_first_release_links_to_its_commits() -> None:
    # Recorded (PyGithub testGenerateReleaseNotes, 2024).
    assert generate_notes(WEB, "vX.Y.Z-by-PyGithub-acctest", previous=None) == Notes(
        "vX.Y.Z-by-PyGithub-acctest",
        f"**Full Changelog**: {WEB}/commits/vX.Y.Z-by-PyGithub-acctest",
    )


def test_a_later_release_with_a_configuration_file_compares_with_the_previous_tag() -> None:
    # Recorded (PyGithub testGenerateReleaseNotesWithAllArguments, 2024).
    notes = generate_notes(
        WEB,
        "vX.Y.Z-by-PyGithub-acctest",
        previous="vX.Y.Z-by-PyGithub-acctest-previous",
        configuration_file_path="tests/test_release_notes.yml",
        commitish="main",
    )
    assert notes.body == (
        "<!-- Release notes generated using configuration in tests/test_release_notes.yml"
        " at main -->\n\n\n\n**Full Changelog**: "
        f"{WEB}/compare/vX.Y.Z-by-PyGithub-acctest-previous...vX.Y.Z-by-PyGithub-acctest"
    )


@pytest.mark.parametrize(
    ("given", "expected"), [(None, "NOTES"), ("", "NOTES"), ("Mine", "Mine\n\nNOTES")]
)
def test_a_given_body_goes_in_front(given: str | None, expected: str) -> None:
    assert with_given_body(given, "NOTES") == expected


async def _generate(gh: Any, **body: Any) -> tuple[int, Any]:
    async with gh.session.post(f"{gh.repo_url}/releases/generate-notes", json=body) as response:
        return response.status, await response.json()


@pytest.mark.anyio
async def test_generate_notes_answers_200_and_saves_nothing(gh: Any) -> None:
    status, notes = await _generate(gh, tag_name="v1")
    web = f"{gh.server.web_url}/octo/models"
    assert (status, notes) == (200, {"name": "v1", "body": f"**Full Changelog**: {web}/commits/v1"})
    async with gh.session.get(f"{gh.repo_url}/releases") as response:
        assert await response.json() == []


@pytest.mark.anyio
async def test_generate_notes_compares_with_the_latest_release_or_the_given_tag(gh: Any) -> None:
    await gh.create_release("v1")
    web = f"{gh.server.web_url}/octo/models"
    assert (await _generate(gh, tag_name="v2"))[1]["body"] == (
        f"**Full Changelog**: {web}/compare/v1...v2"
    )
    assert (await _generate(gh, tag_name="v2", previous_tag_name="v0"))[1]["body"] == (
        f"**Full Changelog**: {web}/compare/v0...v2"
    )


@pytest.mark.anyio
@pytest.mark.parametrize("body", [{}, {"tag_name": ""}, {"tag_name": 5}])
async def test_generate_notes_needs_a_tag_name_string(gh: Any, body: dict[str, Any]) -> None:
    status, error = await _generate(gh, **body)
    assert status == 422 and error["message"].startswith("Invalid request.")


@pytest.mark.anyio
async def test_generate_release_notes_fills_name_and_body_on_create(gh: Any) -> None:
    release = await gh.create_release("v1", generate_release_notes=True)
    web = f"{gh.server.web_url}/octo/models"
    assert release["name"] == "v1"
    assert release["body"] == f"**Full Changelog**: {web}/commits/v1"
    second = await gh.create_release("v2", generate_release_notes=True, name="Two", body="Hi")
    assert second["name"] == "Two"
    assert second["body"] == f"Hi\n\n**Full Changelog**: {web}/compare/v1...v2"


@pytest.mark.anyio
async def test_without_the_flag_nothing_is_generated(gh: Any) -> None:
    release = await gh.create_release("v1", generate_release_notes=False)
    assert release["name"] is None and release["body"] is None


@pytest.mark.anyio
async def test_generate_notes_has_a_route_name_and_works_on_ghes(
    make_server: ServerFactory, make_gh: Any
) -> None:
    server = await make_server(enterprise=True)
    gh = make_gh(server)
    server.faults.add(Fault("status", route="api.generate_notes", status=502))
    assert (await _generate(gh, tag_name="v1"))[0] == 502
    status, notes = await _generate(gh, tag_name="v1")
    assert status == 200
    assert notes["body"] == f"**Full Changelog**: {server.web_url}/octo/models/commits/v1"
    assert server.counters.requests["api.generate_notes"] == 2
