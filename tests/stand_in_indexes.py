"""Stand-in package indexes with tiny fake wheels, to watch which torch build a resolver picks.

Three PEP 503 folders replace the indexes a generated project can get torch from:

- ``pytorch-cpu``: a "CPU" torch, ``2.13.0+cpu``, with no dependencies;
- ``pytorch-cu128``: a "CUDA" torch, ``2.13.0+cu128``, that needs a fake CUDA runtime package;
- the registry: a "CUDA-like" torch as the registry's Linux wheel is, one that needs the same fake
  CUDA runtime and is newer than any real release, the runtime itself, and a package to ``uv add``.

The wheels import (``torch.__version__``) but do nothing else. Every other dependency comes from the
registry pip is configured with, read from pip's own configuration, so the resolution is the real
one for everything but torch. As pip does, uv then takes the best version from all these indexes
(``unsafe-best-match``), so the stand-in torch and runtime, newer than any real one, win.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

CPU_TORCH = "2.13.0+cpu"
CUDA_TORCH = "2.13.0+cu128"
REGISTRY_TORCH = "2.99.0"
CUDA_RUNTIME = "nvidia-stand-in-runtime"
ADDED_PACKAGE = "stand-in-addition"


def make_wheel(
    folder: Path, name: str, version: str, *, requires: Sequence[str] = (), code: str = ""
) -> Path:
    """Write a pure-Python wheel whose one module is ``name``'s import name holding ``code``.

    Args:
        folder: Where the wheel goes; created if missing.
        name: Distribution name.
        version: Its version.
        requires: ``Requires-Dist`` lines.
        code: Source of the package's ``__init__.py``.

    Returns:
        The wheel's path.
    """
    module = name.replace("-", "_")
    dist_info = f"{module}-{version}.dist-info"
    metadata = [
        "Metadata-Version: 2.1",
        f"Name: {name}",
        f"Version: {version}",
        *(f"Requires-Dist: {requirement}" for requirement in requires),
    ]
    files = {
        f"{module}/__init__.py": code,
        f"{dist_info}/METADATA": "\n".join(metadata) + "\n",
        f"{dist_info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: stand-in\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = [f"{path},sha256={_digest(text)},{len(text.encode())}" for path, text in files.items()]
    files[f"{dist_info}/RECORD"] = "\n".join([*record, f"{dist_info}/RECORD,,"]) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


def _digest(text: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()


def write_index(root: Path, wheels: Sequence[Path]) -> str:
    """Write a PEP 503 folder listing ``wheels`` under their projects; return its file URL."""
    projects: dict[str, list[Path]] = {}
    for wheel in wheels:
        projects.setdefault(wheel.name.split("-")[0].replace("_", "-").lower(), []).append(wheel)
    for project, files in projects.items():
        links = "\n".join(
            f'<a href="{wheel.resolve().as_uri()}">{wheel.name}</a>' for wheel in files
        )
        (root / project).mkdir(parents=True, exist_ok=True)
        (root / project / "index.html").write_text(
            f"<!DOCTYPE html>\n<html><body>\n{links}\n</body></html>\n", encoding="utf-8"
        )
    listing = "\n".join(f'<a href="{project}/">{project}</a>' for project in sorted(projects))
    (root / "index.html").write_text(
        f"<!DOCTYPE html>\n<html><body>\n{listing}\n</body></html>\n", encoding="utf-8"
    )
    return root.resolve().as_uri()


def _torch(folder: Path, version: str, *, requires: Sequence[str] = ()) -> Path:
    return make_wheel(
        folder, "torch", version, requires=requires, code=f'__version__ = "{version}"\n'
    )


@dataclass(frozen=True)
class StandInIndexes:
    """File URLs of the three stand-in indexes."""

    cpu: str
    cu128: str
    registry: str


def build_stand_in_indexes(root: Path) -> StandInIndexes:
    """Build the fake wheels and the three indexes under ``root`` (see the module docstring)."""
    wheels = root / "wheels"
    runtime = make_wheel(wheels / "registry", CUDA_RUNTIME, "12.8.0")
    return StandInIndexes(
        cpu=write_index(root / "cpu", [_torch(wheels / "cpu", CPU_TORCH)]),
        cu128=write_index(
            root / "cu128", [_torch(wheels / "cu128", CUDA_TORCH, requires=[CUDA_RUNTIME])]
        ),
        registry=write_index(
            root / "registry",
            [
                _torch(wheels / "registry", REGISTRY_TORCH, requires=[CUDA_RUNTIME]),
                runtime,
                make_wheel(wheels / "registry", ADDED_PACKAGE, "1.0.0"),
            ],
        ),
    )


def pip_indexes() -> tuple[str | None, list[str]]:
    """The index URL and extra index URLs of pip's configuration (files and ``PIP_*``), in order.

    Returns:
        ``(index_url, extra_index_urls)``; ``index_url`` is None when pip uses its default.
    """
    listing = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"],
        capture_output=True,
        text=True,
        check=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    ).stdout
    values: dict[str, str] = {}
    for line in listing.splitlines():
        key, _, value = line.partition("=")
        # "global.index-url='...'" or ":env:.index-url='...'": the later line wins, as in pip.
        values[key.rsplit(".", 1)[-1]] = value.strip().strip("'\"")
    extra = values.get("extra-index-url", "").split()
    return values.get("index-url") or None, extra


def uv_index_environment(indexes: StandInIndexes) -> dict[str, str]:
    """Settings for uv that add the stand-ins to pip's registry, all searched alike as pip does.

    The two PyTorch indexes are overridden by the names the generated pyproject.toml gives them;
    the stand-in registry and pip's indexes are searched for the best version of each package.
    """
    index_url, extra_urls = pip_indexes()
    names = [
        f"pytorch-cpu={indexes.cpu}",
        f"pytorch-cu128={indexes.cu128}",
        f"stand-in-registry={indexes.registry}",
    ]
    env = {"UV_INDEX": " ".join([*names, *extra_urls]), "UV_INDEX_STRATEGY": "unsafe-best-match"}
    if index_url:
        env["UV_DEFAULT_INDEX"] = index_url
    return env
