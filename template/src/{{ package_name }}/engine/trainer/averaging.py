"""An exponential moving average of the model's weights (``train.ema_decay``).

After every optimizer step each averaged weight moves toward the trained one by
``1 - decay``. The averages usually generalise better than the last weights, so with EMA on,
validation scores them, the best checkpoint is chosen by them and ``export`` ships them. They
are saved in every checkpoint (``ema.safetensors``, or beside the sharded weights) so that a
resumed run continues them exactly. Under FSDP each rank averages its own shards.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from collections.abc import Iterator

    from torch import nn

__all__ = ["WeightAverage"]


class WeightAverage:
    """The averaged copy of a model's parameters, by name."""

    def __init__(self, model: nn.Module, *, decay: float) -> None:
        """Start the averages at the model's current parameters."""
        self.decay = decay
        with torch.no_grad():
            self.averages = {
                name: parameter.detach().clone() for name, parameter in model.named_parameters()
            }

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move every average toward the model's parameter: ``avg += (1 - decay)(p - avg)``."""
        for name, parameter in model.named_parameters():
            self.averages[name].lerp_(parameter.detach(), 1.0 - self.decay)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The averages, by parameter name."""
        return dict(self.averages)

    @torch.no_grad()
    def load_state_dict(self, averages: dict[str, torch.Tensor]) -> None:
        """Continue from saved averages (names must match the model's parameters).

        Raises:
            KeyError: If a parameter has no saved average, naming it.
        """
        for name, average in self.averages.items():
            average.copy_(averages[name])

    @contextmanager
    def applied(self, model: nn.Module) -> Iterator[None]:
        """Put the averages into ``model`` for the duration of the block, then restore it."""
        parameters = dict(model.named_parameters())
        with torch.no_grad():
            trained = {name: parameter.detach().clone() for name, parameter in parameters.items()}
            for name, parameter in parameters.items():
                parameter.copy_(self.averages[name])
        try:
            yield
        finally:
            with torch.no_grad():
                for name, parameter in parameters.items():
                    parameter.copy_(trained[name])
