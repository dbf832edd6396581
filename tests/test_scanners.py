"""Scanners no one here wrote, run on every rendered project: sp-repo-review and codespell.

sp-repo-review checks a project against the Scientific Python development guidelines; its findings
must be exactly the exceptions that docs/decisions/0010 lists with their reasons, no more. codespell
is the spell checker the generated pre-commit config runs; rendered projects and this repository
pass it as they are.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
import yaml

from tests.helpers import ANSWER_SETS, REPO_ROOT

if TYPE_CHECKING:
    from tests.conftest import RenderedBy, RenderedProject

DECISION = REPO_ROOT / "docs" / "decisions" / "0010-scanner-findings-and-exceptions.md"
# A row of the table: "| ID | reason |" or "| ID, ID | reason |".
EXCEPTION_ROW = re.compile(r"^\| ([A-Z]+\d+(?:, [A-Z]+\d+)*) \| (.+) \|$", flags=re.MULTILINE)
# Licence texts are quoted verbatim, spelling and all.
NOT_SPELL_CHECKED = ("includes/licenses/",)


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
        check=False,
    )


def documented_exceptions() -> dict[str, str]:
    """Check id to reason, from the table of decision 0010."""
    rows = EXCEPTION_ROW.findall(DECISION.read_text(encoding="utf-8"))
    return {check: reason for checks, reason in rows for check in checks.split(", ")}


@pytest.fixture(scope="module")
def repo_review_failures(rendered_by_name: RenderedBy) -> dict[str, dict[str, str]]:
    """The checks sp-repo-review fails, with their descriptions, for each answer set."""
    failures = {}
    for name in ANSWER_SETS:
        path = rendered_by_name(name).path
        result = _run([sys.executable, "-m", "repo_review", str(path), "--format", "json"])
        assert result.stdout, result.stderr
        checks = json.loads(result.stdout)["checks"]
        failures[name] = {
            check: found["description"]
            for check, found in checks.items()
            if found["result"] is False
        }
    return failures


@pytest.mark.parametrize("name", sorted(ANSWER_SETS))
def test_repo_review_finds_only_the_documented_exceptions(
    repo_review_failures: dict[str, dict[str, str]], name: str
) -> None:
    """Every sp-repo-review check passes, or fails with a reason recorded in decision 0010."""
    exceptions = documented_exceptions()
    unexplained = {
        check: text for check, text in repo_review_failures[name].items() if check not in exceptions
    }
    assert not unexplained, f"{name}: findings without a recorded reason: {unexplained}"


def test_every_exception_is_still_needed(repo_review_failures: dict[str, dict[str, str]]) -> None:
    """An exception that no rendered project triggers any more is removed from the record."""
    failing = {check for failed in repo_review_failures.values() for check in failed}
    stale = set(documented_exceptions()) - failing
    assert not stale, f"decision 0010 excuses checks that pass now: {sorted(stale)}"


def test_rendered_project_spelling(rendered: RenderedProject) -> None:
    """codespell, as the generated pre-commit hook runs it, finds no misspelling."""
    result = _run([sys.executable, "-m", "codespell_lib", str(rendered.path)])
    assert result.returncode == 0, f"{rendered.name}:\n{result.stdout}{result.stderr}"


def test_repository_spelling() -> None:
    """This repository's own files pass codespell too (the licence texts are quoted as they are)."""
    listing = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout
    files = [
        str(REPO_ROOT / name)
        for name in listing.split("\0")
        if name and not name.startswith(NOT_SPELL_CHECKED) and (REPO_ROOT / name).is_file()
    ]
    result = _run([sys.executable, "-m", "codespell_lib", *files])
    assert result.returncode == 0, result.stdout + result.stderr


def test_codespell_matches_the_hook_rev(rendered: RenderedProject) -> None:
    """The codespell these tests run is the release the generated pre-commit hook pins."""
    config = yaml.safe_load((rendered.path / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    [repo] = [repo for repo in config["repos"] if repo["repo"].endswith("/codespell")]
    assert repo["rev"] == f"v{importlib.metadata.version('codespell')}"
