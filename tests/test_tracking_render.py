"""What the ``experiment_tracker`` answer renders: the chosen tracker's files only, or none at all.

Each choice is rendered once per module (no install): with ``none`` there is no tracking package,
no tracker dependency, no ``tracking`` config key and no tracker test; with a tracker, exactly its
implementation, dependency, config section, tests and README section.
"""

from __future__ import annotations

import re
import tomllib
from typing import TYPE_CHECKING

import pytest

from tests.helpers import load_copier_config, render_project

if TYPE_CHECKING:
    from pathlib import Path

PACKAGE = "tracked_project"
TRACKERS = [str(choice) for choice in load_copier_config()["experiment_tracker"]["choices"]]
# The distribution each tracker needs, and the name its code, tests and README go by.
DEPENDENCY = {"tensorboard": "tensorboard", "mlflow": "mlflow-skinny", "wandb": "wandb"}
CONFIG_KEYS = {
    "tensorboard": {"log_subdir"},
    "mlflow": {"tracking_uri", "experiment"},
    "wandb": {"project", "entity", "mode"},
}
README_HEADING = {
    "tensorboard": "## Experiment tracking: TensorBoard",
    "mlflow": "## Experiment tracking: MLflow",
    "wandb": "## Experiment tracking: Weights & Biases",
}
TRACKER_PACKAGES = ("tensorboard", "mlflow", "wandb")


@pytest.fixture(scope="module", params=TRACKERS)
def project(
    request: pytest.FixtureRequest, template_repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path]:
    """The tracker chosen and the project rendered with it."""
    tracker: str = request.param
    dst = tmp_path_factory.mktemp(f"tracker-{tracker}") / "project"
    answers = {"project_name": "Tracked Project", "experiment_tracker": tracker}
    return tracker, render_project(template_repo, dst, answers)


def _dependencies(project: Path) -> list[str]:
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    return [str(requirement) for requirement in pyproject["project"]["dependencies"]]


def test_tracking_package(project: tuple[str, Path]) -> None:
    """Only the chosen implementation is in the package; ``none`` has no package at all."""
    tracker, path = project
    package = path / "src" / PACKAGE / "engine" / "tracking"
    if tracker == "none":
        assert not package.exists()
        return
    modules = sorted(module.name for module in package.glob("*.py"))
    assert modules == sorted(
        ["__init__.py", "base.py", "factory.py", "guard.py", f"{tracker}_tracker.py"]
    )


def test_dependency(project: tuple[str, Path]) -> None:
    """The chosen tracker's distribution is a dependency, and no other tracker's."""
    tracker, path = project
    names = {requirement.split(">")[0].split("=")[0] for requirement in _dependencies(path)}
    expected = {DEPENDENCY[tracker]} if tracker != "none" else set()
    assert names & set(DEPENDENCY.values()) == expected


def test_config_section(project: tuple[str, Path]) -> None:
    """The engine's config has a ``tracking`` section, the tracker's keys, only with a tracker.

    The section's defaults live in the code: ``configs/default.yaml``, which is the project's,
    need not list it.
    """
    tracker, path = project
    settings = path / "src" / PACKAGE / "engine" / "settings"
    loading = (settings / "loading.py").read_text(encoding="utf-8")
    if tracker == "none":
        assert "tracking" not in loading
        assert not (settings / "tracking.py").exists()
        return
    assert "from .tracking import TrackingConfig" in loading
    module = settings / "tracking.py"
    fields = set(re.findall(r"^    (\w+): .* = Field\(", module.read_text(encoding="utf-8"), re.M))
    assert fields == CONFIG_KEYS[tracker]


def test_tests(project: tuple[str, Path]) -> None:
    """The tracker's tests come with it, and only its own."""
    tracker, path = project
    folder = path / "tests" / "engine" / "tracking"
    if tracker == "none":
        assert not folder.exists()
        return
    names = sorted(test.name for test in folder.glob("test_*.py"))
    assert names == ["test_guard.py", f"test_{tracker}_tracker.py"]


def test_no_other_tracker_is_mentioned(project: tuple[str, Path]) -> None:
    """No source, test, config or README names a tracker library that was not chosen."""
    tracker, path = project
    files = [
        *(path / "src").rglob("*.py"),
        *(path / "tests").rglob("*.py"),
        path / "configs" / "default.yaml",
        path / "pyproject.toml",
    ]
    for other in TRACKER_PACKAGES:
        if other == tracker:
            continue
        mentions = [
            file.relative_to(path).as_posix()
            for file in files
            if f"import {other}" in (text := file.read_text(encoding="utf-8"))
            or f'"{DEPENDENCY[other]}>=' in text
        ]
        assert not mentions, f"{tracker}: {other} appears in {mentions}"


def test_readme_section(project: tuple[str, Path]) -> None:
    """The README explains the chosen tracker, and says nothing of tracking without one."""
    tracker, path = project
    readme = (path / "README.md").read_text(encoding="utf-8")
    headings = [heading for heading in README_HEADING.values() if heading in readme]
    assert headings == ([README_HEADING[tracker]] if tracker != "none" else [])
