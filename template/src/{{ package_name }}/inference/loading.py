"""Rebuild a trained model from a training checkpoint, in eval mode on a chosen device."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..checkpoint import load_checkpoint, load_weights
from ..config import Config
from ..exceptions import CheckpointInvalidError
from ..models import build_model

if TYPE_CHECKING:
    from pathlib import Path

    import torch
    from torch import nn

__all__ = ["LoadedModel", "load_model"]


@dataclass(frozen=True)
class LoadedModel:
    """A model in eval mode with the config it was trained with and its input and output sizes."""

    model: nn.Module
    config: Config
    device: torch.device
    num_features: int
    num_classes: int


def load_model(path: Path, *, device: torch.device) -> LoadedModel:
    """Rebuild the model a checkpoint was trained with and load its weights onto ``device``.

    Raises:
        CheckpointNotFoundError: If there is no checkpoint at ``path``.
        CheckpointInvalidError: If it is corrupt or its config or weights do not fit.
    """
    checkpoint = load_checkpoint(path)
    try:
        config = Config.model_validate(checkpoint.state["config"])
    except ValueError as err:
        raise CheckpointInvalidError(f"{str(path)!r} holds an invalid config: {err}") from err
    # Trained on a file, the sizes come from the data; the config's apply to synthetic data only.
    shape = checkpoint.state.get("data_shape") or {
        "num_features": config.data.num_features,
        "num_classes": config.data.num_classes,
    }
    model = build_model(
        config.model, in_features=shape["num_features"], num_classes=shape["num_classes"]
    ).to(device)
    load_weights(model, checkpoint, device=device)
    model.eval()
    return LoadedModel(model=model, config=config, device=device, **shape)
