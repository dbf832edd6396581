"""The version floors of a generated project are true: its gate passes with every floor installed.

The default answers' project is installed with uv's ``lowest-direct`` resolution, which takes the
lowest version each direct dependency allows (their own dependencies at their newest), then runs
its gate: ruff, mypy, pytest and the command line. torch stays the session's CPU build
(tests.install): its floor is the one thing not checked here, since the tests never download
torch. Slow: one more install and gate.
"""

from __future__ import annotations

import importlib.metadata
import tomllib
from typing import TYPE_CHECKING

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.helpers import StepRunner, render_project, run_static_gate
from tests.install import create_venv_command, project_env, torch_version, uv_bin

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow

ANSWER_SET = "defaults"


def direct_floors(project: Path, groups: tuple[str, ...] = ("dev",)) -> dict[str, str]:
    """Each direct dependency (torch aside) that applies here, with the lowest version it allows."""
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    specs = [*pyproject["project"]["dependencies"]]
    pending = list(groups)
    while pending:  # a group may include another: {include-group = "onnx"}
        for spec in pyproject["dependency-groups"][pending.pop()]:
            if isinstance(spec, str):
                specs.append(spec)
            else:
                pending.append(spec["include-group"])
    floors = {}
    for spec in specs:
        requirement = Requirement(spec)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        [lowest] = [s.version for s in requirement.specifier if s.operator in {">=", "=="}]
        floors[requirement.name] = lowest
    return floors


def installed_versions(python: Path) -> dict[str, Version]:
    """Each distribution in the venv of ``python``, by canonical name."""
    site = next((python.parent.parent / "lib").glob("python*/site-packages"))
    return {
        canonicalize_name(dist.metadata["Name"]): Version(dist.version)
        for dist in importlib.metadata.distributions(path=[str(site)])
    }


def test_gate_passes_at_the_floors(
    template_repo: Path,
    tmp_path: Path,
    torch_index: str | None,
    mypy_cache: Path,
) -> None:
    """``lowest-direct`` installs each floor exactly; ruff, mypy, the fast tests and --help pass."""
    project = render_project(template_repo, tmp_path / "project", {"project_name": "My ML Project"})
    venv = project / ".venv"
    steps = StepRunner(
        f"{ANSWER_SET} (floors)",
        project,
        project_env(venv, torch_index=torch_index, mypy_cache=mypy_cache),
    )
    steps.run("venv", create_venv_command(venv))
    pin = tmp_path / "torch.txt"
    pin.write_text(f"torch=={torch_version()}\n", encoding="utf-8")
    python = venv / "bin" / "python"
    steps.run(
        "install lowest",
        [
            uv_bin(),
            "pip",
            "install",
            "--python",
            python,
            "--resolution",
            "lowest-direct",
            "--constraint",
            pin,
            "-e",
            ".[cpu]",
            "--group",
            "dev",
        ],
    )
    floors = {
        canonicalize_name(name): Version(lowest) for name, lowest in direct_floors(project).items()
    }
    everything = installed_versions(python)
    installed = {name: everything.get(name) for name in floors}
    assert installed == floors, "lowest-direct did not install the floors"
    run_static_gate(steps)
    # The fast tests: the slow ones start more processes of the same code, and run once per
    # suite at the latest versions (test_generated_project, the defaults answer set).
    steps.run("pytest", ["python", "-m", "pytest", "-p", "no:cacheprovider", "-m", "not slow"])
    steps.run("--help", ["python", "-m", "my_ml_project", "--help"])
