"""Team files keep working across template updates: the task API's promise, kept by the suite.

A team's ``task.py``, ``data.py``, ``models/``, configs and tests are never touched by
``copier update``; after an update they run against the new engine as they are. The fixtures in
``tests/fixtures/teams/`` are such files, kept here so that no engine change can break them
unnoticed:

- ``before-task-api/<task>/``: the team files of each shipped task, frozen from the last template
  commit before ``engine.api`` existed. They import the engine's modules by their old paths,
  which still work (with a deprecation warning) for a release.
- ``sequence-forecast/`` and ``multilabel-tags/``: tasks the template does not ship, written only
  against ``engine.api``: a GRU whose builder takes only the size it uses, named dict inputs, a
  custom metric and a custom output.

Each fixture is laid over a render of the working tree (the result an update gives: the
template's files, the team's files as they were) and runs the project's gate: ruff, the import
contracts, mypy, the team's tests and the engine's API tests (``slow``). A change that breaks a
fixture breaks a team's code on its next update: it needs a deprecation path and an
**Updating:** line, and the fixture changes only when that path ends.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import (
    REPO_ROOT,
    TEMPLATE_PATHS,
    StepRunner,
    render_project,
    run_static_gate,
    with_copier,
)
from tests.install import create_venv_command, install_project_command, project_env
from tests.test_update import (
    NEW,
    OLD,
    commit_all,
    copy_project,
    edit,
    files_with_conflict_markers,
    git,
    replace,
    unmerged_paths,
    update_project,
)

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "teams"
PACKAGE = "compat_project"
ANSWERS = {"project_name": "Compat Project"}
TIMED = "team files against the engine"

# What a fixture replaces in the render: the team's own files (copier.yml's _skip_if_exists).
# __init__.py, __main__.py and tests/test_task.py come from the fixture when it has them.
REPLACED = (
    f"src/{PACKAGE}/task.py",
    f"src/{PACKAGE}/data.py",
    f"src/{PACKAGE}/models",
    "configs",
    "tests/test_data.py",
    "tests/models",
)


@dataclass(frozen=True)
class Team:
    """A fixture: its folder, and whether it uses only the task API."""

    name: str
    folder: Path

    @property
    def uses_old_paths(self) -> bool:
        """Whether the files import the engine's modules by their paths before engine.api."""
        return self.folder.parent.name == "before-task-api"


TEAMS = [
    *(
        Team(f"before-task-api/{folder.name}", folder)
        for folder in sorted(FIXTURES.glob("before-task-api/*"))
    ),
    *(
        Team(folder.name, folder)
        for folder in sorted(FIXTURES.iterdir())
        if folder.is_dir() and folder.name != "before-task-api"
    ),
]


def test_fixtures_are_present() -> None:
    """The three shipped tasks, frozen, and at least two tasks the template does not ship."""
    frozen = [team for team in TEAMS if team.uses_old_paths]
    assert [team.folder.name for team in frozen] == [
        "classification",
        "image_classification",
        "regression",
    ]
    assert len(TEAMS) - len(frozen) >= 2


def test_new_fixtures_import_only_the_task_api() -> None:
    """The tasks written against the API name no other engine module (the contract checks too)."""
    offending = [
        f"{path.relative_to(FIXTURES)}: {line.strip()}"
        for team in TEAMS
        if not team.uses_old_paths
        for path in team.folder.rglob("*.py")
        for line in path.read_text(encoding="utf-8").splitlines()
        if "engine" in line and "import" in line and "engine.api import" not in line
    ]
    assert not offending


@dataclass(frozen=True)
class Installed:
    """The installed render, its gate's runner, and its own versions of the files teams keep."""

    path: Path
    steps: StepRunner
    pristine: Path


@pytest.fixture(scope="module")
def installed(
    template_repo: Path,
    tmp_path_factory: pytest.TempPathFactory,
    torch_index: str | None,
    mypy_cache: Path,
) -> Installed:
    """A render of the working tree, installed once; each test lays its team's files over it."""
    root = tmp_path_factory.mktemp("compat")
    path = render_project(template_repo, root / "project", ANSWERS)
    pristine = root / "pristine"
    for name in (f"src/{PACKAGE}/__init__.py", f"src/{PACKAGE}/__main__.py", "tests/test_task.py"):
        (pristine / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path / name, pristine / name)
    venv = path / ".venv"
    env = project_env(venv, torch_index=torch_index, mypy_cache=mypy_cache)
    steps = StepRunner(TIMED, path, env)
    steps.run("venv", create_venv_command(venv))
    steps.run("install", install_project_command(venv))
    return Installed(path, steps, pristine)


def lay_over(installed: Installed, team: Team) -> None:
    """Replace the render's team files with the fixture's, as an update leaves a team's files."""
    for name in REPLACED:
        target = installed.path / name
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
    # The template's current versions of the files a fixture may leave out, then the fixture.
    shutil.copytree(installed.pristine, installed.path, dirs_exist_ok=True)
    shutil.copytree(team.folder, installed.path, dirs_exist_ok=True)


@pytest.mark.slow
@pytest.mark.parametrize("team", TEAMS, ids=[team.name for team in TEAMS])
def test_team_files_pass_the_gate(installed: Installed, team: Team) -> None:
    """ruff, the import contracts, mypy and the team's tests (they train) pass on today's engine."""
    lay_over(installed, team)
    steps = StepRunner(f"{TIMED}: {team.name}", installed.path, installed.steps.env)
    run_static_gate(steps)
    tests = ["tests/test_task.py", "tests/test_data.py", "tests/models", "tests/engine/test_api.py"]
    pytest_command = ["python", "-m", "pytest", "-p", "no:cacheprovider", "--no-cov", *tests]
    output = steps.run("pytest", pytest_command)
    # The old paths warn, in the summary; the API never does.
    assert ("EngineDeprecationWarning" in output) is team.uses_old_paths, output[-2000:]


