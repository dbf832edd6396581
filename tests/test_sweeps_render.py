"""What the ``sweeps`` answer renders: Optuna, its module, command, tests and space, or none.

Both answers are rendered once (no install). With ``sweeps`` the project gets the engine's
``sweeps`` package, the ``sweep`` command, its tests, the search space ``configs/sweeps/optim.yaml``
and optuna as a dependency; without it, none of them, and no file names Optuna. Seeds, folds, the
test split and the portable export formats come with every project.
"""

from __future__ import annotations

import tomllib
from typing import TYPE_CHECKING

import pytest

from tests.helpers import Answer, render_project

if TYPE_CHECKING:
    from pathlib import Path

PACKAGE = "swept_project"


@pytest.fixture(scope="module", params=[False, True], ids=["no-sweeps", "sweeps"])
def project(
    request: pytest.FixtureRequest, template_repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[bool, Path]:
    """Whether sweeps were asked for, and the project rendered with that answer."""
    sweeps: bool = request.param
    dst = tmp_path_factory.mktemp(f"sweeps-{sweeps}") / "project"
    answers: dict[str, Answer] = {"project_name": "Swept Project", "sweeps": sweeps}
    return sweeps, render_project(template_repo, dst, answers)


def _dependencies(project: Path) -> set[str]:
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    return {
        str(requirement).split(">")[0].split("=")[0]
        for requirement in pyproject["project"]["dependencies"]
    }


def test_sweeps_package(project: tuple[bool, Path]) -> None:
    """The engine's sweeps package exists only with sweeps."""
    sweeps, path = project
    package = path / "src" / PACKAGE / "engine" / "sweeps"
    if not sweeps:
        assert not package.exists()
        return
    modules = sorted(module.name for module in package.glob("*.py"))
    assert modules == [
        "__init__.py",
        "record.py",
        "report.py",
        "space.py",
        "storage.py",
        "study.py",
    ]


def test_dependency(project: tuple[bool, Path]) -> None:
    """Optuna is a dependency only with sweeps."""
    sweeps, path = project
    assert ("optuna" in _dependencies(path)) is sweeps


def test_command_tests_and_space(project: tuple[bool, Path]) -> None:
    """The sweep command, its tests and the search space come together, or not at all."""
    sweeps, path = project
    commands = path / "src" / PACKAGE / "engine" / "commands"
    assert (commands / "sweep.py").is_file() is sweeps
    app = (commands / "app.py").read_text(encoding="utf-8")
    assert ("from .sweep import sweep" in app) is sweeps
    assert (path / "tests" / "engine" / "test_sweeps.py").is_file() is sweeps
    assert (path / "configs" / "sweeps" / "optim.yaml").is_file() is sweeps


def test_no_file_names_optuna_without_sweeps(project: tuple[bool, Path]) -> None:
    """Without sweeps, no source, test, config or pyproject.toml mentions Optuna."""
    sweeps, path = project
    if sweeps:
        return
    files = [
        *(path / "src").rglob("*.py"),
        *(path / "tests").rglob("*.py"),
        *(path / "configs").rglob("*.yaml"),
        path / "pyproject.toml",
    ]
    mentions = [
        file.relative_to(path).as_posix()
        for file in files
        if "optuna" in file.read_text(encoding="utf-8").lower()
    ]
    assert not mentions, f"optuna appears in {mentions}"


def test_experiments_without_sweeps(project: tuple[bool, Path]) -> None:
    """Seeds, folds, the test split and portable exports do not depend on the answer."""
    _, path = project
    engine = path / "src" / PACKAGE / "engine"
    assert (engine / "trainer" / "groups.py").is_file()
    assert (engine / "evaluation" / "scoring.py").is_file()
    assert (engine / "deploy" / "portable.py").is_file()
    pyproject = tomllib.loads((path / "pyproject.toml").read_text(encoding="utf-8"))
    assert "onnx" in pyproject["dependency-groups"]
