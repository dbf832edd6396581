"""Ready-made predictions for the common kinds of output: classes, and numeric values.

A task's ``predict`` and ``output_spec`` may use these or say something else entirely; the
engine never looks inside. Classes: the most probable class of each row (``prediction``, by name
in files and the service) and every class's probability (``probability``). Values: the model's
outputs as they are (``prediction``), one column per target.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .specs import FieldSpec, OutputSpec, label_names

if TYPE_CHECKING:
    from collections.abc import Sequence

    import torch

__all__ = ["class_output", "class_predictions", "value_output", "value_predictions"]


def class_predictions(logits: torch.Tensor) -> dict[str, torch.Tensor]:
    """The most probable class ``(N,)`` and the class probabilities ``(N, C)`` of logits."""
    probabilities = logits.float().softmax(dim=1)
    return {"prediction": probabilities.argmax(dim=1), "probability": probabilities}


def class_output(num_classes: int, *, labels: Sequence[str] | None = None) -> OutputSpec:
    """What ``class_predictions`` holds, the classes named by ``labels`` (or their indices).

    Raises:
        PackageError: If ``labels`` does not name each class once.
    """
    names = label_names(labels, count=num_classes)
    return OutputSpec(
        kind="classification",
        fields=[
            FieldSpec(name="prediction", shape=[None], names=names),
            FieldSpec(name="probability", shape=[None, num_classes], names=names),
        ],
    )


def value_predictions(outputs: torch.Tensor) -> dict[str, torch.Tensor]:
    """The outputs as predicted values: ``(N,)`` for one target, ``(N, T)`` for several."""
    values = outputs.float()
    return {"prediction": values.squeeze(1) if values.shape[1] == 1 else values}


def value_output(num_targets: int, *, labels: Sequence[str] | None = None) -> OutputSpec:
    """What ``value_predictions`` holds, the targets named by ``labels`` (or their indices).

    Raises:
        PackageError: If ``labels`` does not name each target once.
    """
    names = label_names(labels, count=num_targets, what="targets")
    shape: list[int | None] = [None] if num_targets == 1 else [None, num_targets]
    field = FieldSpec(name="prediction", shape=shape, names=None if num_targets == 1 else names)
    return OutputSpec(kind="regression", fields=[field])
