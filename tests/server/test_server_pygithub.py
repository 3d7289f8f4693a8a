"""PyGithub, a real GitHub client, on the user, git-ref and release-notes endpoints.

PyGithub is synchronous and keeps only the path of URLs the server hands out, so it runs
against the one-origin GHES layout, in a child process (this file run as a script), as in
``tests/test_pygithub.py`` and for the same reasons.
"""

from __future__ import annotations

import json
import sys
from importlib.util import find_spec
from typing import Any

import anyio
import pytest
from conftest import TOKEN, ServerFactory

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(find_spec("github") is None, reason="PyGithub is not installed"),
]


def _tags_and_notes(api_url: str) -> dict[str, Any]:
    """What a PyGithub user does with tags and generated notes; returns what the test checks."""
    import github

    gh = github.Github(
        base_url=api_url,
        auth=github.Auth.Token(TOKEN),
        seconds_between_requests=0,
        seconds_between_writes=0,
        retry=None,
    )
    try:
        repo = gh.get_repo("octo/models")
        notes = repo.generate_release_notes("v1")
        release = repo.create_git_release("v1", generate_release_notes=True)
        ref = repo.get_git_ref("tags/v1")
        seen: dict[str, Any] = {
            "login": gh.get_user().login,
            "notes": [notes.name, notes.body],
            "release": [release.title, release.body],
            "ref": [ref.ref, ref.object.type, len(ref.object.sha)],
            "matching": [r.ref for r in repo.get_git_matching_refs("tags/")],
        }
        release.delete_release()
        ref.delete()
        try:
            _ = repo.get_git_ref("tags/v1").object.sha
        except github.UnknownObjectException:
            seen["tag_gone"] = True
        return seen
    finally:
        gh.close()


async def test_pygithub_reads_the_user_tags_and_generated_notes(
    make_server: ServerFactory,
) -> None:
    server = await make_server(enterprise=True)
    result = await anyio.run_process([sys.executable, __file__, server.api_url], check=False)
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    seen = json.loads(result.stdout)
    changelog = f"**Full Changelog**: {server.web_url}/octo/models/commits/v1"
    assert seen == {
        "login": "octocat",
        "notes": ["v1", changelog],
        "release": ["v1", changelog],
        "ref": ["refs/tags/v1", "commit", 40],
        "matching": ["refs/tags/v1"],
        "tag_gone": True,
    }
    assert server.counters.requests["api.delete_ref"] == 1


if __name__ == "__main__":
    print(json.dumps(_tags_and_notes(sys.argv[1])))
