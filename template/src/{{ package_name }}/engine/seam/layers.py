"""Layers a task's models share with the engine's data: image normalisation inside the model.

An image model takes pixels in [0, 1] and normalises them itself, with the statistics kept as
buffers: they travel in every checkpoint and model package, and an exported model (ONNX,
``torch.export``) takes the same pixels that ``predict`` and the service decode from files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from ..core.exceptions import ModelError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["Normalize"]


class Normalize(nn.Module):
    """Normalise images ``(N, C, H, W)`` per channel: ``(x - mean) / std``."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(
        self,
        channels: int,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        """Normalise ``channels`` channels by ``mean`` and ``std`` (by default 0 and 1).

        Raises:
            ModelError: If the statistics are not one positive standard deviation per channel.
        """
        super().__init__()
        mean = [0.0] * channels if mean is None else list(mean)
        std = [1.0] * channels if std is None else list(std)
        if len(mean) != channels or len(std) != channels or min(std) <= 0:
            raise ModelError(
                f"image statistics mean={mean} std={std} need one value per channel "
                f"({channels}) and standard deviations above 0"
            )
        shape = (1, channels, 1, 1)  # broadcasts over (N, C, H, W)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(shape))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(shape))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The normalised images, of the same shape."""
        return (images - self.mean) / self.std
