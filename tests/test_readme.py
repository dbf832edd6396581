"""The README's first screen: exactly two commands, both of which this suite runs.

The second command is the test command, which ``.ci/run`` must call unchanged. The first renders
a project with default answers and trains it; its copier part runs here against the template
snapshot, and the project it names is the one the default answer set installs and trains in
``test_generated_project.py``.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib
from typing import TYPE_CHECKING

from tests.helpers import REPO_ROOT

if TYPE_CHECKING:
    from pathlib import Path

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
FIRST_SCREEN = README.split("\n## ", 1)[0]
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
COMMANDS = re.findall(r"```sh\n(.+?)\n```", FIRST_SCREEN, flags=re.DOTALL)


def test_first_screen_has_exactly_two_commands() -> None:
    """One command renders and trains, one runs the tests; nothing else competes for attention."""
    assert len(COMMANDS) == 2, f"the README's first screen shows {len(COMMANDS)} command blocks"
    assert all("\n" not in command for command in COMMANDS), "each command is a single line"


def test_ci_runs_the_readme_test_command() -> None:
    """``.ci/run`` calls the README's test command as it is written."""
    ci_script = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert COMMANDS[1] in ci_script.splitlines()


def test_first_command_renders_and_trains_the_default_project(
    template_repo: Path, tmp_path: Path
) -> None:
    """The copier step renders with defaults; the later steps install and run that project."""
    steps = [shlex.split(step) for step in COMMANDS[0].split("&&")]
    copy = next(step for step in steps if step[:2] == ["copier", "copy"])
    destination = tmp_path / "project"
    arguments = [str(template_repo) if part == "$PWD" else part for part in copy[2:-1]]
    subprocess.run(
        [sys.executable, "-m", "copier", "copy", *arguments, str(destination)],
        check=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )
    pyproject = tomllib.loads((destination / "pyproject.toml").read_text(encoding="utf-8"))
    script = next(iter(pyproject["project"]["scripts"]))
    target = copy[-1]
    assert ["pip", "install", "-e", target] in steps, "the project is installed where it is copied"
    # The project's dependencies hold no torch: the CPU build comes first, from its own index.
    cpu_torch = ["pip", "install", "torch", "--index-url", CPU_INDEX]
    assert cpu_torch in steps, "torch's CPU build is not installed"
    assert steps.index(cpu_torch) < steps.index(["pip", "install", "-e", target])
    assert ["cd", target] in steps
    assert steps[-1] == [script, "train"], f"the last step should run `{script} train`"
