"""Where the engine finds the project: its package name and the task it trains.

The engine lives in ``<package>/engine/``; the project's own modules sit beside it. The task is
the ``TASK`` attribute of ``<package>/task.py`` unless the environment variable
``<PACKAGE>_TASK`` names another one as ``module:attribute`` (a second task of the same project,
or a small task of the engine's own tests).
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

from .exceptions import ConfigError

if TYPE_CHECKING:
    from .task import Task

__all__ = ["PACKAGE", "TASK_VARIABLE", "project_task"]

PACKAGE = __name__.split(".")[0]
TASK_VARIABLE = f"{PACKAGE.upper()}_TASK"
_DEFAULT_TASK = f"{PACKAGE}.task:TASK"


def project_task() -> type[Task[Any, Any]]:
    """The task class this project trains (see the module docstring for how it is found).

    Raises:
        ConfigError: If the module cannot be imported or does not hold a ``Task`` subclass there.
    """
    from .task import Task  # noqa: PLC0415 (imports torch)

    spec = os.environ.get(TASK_VARIABLE) or _DEFAULT_TASK
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name != module_name:
            raise  # the task module itself failed to import something: a bug to see in full
        raise ConfigError(f"task {spec!r} ({TASK_VARIABLE}): no module {module_name!r}") from err
    task = getattr(module, attribute or "TASK", None)
    if not (isinstance(task, type) and issubclass(task, Task)):
        raise ConfigError(
            f"task {spec!r} ({TASK_VARIABLE}): {module_name}.{attribute or 'TASK'} is not a "
            f"subclass of {Task.__module__}.Task"
        )
    return task
