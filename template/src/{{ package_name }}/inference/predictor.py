"""Prediction from a model package or a checkpoint, with inputs checked against the contract.

``Predictor`` holds a model in eval mode on a device together with its ``Contract``. Every call
checks the inputs first (a tensor or NumPy array of floating-point numbers, shaped
``(N, num_features)``, every value finite) and then predicts in batches under
``torch.inference_mode()``; results come back on the CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import safetensors
import safetensors.torch
import torch

from ..checkpoint import MODEL_FILE, atomic_write_text, resolve_checkpoint
from ..exceptions import ConfigError, InputValidationError, PackageInvalidError
from ..models import build_model
from .loading import load_model
from .package import CONTRACT_FILE, describe_model, file_sha256, load_package

if TYPE_CHECKING:
    from pathlib import Path

    from torch import nn

    from .package import Contract

__all__ = ["FLOAT_DTYPES", "Predictions", "Predictor", "write_predictions"]

# Element types accepted as features; they are converted to the contract's float32.
FLOAT_DTYPES = frozenset({torch.float16, torch.bfloat16, torch.float32, torch.float64})


@dataclass(frozen=True)
class Predictions:
    """Predicted class indices ``(N,)``, class probabilities ``(N, C)`` and the class names."""

    labels: torch.Tensor
    probabilities: torch.Tensor
    classes: tuple[str, ...]

    @property
    def names(self) -> list[str]:
        """The predicted class of each row, by name."""
        return [self.classes[index] for index in self.labels.tolist()]


class Predictor:
    """A model ready to predict, with the contract its inputs are checked against.

    Build one with ``Predictor.from_package`` (an exported model package) or
    ``Predictor.from_checkpoint`` (a training checkpoint, whose contract is derived on the fly).
    """

    def __init__(self, model: nn.Module, contract: Contract, *, device: torch.device) -> None:
        """Wrap ``model``, already on ``device`` and in eval mode, with its ``contract``."""
        self.model = model
        self.contract = contract
        self.device = device

    @classmethod
    def load(cls, path: Path, *, device: torch.device) -> Predictor:
        """Load a model package, or else a training checkpoint, from ``path`` onto ``device``.

        Raises:
            PackageInvalidError: If ``path`` holds a package that fails its checks.
            CheckpointNotFoundError: If ``path`` holds neither a package nor a checkpoint.
            CheckpointInvalidError: If it holds a checkpoint that does not load.
        """
        if (path / CONTRACT_FILE).is_file():
            return cls.from_package(path, device=device)
        return cls.from_checkpoint(path, device=device)

    @classmethod
    def from_package(cls, path: Path, *, device: torch.device) -> Predictor:
        """Load a model package (see ``export_package``) onto ``device``.

        Raises:
            PackageNotFoundError: If there is no package at ``path``.
            PackageInvalidError: If the package fails its checks or its weights do not fit.
        """
        package = load_package(path)
        contract = package.contract
        model = build_model(
            contract.model,
            in_features=contract.input.num_features,
            num_classes=contract.num_classes,
        )
        try:
            safetensors.torch.load_model(
                model, str(package.weights_path), strict=True, device=str(device)
            )
        except (safetensors.SafetensorError, RuntimeError, OSError, ValueError) as err:
            raise PackageInvalidError(
                f"weights in {str(package.weights_path)!r} do not fit the contract's model: {err}"
            ) from err
        return cls(model.to(device).eval(), contract, device=device)

    @classmethod
    def from_checkpoint(cls, path: Path, *, device: torch.device) -> Predictor:
        """Load the model of a training checkpoint onto ``device``, with a derived contract.

        The contract names the classes by index and records the checkpoint's run name; its
        version is ``checkpoint`` and its checksum is that of the checkpoint's weights.

        Raises:
            CheckpointNotFoundError: If there is no checkpoint at ``path``.
            CheckpointInvalidError: If it is corrupt or its config or weights do not fit.
        """
        folder = resolve_checkpoint(path)
        loaded = load_model(folder, device=device)
        contract = describe_model(
            loaded,
            name=loaded.config.run.name,
            version="checkpoint",
            labels=[str(index) for index in range(loaded.num_classes)],
            weights_sha256=file_sha256(folder / MODEL_FILE),
            git_commit=None,
        )
        return cls(loaded.model, contract, device=device)

    def validate(self, features: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Check ``features`` against the contract and return them as a float32 tensor.

        Raises:
            InputValidationError: If ``features`` is not a tensor or array of floating-point
                numbers of shape ``(N, num_features)``, or holds NaN or infinite values.
        """
        if isinstance(features, np.ndarray):
            if features.dtype.kind != "f":
                raise InputValidationError(
                    f"features must hold floating-point numbers, got NumPy dtype {features.dtype}"
                )
            features = torch.from_numpy(features)
        if not isinstance(features, torch.Tensor):
            raise InputValidationError(
                f"features must be a tensor or NumPy array, got {type(features).__name__}"
            )
        if features.dtype not in FLOAT_DTYPES:
            allowed = ", ".join(sorted(str(dtype) for dtype in FLOAT_DTYPES))
            raise InputValidationError(
                f"features must hold floating-point numbers ({allowed}), got {features.dtype}"
            )
        expected = self.contract.input.num_features
        if features.ndim != 2 or features.shape[1] != expected:
            raise InputValidationError(
                f"features must have shape (N, {expected}), got {tuple(features.shape)}"
            )
        finite = torch.isfinite(features)
        if not finite.all():
            row, column = (int(index) for index in (~finite).nonzero()[0])
            raise InputValidationError(
                f"features hold NaN or infinite values (first at row {row}, column {column}): "
                f"got {features[row, column].item()}"
            )
        return features.to(torch.float32)

    def predict(
        self, features: torch.Tensor | np.ndarray, *, batch_size: int = 1024
    ) -> Predictions:
        """Predict a class for each row of ``features`` (``(N, num_features)``).

        Raises:
            InputValidationError: If ``features`` does not match the contract (see ``validate``).
            ConfigError: If ``batch_size`` is not positive.
        """
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        checked = self.validate(features)
        probabilities = []
        with torch.inference_mode():
            for batch in checked.split(batch_size):
                logits = self.model(batch.to(self.device))
                probabilities.append(logits.softmax(dim=1).cpu())
        classes = tuple(self.contract.output.labels)
        stacked = torch.cat(probabilities) if probabilities else torch.empty(0, len(classes))
        return Predictions(labels=stacked.argmax(dim=1), probabilities=stacked, classes=classes)


def write_predictions(path: Path, predictions: Predictions) -> None:
    """Write one CSV row per sample: its index, predicted class and class probabilities."""
    header = ["row", "prediction", *(f"probability_{name}" for name in predictions.classes)]
    lines = [",".join(header)]
    for row, (name, probabilities) in enumerate(
        zip(predictions.names, predictions.probabilities.tolist(), strict=True)
    ):
        lines.append(",".join([str(row), name, *(f"{p:.6f}" for p in probabilities)]))
    atomic_write_text(path, "\n".join(lines) + "\n")
