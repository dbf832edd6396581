"""Installing rendered projects into their own virtual environments with uv.

PyTorch never resolves from the package registry here (that would pull gigabytes of CUDA wheels).
The ``pytorch-cpu`` index the rendered pyproject.toml declares is overridden, by name, through
``UV_INDEX``, so the rendered files stay unchanged:

1. ``TEMPLATE_TORCH_INDEX`` set: that URL is the ``pytorch-cpu`` index.
2. Otherwise pip's own configuration (find-links, a local wheel house) is asked for a
   ``torch==TEMPLATE_TORCH_VERSION`` wheel without any index; a wheel found is served from a
   PEP 503 folder kept between sessions (``torch_index_home``).
3. Otherwise the project's declared PyTorch CPU index stays in force (the public-CI path).

Disk is the scarce resource, not time: an installed CPU torch is about 1.5 GB, and a run installs
a dozen projects. So uv hardlinks packages from its cache into each venv (``UV_LINK_MODE``, unless
the caller set it), and the local index keeps one URL from session to session, so uv unpacks the
wheel into its cache once, not once per run.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from uv import find_uv_bin

if TYPE_CHECKING:
    from collections.abc import Sequence

DEFAULT_TORCH_VERSION = "2.13.0"

# Variables of the test session that must not leak into a rendered project's own commands.
# PYTHONDONTWRITEBYTECODE among them: uv installs no bytecode, so with it set every command
# compiled torch's Python files again (2.7 s of CPU an `import torch` instead of 1.2 s; the
# generated fast suite 65 s of CPU instead of 54). The venvs are the suite's own, thrown away.
_SCRUBBED_VARIABLES = frozenset(
    {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONDONTWRITEBYTECODE", "UV_INDEX"}
)
_SCRUBBED_PREFIXES = ("PYTEST_", "COV_CORE_", "COVERAGE_")


def torch_version() -> str:
    """The torch release to install: ``TEMPLATE_TORCH_VERSION`` or the default."""
    return os.environ.get("TEMPLATE_TORCH_VERSION", DEFAULT_TORCH_VERSION)


def torch_index_home() -> Path:
    """Folder for the local torch wheel and its index, the same in every session.

    Under ``$XDG_CACHE_HOME`` (``~/.cache`` without it), one folder per torch release.
    """
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "ml-template-tests" / f"torch-{torch_version()}"


def write_simple_index(root: Path, wheels: list[Path]) -> str:
    """Write a PEP 503 index that lists ``wheels`` as the project ``torch``; return its URL."""
    package = root / "torch"
    package.mkdir(parents=True, exist_ok=True)
    links = "\n".join(f'<a href="{wheel.resolve().as_uri()}">{wheel.name}</a>' for wheel in wheels)
    package.joinpath("index.html").write_text(
        f"<!DOCTYPE html>\n<html><body>\n{links}\n</body></html>\n", encoding="utf-8"
    )
    root.joinpath("index.html").write_text(
        '<!DOCTYPE html>\n<html><body>\n<a href="torch/">torch</a>\n</body></html>\n',
        encoding="utf-8",
    )
    return root.resolve().as_uri()


def _download_local_torch(wheel_dir: Path, version: str) -> list[Path]:
    """Ask pip, without any index, for a torch wheel its configuration can see locally."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-index",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "--quiet",
            f"torch=={version}",
            "--dest",
            str(wheel_dir),
        ],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if result.returncode != 0:
        return []
    return sorted(wheel_dir.glob("torch-*.whl"))


def find_torch_index(workdir: Path) -> str | None:
    """Choose the ``pytorch-cpu`` index for this session (see the module docstring).

    Args:
        workdir: Folder for the wheel and the generated index (``torch_index_home()`` in a
            session). Test-session workers share it: a lock file inside serialises them.

    Returns:
        The index URL, or None to keep the index the rendered project declares.
    """
    configured = os.environ.get("TEMPLATE_TORCH_INDEX")
    if configured:
        return configured
    workdir.mkdir(parents=True, exist_ok=True)
    with workdir.joinpath(".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        wheels = _download_local_torch(workdir / "wheels", torch_version())
        if not wheels:
            return None
        return write_simple_index(workdir / "simple", wheels)


def project_env(venv: Path, *, torch_index: str | None, mypy_cache: Path) -> dict[str, str]:
    """Environment for a rendered project's commands: its venv first on PATH, no registry torch.

    Args:
        venv: The project's virtual environment.
        torch_index: URL that overrides the ``pytorch-cpu`` index, or None.
        mypy_cache: mypy cache folder shared by all answer sets (the torch stubs are costly).

    Returns:
        A complete environment for subprocess calls.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in _SCRUBBED_VARIABLES and not key.startswith(_SCRUBBED_PREFIXES)
    }
    env.update(
        PATH=os.pathsep.join([str(venv / "bin"), env.get("PATH", "")]),
        VIRTUAL_ENV=str(venv),
        UV_PYTHON_DOWNLOADS="never",
        UV_NO_PROGRESS="1",
        MYPY_CACHE_DIR=str(mypy_cache),
        NO_COLOR="1",
    )
    env.setdefault("UV_LINK_MODE", "hardlink")
    # One torch thread a command: pytest runs a worker per core, and a torch with a thread per
    # core in each worker's commands spent most of its time waiting (a text project's train:
    # 12 s alone, 84 s in the suite).
    env.setdefault("OMP_NUM_THREADS", "1")
    if torch_index is not None:
        env["UV_INDEX"] = f"pytorch-cpu={torch_index}"
    return env


def uv_bin() -> str:
    """Path of the uv executable that the dev dependency group installed."""
    return os.fspath(find_uv_bin())


def create_venv_command(venv: Path) -> list[str]:
    """Command that creates ``venv`` for this interpreter, never downloading a Python."""
    return [uv_bin(), "venv", "--quiet", "--python", sys.executable, str(venv)]


def install_project_command(venv: Path, *, groups: Sequence[str] = ("dev",)) -> list[str]:
    """Command that installs the project (editable, CPU torch) and its ``groups`` into ``venv``."""
    return [
        uv_bin(),
        "pip",
        "install",
        "--python",
        str(venv / "bin" / "python"),
        "-e",
        ".[cpu]",
        *(option for group in groups for option in ("--group", group)),
    ]


def install_dependencies_command(venv: Path) -> list[str]:
    """Command that installs only the project's dependencies (CPU torch) and dev group.

    Used for projects whose minimum Python is newer than this interpreter: the project itself
    would refuse to install, but its dependencies are what mypy needs to check it.
    """
    return [
        uv_bin(),
        "pip",
        "install",
        "--python",
        str(venv / "bin" / "python"),
        "-r",
        "pyproject.toml",
        "--extra",
        "cpu",
        "--group",
        "dev",
    ]
