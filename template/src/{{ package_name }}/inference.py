"""Inference: load a trained model from a checkpoint and predict class labels in batches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from .checkpoint import atomic_write_text, load_checkpoint, load_weights
from .config import Config
from .exceptions import CheckpointInvalidError, ConfigError, DataError
from .models import build_model

if TYPE_CHECKING:
    from pathlib import Path

    from torch import nn

__all__ = ["LoadedModel", "Predictions", "load_model", "predict", "write_predictions"]


@dataclass(frozen=True)
class LoadedModel:
    """A model in eval mode with the config it was trained with and its input and output sizes."""

    model: nn.Module
    config: Config
    device: torch.device
    num_features: int
    num_classes: int


@dataclass(frozen=True)
class Predictions:
    """Predicted labels ``(N,)`` and class probabilities ``(N, C)``, on the CPU."""

    labels: torch.Tensor
    probabilities: torch.Tensor


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


def predict(loaded: LoadedModel, features: torch.Tensor, *, batch_size: int = 1024) -> Predictions:
    """Predict labels for ``features`` of shape ``(N, num_features)``.

    Raises:
        DataError: If ``features`` has the wrong shape or holds NaN or infinite values.
        ConfigError: If ``batch_size`` is not positive.
    """
    expected = loaded.num_features
    if features.ndim != 2 or features.shape[1] != expected:
        raise DataError(f"features must have shape (N, {expected}), got {tuple(features.shape)}")
    if not torch.isfinite(features).all():
        raise DataError("features hold NaN or infinite values")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
    probabilities = []
    with torch.inference_mode():
        for batch in features.split(batch_size):
            logits = loaded.model(batch.to(loaded.device, dtype=torch.float32))
            probabilities.append(logits.softmax(dim=1).cpu())
    num_classes = loaded.num_classes
    stacked = torch.cat(probabilities) if probabilities else torch.empty(0, num_classes)
    return Predictions(labels=stacked.argmax(dim=1), probabilities=stacked)


def write_predictions(path: Path, predictions: Predictions) -> None:
    """Write one CSV row per sample: its index, predicted label and class probabilities."""
    num_classes = predictions.probabilities.shape[1]
    header = ["row", "prediction", *(f"probability_{label}" for label in range(num_classes))]
    lines = [",".join(header)]
    for row, (label, probabilities) in enumerate(
        zip(predictions.labels.tolist(), predictions.probabilities.tolist(), strict=True)
    ):
        lines.append(",".join([str(row), str(label), *(f"{p:.6f}" for p in probabilities)]))
    atomic_write_text(path, "\n".join(lines) + "\n")
