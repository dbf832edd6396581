"""A multilayer perceptron classifier: the default model."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from .registry import register_model

if TYPE_CHECKING:
    import torch

    from ..config import ModelConfig

__all__ = ["MLP", "build_mlp"]


class MLP(nn.Module):
    """Fully connected layers with GELU and dropout, ending in class logits."""

    def __init__(
        self, in_features: int, num_classes: int, *, hidden_sizes: list[int], dropout: float
    ) -> None:
        """Create the layers.

        Args:
            in_features: Features per input sample.
            num_classes: Number of output logits.
            hidden_sizes: Width of each hidden layer, in order.
            dropout: Dropout probability after each hidden layer.
        """
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for hidden in hidden_sizes:
            layers += [nn.Linear(width, hidden), nn.GELU(), nn.Dropout(dropout)]
            width = hidden
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Map features ``(batch, in_features)`` to logits ``(batch, num_classes)``."""
        logits: torch.Tensor = self.net(features)
        return logits


@register_model("mlp")
def build_mlp(config: ModelConfig, *, in_features: int, num_classes: int) -> nn.Module:
    """Build an ``MLP`` from the model config."""
    return MLP(
        in_features, num_classes, hidden_sizes=list(config.hidden_sizes), dropout=config.dropout
    )
