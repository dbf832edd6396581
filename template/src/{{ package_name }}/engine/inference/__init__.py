"""Deprecated: import these names from ``engine.api``, the engine's public surface.

The engine's modules moved into subpackages by stage; this module keeps the old import working
for one more release, and warns when it is imported.
"""

from __future__ import annotations

from ..api import ModelPackage, Predictions, Predictor, export_package
from ..core.deprecation import warn_moved

__all__ = ["ModelPackage", "Predictions", "Predictor", "export_package"]

warn_moved(__name__)
