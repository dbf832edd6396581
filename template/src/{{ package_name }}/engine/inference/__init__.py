"""Inference: model packages with a contract, and prediction checked against that contract.

``export_package`` turns a training checkpoint into a model package; ``Predictor`` loads a
package (or a checkpoint) onto a device and predicts in batches. ``load_model`` rebuilds the
model of a checkpoint for evaluation.
"""

from __future__ import annotations

from .loading import LoadedModel, load_model
from .package import (
    SCHEMA_VERSION,
    Contract,
    ModelPackage,
    export_package,
    load_package,
)
from .predictor import InputData, Predictions, Predictor, write_predictions

__all__ = [
    "SCHEMA_VERSION",
    "Contract",
    "InputData",
    "LoadedModel",
    "ModelPackage",
    "Predictions",
    "Predictor",
    "export_package",
    "load_model",
    "load_package",
    "write_predictions",
]
