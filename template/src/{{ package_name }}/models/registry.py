"""The model registry: networks are chosen by name in the config."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from ..exceptions import ModelError

if TYPE_CHECKING:
    from collections.abc import Callable

    from torch import nn

    from ..config import ModelConfig

__all__ = ["ModelBuilder", "available_models", "build_model", "register_model"]


class ModelBuilder(Protocol):
    """Builds a network from its config section and the data's shape."""

    def __call__(self, config: ModelConfig, *, in_features: int, num_classes: int) -> nn.Module:
        """Return a new, randomly initialised network."""
        ...


_REGISTRY: dict[str, ModelBuilder] = {}


def register_model(name: str) -> Callable[[ModelBuilder], ModelBuilder]:
    """Register a builder under ``name`` (use as a decorator).

    Raises:
        ModelError: If another builder already has that name.
    """

    def decorate(builder: ModelBuilder) -> ModelBuilder:
        if name in _REGISTRY:
            raise ModelError(f"a model named {name!r} is already registered")
        _REGISTRY[name] = builder
        return builder

    return decorate


def available_models() -> list[str]:
    """Names that ``model.name`` may take."""
    return sorted(_REGISTRY)


def build_model(config: ModelConfig, *, in_features: int, num_classes: int) -> nn.Module:
    """Build the network that ``config.name`` names.

    Raises:
        ModelError: If no model of that name is registered.
    """
    try:
        builder = _REGISTRY[config.name]
    except KeyError:
        raise ModelError(
            f"unknown model {config.name!r} (model.name); registered: {available_models()}"
        ) from None
    return builder(config, in_features=in_features, num_classes=num_classes)