@pytest.mark.slow
def test_a_team_file_that_reaches_past_the_api_fails_the_gate(installed: Installed) -> None:
    """The import contracts refuse an engine internal imported by a team file, naming both."""
    reaching = installed.path / "src" / PACKAGE / "models" / "reaching.py"
    reaching.write_text(
        '"""Imports the trainer itself."""\n\nfrom ..engine.trainer.loop import Trainer\n\n'
        '__all__ = ["Trainer"]\n',
        encoding="utf-8",
    )
    try:
        result = subprocess.run(
            ["lint-imports"],
            cwd=installed.path,
            env=installed.steps.env,
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        reaching.unlink()
    assert result.returncode != 0, result.stdout
    assert f"import the engine from {PACKAGE}.engine.api only BROKEN" in result.stdout
    assert f"{PACKAGE}.models.reaching -> {PACKAGE}.engine.trainer.loop" in result.stdout


# --------------------------------------------------------------------------------------------------
# A real update from before the task API, with a customised task
# --------------------------------------------------------------------------------------------------
# The last commit of this repository before the engine was laid out by stage and engine.api
# existed: the frozen fixtures of before-task-api/ were rendered from it.
BEFORE_TASK_API = "16bf8f06bb9748fcc998123631990cf0403efdfa"


def release_from_history(repo: Path, commit: str, tag: str) -> None:
    """Tag, in ``repo``, a commit of the template as it was at ``commit`` of this repository."""
    archive = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "archive", commit, *TEMPLATE_PATHS],
        capture_output=True,
        check=True,
    ).stdout
    git(repo, "checkout", "-q", "--orphan", f"release-{tag}")
    git(repo, "rm", "-rfq", ".")
    with tarfile.open(fileobj=io.BytesIO(archive)) as files:
        files.extractall(repo, filter="data")
    commit_all(repo, f"The template at {commit[:12]}")
    git(repo, "tag", tag)
    git(repo, "checkout", "-q", "main")


@pytest.fixture(scope="module")
def updated_team(template_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project copied before the task API, its task customised, updated to the working tree."""
    if subprocess.run(
        ["git", "-C", str(REPO_ROOT), "cat-file", "-e", f"{BEFORE_TASK_API}^{{commit}}"],
        capture_output=True,
        check=False,
    ).returncode:
        pytest.skip(f"needs this repository's history back to {BEFORE_TASK_API[:12]} (unshallow)")
    root = tmp_path_factory.mktemp("update-from-before-task-api")
    repo = root / "template"
    git(root, "clone", "-q", str(template_repo), repo.name)
    release_from_history(repo, BEFORE_TASK_API, OLD)
    git(repo, "tag", NEW)  # main: the working tree
    project = copy_project(repo.resolve(), root / "project", OLD, project_name="Compat Project")
    package = project / "src" / PACKAGE
    # The team's changes, in its own files: a label-smoothing default, a monitored accuracy, a test.
    edit(
        package / "task.py",
        replace("default=0.0, ge=0.0, lt=1.0", "default=0.1, ge=0.0, lt=1.0"),
    )
    edit(
        package / "task.py",
        replace('Monitor("loss", mode="min")', 'Monitor("accuracy", mode="max")'),
    )
    edit(project / "tests" / "test_task.py", lambda text: text + TEAM_TEST)
    commit_all(project, "The team's task")
    update_project(project, NEW)
    return project


TEAM_TEST = """

def test_the_team_smooths_its_labels() -> None:
    assert TASK.settings_type().model_dump()["label_smoothing"] == 0.1
"""


def test_the_update_from_before_the_task_api_has_no_conflict(updated_team: Path) -> None:
    """The update moves the engine into stages and leaves the team's files exactly as they were."""
    assert not files_with_conflict_markers(updated_team)
    assert not unmerged_paths(updated_team)
    task = (updated_team / "src" / PACKAGE / "task.py").read_text(encoding="utf-8")
    assert 'Monitor("accuracy", mode="max")' in task
    assert "from .engine.config import TaskSection" in task  # the old path, still working
    assert (updated_team / "src" / PACKAGE / "engine" / "api.py").is_file()


@pytest.mark.slow
def test_the_updated_team_project_passes_its_gate(
    updated_team: Path, tmp_path: Path, torch_index: str | None, mypy_cache: Path
) -> None:
    """Without a hand edit: ruff, the contracts, mypy, the team's tests, training, template-diff.

    The engine's own tests are the same in every project; the render matrix runs them.
    """
    project = Path(shutil.copytree(updated_team, tmp_path / "project", symlinks=True))
    venv = project / ".venv"
    env = project_env(venv, torch_index=torch_index, mypy_cache=mypy_cache)
    steps = StepRunner(f"{TIMED}: updated from before the task API", project, env)
    steps.run("venv", create_venv_command(venv))
    steps.run("install", install_project_command(venv))
    run_static_gate(steps)
    tests = ["tests/test_task.py", "tests/test_data.py", "tests/models", "tests/engine/test_api.py"]
    pytest_command = ["python", "-m", "pytest", "-p", "no:cacheprovider", "--no-cov", *tests]
    output = steps.run("pytest", pytest_command)
    assert "EngineDeprecationWarning" in output, "the old paths no longer warn"
    steps.run("train", ["compat-project", "train", "--preset", "smoke"])
    # What the template changed in the team's own files since: shown, never applied.
    listed = StepRunner(steps.answer_set, project, with_copier(env)).run(
        "template-diff", ["compat-project", "template-diff", "--name-only"]
    )
    assert f"src/{PACKAGE}/task.py" in listed.split()
