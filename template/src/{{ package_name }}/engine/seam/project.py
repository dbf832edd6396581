"""Where the engine finds the project: its package, the task it trains and its models.

The engine lives in ``<package>/engine/``; the project's own modules sit beside it. The task is
the ``TASK`` attribute of ``<package>/task.py`` unless the environment variable
``<PACKAGE>_TASK`` names another one as ``module:attribute`` (a second task of the same project,
or a small task of the engine's own tests); ``task.project_task`` imports and checks it. The
models are every module of ``<package>/models/``.
"""

from __future__ import annotations

import importlib
import pkgutil

__all__ = ["DEFAULT_TASK", "PACKAGE", "TASK_VARIABLE", "import_models"]

PACKAGE = __name__.split(".")[0]
TASK_VARIABLE = f"{PACKAGE.upper()}_TASK"
DEFAULT_TASK = f"{PACKAGE}.task:TASK"


def import_models() -> None:
    """Import every module of the project's ``models`` package, so that each registers itself."""
    package = importlib.import_module(f"{PACKAGE}.models")
    for module in pkgutil.iter_modules(package.__path__, prefix=f"{package.__name__}."):
        importlib.import_module(module.name)
