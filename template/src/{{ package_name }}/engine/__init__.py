"""The training engine: the template's half of the package.

``copier update`` keeps everything in this folder current, so change it only through the
template (a local edit merges, but may conflict with a later update). It trains, evaluates,
checkpoints, exports and serves whatever the project's ``task.py`` describes, through the
``Task`` interface in ``task.py`` here:

- ``config``: the typed configuration, the engine's sections and the bases of the project's;
- ``task``, ``metrics``, ``models``, ``datasets``: what the project builds its task from;
- ``training``, ``evaluation``, ``loaders``, ``optim``, ``distributed``: the loop and its parts;
- ``checkpoint``, ``runs``, ``log``, ``seed``, ``device``, ``signals``, ``progress``,
  ``provenance``: the utilities;
- ``inference``: model packages and the predictor; ``cli``: the command line;
- ``exceptions``: every error the project raises on purpose.

Importing this package imports neither torch nor the project's modules; import the modules
themselves (``from <package>.engine.task import Task``).
"""

from __future__ import annotations

from .config import Config, load_config
from .exceptions import (
    CheckpointError,
    CheckpointInvalidError,
    CheckpointNotFoundError,
    ConfigError,
    DataError,
    DeviceError,
    DistributedError,
    InputValidationError,
    ModelError,
    OutOfMemoryError,
    PackageError,
    PackageInvalidError,
    PackageNotFoundError,
    ProjectError,
    RetryableError,
    RunInUseError,
    StorageError,
    TrainingError,
)

__all__ = [
    "CheckpointError",
    "CheckpointInvalidError",
    "CheckpointNotFoundError",
    "Config",
    "ConfigError",
    "DataError",
    "DeviceError",
    "DistributedError",
    "InputValidationError",
    "ModelError",
    "OutOfMemoryError",
    "PackageError",
    "PackageInvalidError",
    "PackageNotFoundError",
    "ProjectError",
    "RetryableError",
    "RunInUseError",
    "StorageError",
    "TrainingError",
    "load_config",
]
