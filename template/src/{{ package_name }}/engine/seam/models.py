"""The model registry: every module in the project's ``models`` package registers its networks.

A model is a settings class (a ``ModelSection`` whose ``name`` is a ``Literal``) and a builder
decorated with ``@register_model(SettingsClass)``. Adding one is adding a file under ``models/``:
the engine imports every module of that package the first time it needs the registry, so no other
file changes. ``model.name`` in the config picks the model; its other keys are the settings
class's fields.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, TypeVar

from ..core.exceptions import ModelError
from .project import import_models

if TYPE_CHECKING:
    from collections.abc import Callable

    from torch import nn

    from .sections import ModelSection

__all__ = ["ModelBuilder", "build_model", "model_types", "register_model"]

ModelBuilder = TypeVar("ModelBuilder", bound="Callable[..., nn.Module]")

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}
_TYPES: dict[str, type[ModelSection]] = {}


def register_model(settings: type[ModelSection]) -> Callable[[ModelBuilder], ModelBuilder]:
    """Register a builder for the model whose settings class is ``settings`` (a decorator).

    The builder takes the settings as its first argument and, as keywords, the sizes of the data
    it needs (see ``build_model``), and returns a new, randomly initialised network.

    Raises:
        ModelError: If ``settings.name`` has no default, or another model has that name.
    """
    name = settings.model_fields["name"].default
    if not isinstance(name, str) or not name:
        raise ModelError(
            f"{settings.__name__}.name needs a default, the model's registered name, such as "
            'name: Literal["mlp"] = "mlp"'
        )

    def decorate(builder: ModelBuilder) -> ModelBuilder:
        if name in _BUILDERS and _BUILDERS[name] is not builder:
            raise ModelError(f"a model named {name!r} is already registered")
        _BUILDERS[name], _TYPES[name] = builder, settings
        return builder

    return decorate


def model_types() -> dict[str, type[ModelSection]]:
    """The settings class of every registered model, by name (imports ``models/`` first)."""
    import_models()
    return dict(sorted(_TYPES.items()))


def build_model(settings: ModelSection, **sizes: Any) -> nn.Module:
    """Build the model that ``settings.name`` names, from the sizes its builder asks for.

    The task passes every size its data has; the builder gets those its signature names, so a
    model needs no parameters for sizes it does not use (one that takes ``**sizes`` gets all).

    Raises:
        ModelError: If no model of that name is registered, or its builder needs a size the task
            does not give.
    """
    import_models()
    try:
        builder = _BUILDERS[settings.name]
    except KeyError:
        raise ModelError(
            f"unknown model {settings.name!r} (model.name); registered: {sorted(_BUILDERS)}"
        ) from None
    wanted = _sizes_wanted(builder, sizes)
    try:
        inspect.signature(builder).bind(settings, **wanted)
    except TypeError as err:
        raise ModelError(
            f"model {settings.name!r} cannot be built from the sizes the task gives "
            f"({', '.join(sorted(sizes)) or 'none'}): {err}"
        ) from err
    return builder(settings, **wanted)


def _sizes_wanted(builder: Callable[..., nn.Module], sizes: dict[str, Any]) -> dict[str, Any]:
    """The sizes ``builder`` names among its parameters (all of them if it takes ``**sizes``)."""
    parameters = list(inspect.signature(builder).parameters.values())[1:]  # after the settings
    if any(parameter.kind is parameter.VAR_KEYWORD for parameter in parameters):
        return sizes
    names = {parameter.name for parameter in parameters}
    return {name: value for name, value in sizes.items() if name in names}
