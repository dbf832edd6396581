"""The training engine: the template's half of the package.

``copier update`` keeps everything in this folder current, so change it only through the
template (a local edit merges, but may conflict with a later update). It trains, evaluates,
checkpoints, exports and serves whatever the project's ``task.py`` describes.

The project's own files import from one module, ``api`` (``from .engine.api import Task``),
whose names keep working across updates; everything else here may move. The engine is laid out
by stage, imports flowing one way (``make lint`` checks both rules):

- ``commands``: the command line;
- ``trainer``: the training loop and what it delegates (saving, stopping, reporting);
- ``evaluation``: a model's loss and metrics, and scoring a checkpoint;
- ``deploy``: model packages, the predictor and the HTTP service;
- ``checkpoints``: checkpoint folders, and the models they rebuild;
- ``distributed``: the process group and the model spread over it;
- ``records``: the folder and records every run writes;
- ``data``: datasets, splits, loaders and data files;
- ``settings``: the typed configuration;
- ``seam``: what a task is made of (the ``Task`` interface, metrics, specs, the model registry);
- ``core``: errors, seeding, devices, logging, signals, files.

Importing this package imports neither torch nor the project's modules.
"""

from __future__ import annotations

import importlib
from typing import Any

from .core import exceptions

__all__: list[str] = []  # the engine's public names are in api

# What this package exported before ``api`` existed; each still works for a release, and warns.
_FORMER_EXPORTS = frozenset({*exceptions.__all__, "Config", "load_config"})


def __getattr__(name: str) -> Any:
    """Serve a name this package used to export, from ``api``, with a deprecation warning."""
    if name not in _FORMER_EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from .core.deprecation import warn_moved  # noqa: PLC0415 (only for the old names)

    warn_moved(f"{__name__}.{name}")
    return getattr(importlib.import_module(f"{__name__}.api"), name)
