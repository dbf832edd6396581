"""Which torch build uv gives a generated project: CPU unless the ``cu128`` extra asks for CUDA.

The project is resolved and installed by uv's project commands against stand-in indexes
(tests.stand_in_indexes): a fake CPU torch in ``pytorch-cpu``, a fake CUDA torch in
``pytorch-cu128``, and, in front of the real registry, a newer fake "CUDA-like" torch that needs a
fake CUDA runtime, as the registry's Linux wheel does. After ``uv sync --extra cpu``, the commands a
user types next (``uv run``, ``uv sync``, ``uv add``) must keep the CPU build. Slow: it installs
the project's real dependencies.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from tests.helpers import output_tail
from tests.install import uv_bin
from tests.stand_in_indexes import (
    ADDED_PACKAGE,
    CPU_TORCH,
    CUDA_RUNTIME,
    CUDA_TORCH,
    build_stand_in_indexes,
    uv_index_environment,
)

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import RenderedBy

pytestmark = pytest.mark.slow

PRINT_TORCH = "import torch; print(torch.__version__)"


def _installed(project: Path) -> dict[str, str]:
    """Distribution name to version, for every package in the project's ``.venv``."""
    found = {}
    for dist_info in (project / ".venv").glob("lib/python*/site-packages/*.dist-info"):
        name, version = dist_info.name.removesuffix(".dist-info").split("-", 1)
        found[name.replace("_", "-").lower()] = version
    return found


def _uv_env(tmp_path: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("UV_") and key not in {"VIRTUAL_ENV", "PYTHONPATH"}
    }
    env.update(
        uv_index_environment(build_stand_in_indexes(tmp_path / "indexes")),
        UV_PYTHON=sys.executable,
        UV_PYTHON_DOWNLOADS="never",
        UV_NO_PROGRESS="1",
    )
    return env


def _uv(project: Path, env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [uv_bin(), *args],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, (
        f"`uv {' '.join(args)}` exited {result.returncode}:\n{output_tail(result.stdout)}"
    )
    return result.stdout


@pytest.fixture
def project(rendered_by_name: RenderedBy, tmp_path: Path) -> Path:
    """A copy of the default answers' project, to lock and install."""
    return shutil.copytree(rendered_by_name("defaults").path, tmp_path / "project")


def test_uv_commands_keep_the_cpu_build(project: Path, tmp_path: Path) -> None:
    """After ``uv sync --extra cpu``, ``uv run`` and ``uv add`` keep CPU torch; no CUDA ever.

    A ``uv sync`` without an extra removes torch (torch lives in the extras only) rather than
    installing any other build; ``uv sync --extra cpu`` brings the CPU build back.
    """
    env = _uv_env(tmp_path)
    _uv(project, env, "sync", "--extra", "cpu")
    assert _installed(project)["torch"] == CPU_TORCH
    steps = {
        "uv run": ["run", "python", "-c", PRINT_TORCH],
        f"uv add {ADDED_PACKAGE}": ["add", ADDED_PACKAGE],
        "uv run after uv add": ["run", "python", "-c", PRINT_TORCH],
    }
    for step, args in steps.items():
        output = _uv(project, env, *args)
        installed = _installed(project)
        assert installed.get("torch") == CPU_TORCH, f"after {step}: torch {installed.get('torch')}"
        assert CUDA_RUNTIME not in installed, f"after {step}: the CUDA runtime was installed"
        if args[0] == "run":
            assert output.strip().splitlines()[-1] == CPU_TORCH, output
    assert ADDED_PACKAGE in installed
    _uv(project, env, "sync")
    installed = _installed(project)
    assert "torch" not in installed, f"a bare uv sync installed torch {installed['torch']}"
    assert CUDA_RUNTIME not in installed
    _uv(project, env, "sync", "--extra", "cpu")
    assert _installed(project)["torch"] == CPU_TORCH


def test_uv_run_keeps_the_cuda_build(project: Path, tmp_path: Path) -> None:
    """``uv sync --extra cu128`` installs the CUDA build, and a plain ``uv run`` keeps it."""
    env = _uv_env(tmp_path)
    _uv(project, env, "sync", "--extra", "cu128", "--no-dev")
    assert _installed(project)["torch"] == CUDA_TORCH
    output = _uv(project, env, "run", "--no-dev", "python", "-c", PRINT_TORCH)
    assert output.strip().splitlines()[-1] == CUDA_TORCH, output
    assert CUDA_RUNTIME in _installed(project)


def test_lock_binds_every_torch_requirement_to_a_pytorch_index(
    project: Path, tmp_path: Path
) -> None:
    """In uv.lock no torch requirement is left to the registry, and no extra means no torch.

    A requirement without an index would be resolved from the registry unless uv happens to unify
    it with an extra's; the project declares torch only where it names the index.
    """
    env = _uv_env(tmp_path)
    _uv(project, env, "lock")
    lock = (project / "uv.lock").read_text(encoding="utf-8")
    metadata = lock.split("[package.metadata]", 1)[1].split("[[package]]", 1)[0]
    torch_lines = [line for line in metadata.splitlines() if '{ name = "torch"' in line]
    assert torch_lines, "uv.lock records no torch requirement"
    unbound = [line.strip() for line in torch_lines if "index = " not in line]
    assert not unbound, "torch requirements left to the registry:\n" + "\n".join(unbound)
    exported = _uv(project, env, "export", "--no-dev", "--no-hashes", "--no-emit-project")
    assert not [line for line in exported.splitlines() if line.startswith("torch==")], exported
    cpu = _uv(project, env, "export", "--extra", "cpu", "--no-dev", "--no-hashes")
    assert f"torch=={CPU_TORCH}" in cpu.splitlines(), cpu
