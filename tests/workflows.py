"""Reading GitHub Actions workflows and running their shell steps outside GitHub.

A step's ``run`` script is executed the way a Linux runner does (``bash -eo pipefail``) with
``GITHUB_OUTPUT`` pointing at a file, so a test sees exactly the outputs and exit status CI would.
Expressions (``${{ }}``) are not evaluated: only steps that contain none are run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

# A matrix entry filled from an earlier job: ``${{ fromJSON(needs.<job>.outputs.<name>) }}``.
NEEDS_OUTPUT = re.compile(r"\$\{\{\s*fromJSON\(needs\.([\w-]+)\.outputs\.([\w-]+)\)\s*\}\}")
# A job output taken from one of its steps: ``${{ steps.<id>.outputs.<name> }}``.
STEP_OUTPUT = re.compile(r"\$\{\{\s*steps\.([\w-]+)\.outputs\.([\w-]+)\s*\}\}")


@dataclass(frozen=True)
class StepResult:
    """What a step's script did: exit status, combined output and the outputs it wrote."""

    returncode: int
    output: str
    outputs: dict[str, str]


def load_workflow(path: Path) -> dict[str, Any]:
    """Parse a workflow file into a mapping (empty for an empty file)."""
    loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    assert isinstance(loaded, dict), f"{path.name} is not a mapping"
    return loaded


def workflows(project: Path) -> list[Path]:
    """Workflow files of a project, sorted by name."""
    return sorted((project / ".github" / "workflows").glob("*.y*ml"))


def jobs(workflow: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The jobs of a parsed workflow, keyed by job id."""
    return dict(workflow.get("jobs") or {})


def step_by_id(job: Mapping[str, Any], step_id: str) -> dict[str, Any]:
    """The step of ``job`` whose ``id`` is ``step_id``."""
    for step in job.get("steps") or []:
        if step.get("id") == step_id:
            return dict(step)
    raise AssertionError(f"no step with id {step_id!r}")


def step_by_name(job: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The step of ``job`` whose ``name`` is ``name``."""
    for step in job.get("steps") or []:
        if step.get("name") == name:
            return dict(step)
    raise AssertionError(f"no step named {name!r}")


def run_commands(job: Mapping[str, Any]) -> list[str]:
    """The one-line ``run`` commands of a job's steps, in order."""
    return [
        step["run"].strip()
        for step in job.get("steps") or []
        if isinstance(step.get("run"), str) and "\n" not in step["run"].strip()
    ]


# ``uses: owner/repo[/path]@<40 hex digits>  # vX.Y.Z``: a commit, and the release it is.
PINNED_USES = re.compile(r"uses: [\w.-]+/[\w./-]+@[0-9a-f]{40}  # v\d+\.\d+\.\d+")


def unpinned_uses(path: Path) -> list[str]:
    """The ``uses:`` lines of a workflow that are not pinned to a commit with a version comment."""
    lines = [
        line.strip().removeprefix("- ") for line in path.read_text(encoding="utf-8").splitlines()
    ]
    return [
        f"{path.name}: {line}"
        for line in lines
        if line.startswith("uses:") and not PINNED_USES.fullmatch(line)
    ]


def _parse_outputs(text: str) -> dict[str, str]:
    """Read ``name=value`` lines as GitHub reads ``$GITHUB_OUTPUT`` (no multi-line values)."""
    outputs: dict[str, str] = {}
    for line in text.splitlines():
        if "=" in line:
            name, value = line.split("=", 1)
            outputs[name] = value
    return outputs


def run_step(
    step: Mapping[str, Any],
    *,
    cwd: Path,
    scratch: Path,
    path_prefix: list[Path] | None = None,
) -> StepResult:
    """Run a step's ``run`` script as a Linux runner would, in ``cwd``.

    Args:
        step: The parsed step; its script must hold no ``${{ }}`` expression.
        cwd: Folder to run in (the checked-out project).
        scratch: Empty folder for the script and its ``GITHUB_OUTPUT`` file.
        path_prefix: Folders put first on PATH, for stand-ins of runner tools.

    Returns:
        The exit status, combined output and outputs the script wrote.
    """
    script = str(step["run"])
    assert "${{" not in script, "the step uses expressions; it only runs on GitHub"
    scratch.mkdir(parents=True, exist_ok=True)
    script_file = scratch / "step.sh"
    script_file.write_text(script, encoding="utf-8")
    output_file = scratch / "github_output"
    output_file.write_text("", encoding="utf-8")
    # python3 on the runner is 3.12; here it is this interpreter (3.11+, which has tomllib).
    prefix = [*(path_prefix or []), Path(sys.executable).parent]
    env = {
        **os.environ,
        "GITHUB_OUTPUT": str(output_file),
        "PATH": os.pathsep.join([*map(str, prefix), os.environ.get("PATH", "")]),
    }
    result = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_file)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=120,
        check=False,
    )
    outputs = _parse_outputs(output_file.read_text(encoding="utf-8"))
    return StepResult(result.returncode, result.stdout, outputs)


def _job_output(
    project: Path, workflow: Mapping[str, Any], job_id: str, name: str, scratch: Path
) -> str:
    """Compute output ``name`` of ``job_id`` by running the step it comes from."""
    job = jobs(workflow)[job_id]
    match = STEP_OUTPUT.fullmatch(str((job.get("outputs") or {})[name]).strip())
    assert match, f"{job_id}.outputs.{name} does not come from a step"
    step_id, step_output = match.groups()
    result = run_step(step_by_id(job, step_id), cwd=project, scratch=scratch / job_id)
    assert result.returncode == 0, f"step {step_id} of {job_id} failed:\n{result.output}"
    return result.outputs[step_output]


def matrix_pythons(project: Path, scratch: Path) -> Iterator[tuple[str, list[Any]]]:
    """Yield (workflow file, python-version list) for every job matrix over Python versions.

    A literal list is read as it is; a list filled from an earlier job's output is computed by
    running the step that writes that output, in ``project``.
    """
    for path in workflows(project):
        workflow = load_workflow(path)
        for job in jobs(workflow).values():
            matrix = (job.get("strategy") or {}).get("matrix") or {}
            versions = matrix.get("python-version") if isinstance(matrix, dict) else None
            if isinstance(versions, str) and (needs := NEEDS_OUTPUT.fullmatch(versions.strip())):
                job_id, output = needs.group(1), needs.group(2)
                versions = json.loads(_job_output(project, workflow, job_id, output, scratch))
            if isinstance(versions, list):
                yield path.name, versions
