"""The task API: every name the project's own files import from the engine, in one place.

``task.py``, ``data.py``, ``models/`` and the project's tests import from here and from nowhere
else in ``engine/`` (``make lint`` checks it): ``from .engine.api import Task, TensorData``. The
names and the modules they come from are listed once, in ``api.pyi``, which type checkers and
editors read; this module reads it too and imports each name from its home on first use, so
importing a name costs no more than importing the module that defines it (``--help`` stays fast).

The promise: a name here keeps working across template updates. Names are added in any release.
A name is removed only after a release in which it still works and warns with a
``DeprecationWarning`` that names its replacement, and every such change is an **Updating:**
line in the template's CHANGELOG. Everything else in ``engine/`` may move in any release.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from typing import Any


def _homes() -> dict[str, str]:
    """Each public name and the module (relative to the engine) that defines it, from api.pyi."""
    stub = ast.parse(Path(__file__).with_suffix(".pyi").read_text(encoding="utf-8"))
    return {
        alias.asname or alias.name: str(node.module)
        for node in stub.body
        if isinstance(node, ast.ImportFrom) and node.level == 1
        for alias in node.names
    }


_HOMES = _homes()
__all__ = sorted(_HOMES)  # noqa: PLE0605 (the names api.pyi lists)


def __getattr__(name: str) -> Any:
    """Import ``name`` from its home the first time it is asked for."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __package__), name)
    globals()[name] = value  # later lookups find it without this function
    return value


def __dir__() -> list[str]:
    """The public names, for ``dir()`` and completion."""
    return list(__all__)
