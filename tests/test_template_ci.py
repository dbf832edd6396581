"""The template repository's own CI (.github/): in step with the tests it runs, and least privilege.

The slow matrix of ci.yml must name exactly the answer sets of tests.helpers.ANSWER_SETS, each on
a Python that runs it end to end; rendered projects must get the CPU build of torch; only the
release job may write; and the release notes script must find each CHANGELOG.md section. The
files' syntax is checked against the published JSON schemas elsewhere (check-jsonschema).
"""

from __future__ import annotations

import importlib.util
import re
import tomllib
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from packaging.version import Version

from tests.helpers import ANSWER_SETS, REPO_ROOT, min_python, version_key
from tests.workflows import unpinned_uses

if TYPE_CHECKING:
    from types import ModuleType

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def _workflow(name: str) -> dict[str, Any]:
    loaded = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    assert isinstance(loaded, dict), f"{name} is not a mapping"
    # YAML 1.1 reads the key `on` as the boolean true.
    if True in loaded:
        loaded["on"] = loaded.pop(True)
    return loaded


def _repository_python() -> str:
    """The oldest Python this repository's tests run on (its mypy target)."""
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return str(pyproject["tool"]["mypy"]["python_version"])


def _runs(job: dict[str, Any]) -> list[str]:
    return [str(step["run"]) for step in job["steps"] if "run" in step]


