"""Networks, chosen by name in the config.

To add one: write a module here with a builder decorated by ``@register_model("name")`` and
import it below; then set ``model.name: name`` in your config.
"""

from __future__ import annotations

from . import mlp
from .mlp import MLP
from .registry import ModelBuilder, available_models, build_model, register_model

__all__ = ["MLP", "ModelBuilder", "available_models", "build_model", "mlp", "register_model"]
