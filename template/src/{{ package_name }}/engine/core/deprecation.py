"""Deprecations: old import paths that still work for a release, and say where the name went.

When the engine moves a module that project files imported, the old path stays for one release
as a small module that re-exports its names and calls ``warn_moved`` on import. The warning's
category is ``EngineDeprecationWarning``; the project's tests show these warnings without
failing on them (``filterwarnings`` in ``pyproject.toml`` matches their message, which every
engine deprecation words the same way).
"""

from __future__ import annotations

import warnings

__all__ = ["MOVED_MODULES", "EngineDeprecationWarning", "warn_moved"]

# The engine's modules that project files imported before the engine was laid out by stage
# (and before ``engine.api``): each still imports, warns, and goes in a later release.
MOVED_MODULES = (
    "cli",
    "config",
    "data_files",
    "datasets",
    "exceptions",
    "inference",
    "log",
    "metrics",
    "models",
    "npy_rows",
    "outputs",
    "provenance",
    "scoring",
    "seed",
    "serving",
    "task",
    "training",
)


class EngineDeprecationWarning(DeprecationWarning):
    """An engine path or name that still works, and goes in a later release."""


def warn_moved(old: str) -> None:
    """Warn that ``old``, an engine module or name, was used: it now comes from ``engine.api``."""
    package = old.partition(".engine")[0]
    warnings.warn(
        f"{old} is deprecated and goes in a later release: import from {package}.engine.api "
        "instead (the template's CHANGELOG says what changed)",
        EngineDeprecationWarning,
        # Attributed to the old module itself, not to the code importing it: Python then shows it
        # where deprecations are meant to be seen (tests, -W), and never on a user's console,
        # even when the importer is a project's old __main__.py.
        stacklevel=2,
    )