@pytest.fixture(scope="module")
def release_notes() -> ModuleType:
    """The release notes script, imported from .github/scripts."""
    path = REPO_ROOT / ".github" / "scripts" / "release_notes.py"
    spec = importlib.util.spec_from_file_location("release_notes", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gate_matrix_names_every_answer_set() -> None:
    """One gate job per answer set, on its oldest Python but not below this repository's."""
    include = _workflow("ci.yml")["jobs"]["gate"]["strategy"]["matrix"]["include"]
    floor = _repository_python()
    expected = {
        name: max(min_python(answers), floor, key=version_key)
        for name, answers in ANSWER_SETS.items()
    }
    listed = {entry["answer-set"]: str(entry["python"]) for entry in include}
    assert listed == expected, "ci.yml's gate matrix differs from ANSWER_SETS"


def test_jobs_select_the_tests_they_say() -> None:
    """The fast job runs every fast test; the slow jobs split the slow tests between them."""
    jobs = _workflow("ci.yml")["jobs"]
    assert 'python -m pytest -m "not slow"' in _runs(jobs["fast"])
    assert any(
        '-m slow -k "test_generated_project and [$ANSWER_SET]"' in run
        for run in _runs(jobs["gate"])
    )
    assert 'python -m pytest -m slow -k "not test_generated_project"' in _runs(jobs["other-slow"])
    assert jobs["fast"]["steps"][1]["with"]["python-version"] == _repository_python()


def test_the_updates_from_old_releases_get_the_history_they_start_from() -> None:
    """The job of the updates checks out every commit: a shallow clone skips them."""
    checkout = _workflow("ci.yml")["jobs"]["other-slow"]["steps"][0]
    assert checkout["uses"].startswith("actions/checkout@")
    assert checkout["with"].get("fetch-depth") == 0, "other-slow checks out a shallow clone"


def test_ci_runs_weekly_and_cancels_superseded_runs() -> None:
    """A weekly schedule keeps the template known-green; a newer push cancels the older run."""
    workflow = _workflow("ci.yml")
    cron = workflow["on"]["schedule"][0]["cron"]
    assert re.fullmatch(r"\d+ \d+ \* \* [0-6]", cron), f"not a weekly schedule: {cron}"
    assert workflow["concurrency"]["cancel-in-progress"] is True


def test_rendered_projects_get_cpu_torch() -> None:
    """Every job installs rendered projects against the PyTorch CPU index."""
    assert _workflow("ci.yml")["env"]["TEMPLATE_TORCH_INDEX"] == CPU_INDEX


@pytest.mark.parametrize("name", ["ci.yml", "release.yml"])
def test_least_privilege(name: str) -> None:
    """Read-only by default; only the release job may write, and only contents."""
    workflow = _workflow(name)
    assert workflow["permissions"] in ({}, {"contents": "read"}), workflow["permissions"]
    for job_name, job in workflow["jobs"].items():
        permissions = job.get("permissions", {})
        writes = {scope for scope, level in permissions.items() if level == "write"}
        expected = {"contents"} if (name, job_name) == ("release.yml", "release") else set()
        assert writes == expected, f"{name} job {job_name} may write {sorted(writes)}"
        for step in job["steps"]:
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, f"{job_name} keeps the token"


def _github_filter(pattern: str) -> re.Pattern[str]:
    """GitHub's filter pattern syntax (``*``, ``+``, ``?``, ``[...]``) as a regular expression."""
    parts = re.findall(r"\[[^\]]*\]|.", pattern)
    special = {"*": "[^/]*", "+": "+", "?": "?"}
    return re.compile(
        "".join(
            part if part.startswith("[") and len(part) > 1 else special.get(part, re.escape(part))
            for part in parts
        )
    )


@pytest.mark.parametrize(
    ("tag", "releases"),
    [("0.1.0", True), ("1.2.0rc1", True), ("10.0.3.post1", True), ("latest", False)],
)
def test_release_runs_on_version_tags(tag: str, releases: bool) -> None:
    """release.yml runs for PEP 440 version tags and not for other tags."""
    patterns = _workflow("release.yml")["on"]["push"]["tags"]
    matched = any(_github_filter(pattern).fullmatch(tag) for pattern in patterns)
    assert matched is releases


def test_release_notes_cover_every_changelog_version(release_notes: ModuleType) -> None:
    """Each released version in CHANGELOG.md yields non-empty notes without its own heading."""
    text = (REPO_ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    versions = re.findall(r"^## \[(\d[^\]]*)\]", text, flags=re.MULTILINE)
    assert versions, "CHANGELOG.md names no version"
    for version in versions:
        notes = release_notes.changelog_section(text, Version(version))
        assert notes.strip(), f"empty notes for {version}"
        assert "## [" not in notes, f"notes for {version} run into the next section"


def test_release_notes_take_one_section(release_notes: ModuleType) -> None:
    """Only the tagged section, without link definitions; a missing section is an error."""
    text = (
        "# Changelog\n\n## [Unreleased]\n\n- next\n\n## [0.2.0] - 2026-12-01\n\n- two\n\n"
        "## [0.1.0] - 2026-11-23\n\n- one\n\n[0.2.0]: https://example.com/0.2.0\n"
    )
    assert release_notes.changelog_section(text, Version("0.2.0")) == "- two\n"
    assert release_notes.changelog_section(text, Version("0.1.0")) == "- one\n"
    with pytest.raises(LookupError, match=r"no section '## \[0.3.0\]'"):
        release_notes.changelog_section(text, Version("0.3.0"))
    with pytest.raises(ValueError, match="not a PEP 440 version"):
        release_notes.parse_tag("latest")


def test_release_notes_command(
    release_notes: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    """The script prints the notes, or whether the tag is a pre-release; exit 1 on a bad tag."""
    changelog = (REPO_ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    first = re.findall(r"^## \[(\d[^\]]*)\]", changelog, flags=re.MULTILINE)[-1]
    assert release_notes.main([first]) == 0
    assert capsys.readouterr().out.strip()
    assert release_notes.main(["--prerelease", first]) == 0
    assert capsys.readouterr().out == f"{str(Version(first).is_prerelease).lower()}\n"
    assert release_notes.main(["not-a-version"]) == 1
    assert "not a PEP 440 version" in capsys.readouterr().err


def test_dependabot_watches_actions_and_dev_tools() -> None:
    """Dependabot updates the workflows' actions and pyproject.toml's tools, weekly."""
    config = yaml.safe_load((REPO_ROOT / ".github" / "dependabot.yml").read_text(encoding="utf-8"))
    ecosystems = {entry["package-ecosystem"]: entry for entry in config["updates"]}
    assert set(ecosystems) == {"github-actions", "pip"}
    for entry in ecosystems.values():
        assert entry["directory"] == "/"
        assert entry["schedule"]["interval"] == "weekly"
        assert entry["groups"], f"{entry['package-ecosystem']} updates are not grouped"


@pytest.mark.parametrize("name", ["ci.yml", "release.yml"])
def test_actions_are_pinned_by_commit(name: str) -> None:
    """Each action runs at a commit SHA, with its release in a comment (zizmor, Dependabot)."""
    assert not unpinned_uses(WORKFLOWS / name)
