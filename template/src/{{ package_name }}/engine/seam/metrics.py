"""Streaming metrics: running sums per batch, added up across ranks, computed once per epoch.

A ``Metric`` keeps its state in one tensor of sums (counts, totals, a confusion matrix) on the
device. ``update`` adds a batch, the engine adds the states of every rank together, and
``compute`` turns the sums into values. Because the state is a sum, a metric computed this way
over shards equals the metric over the whole set, whatever the number of ranks.

A metric may also leave files for people to look at (``save_artifacts``): the engine calls it
at the end of a run with the final validation, and ``evaluate --output-dir`` with the split it
scores. ``ConfusionMatrix`` draws itself.

The metrics here cover the built-in tasks; a task defines its own the same way (see ``Mean``
for the smallest example). They are a few tested lines rather than torchmetrics: each is a sum
that the engine adds up across ranks in one collective, which keeps the engine free of another
dependency and of its distributed machinery (decision 0009). Metrics that no sum gives, such as
AUROC, are the other kind: ``ranking.py`` keeps a split's outputs and computes them exactly.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

__all__ = [
    "Accuracy",
    "ConfusionMatrix",
    "Mean",
    "MeanAbsoluteError",
    "Metric",
    "RootMeanSquaredError",
]


class Metric(ABC):
    """A metric computed from sums. Subclasses say the state's shape, how to add, how to compute.

    ``compute`` returns one value, reported under the metric's name, or several by name, each
    reported under its own name (``ConfusionMatrix`` gives ``macro_f1``, ``precision_0``, ...).
    """

    def __init__(self, *shape: int) -> None:
        """Start from a zero state of ``shape`` on the CPU (``reset`` moves it)."""
        self.shape = shape
        self.state = torch.zeros(shape, dtype=torch.float64)

    def reset(self, device: torch.device) -> None:
        """Zero the state on ``device`` (in float64 where the device has it)."""
        dtype = torch.float32 if device.type == "mps" else torch.float64
        self.state = torch.zeros(self.shape, dtype=dtype, device=device)

    @abstractmethod
    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        """Add a batch's model outputs and targets to the state."""

    @abstractmethod
    def compute(self) -> float | dict[str, float]:
        """The metric's value(s) from the state."""

    def save_artifacts(self, folder: Path, *, prefix: str) -> list[Path]:
        """Write files that show the metric (figures, tables) into ``folder``; return them.

        ``prefix`` starts every file name (``val_``, ``test_``). The default writes nothing.
        """
        return []


class Mean(Metric):
    """The mean of a per-sample quantity, weighted by samples: state ``[sum, count]``."""

    def __init__(self) -> None:
        """Start at no samples."""
        super().__init__(2)

    def add(self, values: torch.Tensor) -> None:
        """Add the per-sample ``values`` (any shape; each element counts once)."""
        self.state[0] += values.detach().sum()
        self.state[1] += values.numel()

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        """Add the mean of ``outputs`` as a value per sample (a subclass decides what to add)."""
        self.add(outputs)

    def compute(self) -> float:
        """The mean, or NaN before any sample."""
        total, count = self.state.tolist()
        return total / count if count else float("nan")


class Accuracy(Mean):
    """Share of rows of logits ``(N, C)`` whose arg-max equals the class index ``(N,)``."""

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        """Count the batch's correct rows."""
        self.add(outputs.argmax(dim=1) == targets)


class MeanAbsoluteError(Mean):
    """Mean of ``|output - target|`` over every element."""

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        """Add the batch's absolute errors."""
        self.add((outputs.float() - targets.float()).abs())


class RootMeanSquaredError(Mean):
    """Square root of the mean of ``(output - target) ** 2`` over every element."""

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        """Add the batch's squared errors."""
        self.add((outputs.float() - targets.float()).square())

    def compute(self) -> float:
        """The root of the mean squared error."""
        return float(super().compute() ** 0.5)


class ConfusionMatrix(Metric):
    """Counts of (true class, predicted class) pairs, and what follows from them.

    ``compute`` reports the macro-averaged F1 score (``macro_f1``) and, per class, precision and
    recall (``precision_<class>``, ``recall_<class>``); ``matrix`` gives the counts themselves.
    A class that is never predicted (or never present) has precision (recall) 0.
    """

    def __init__(self, num_classes: int, *, labels: Sequence[str] | None = None) -> None:
        """Count ``num_classes`` classes, named by ``labels`` (their indices by default)."""
        super().__init__(num_classes, num_classes)
        self.num_classes = num_classes
        self.labels = list(labels) if labels is not None else [str(i) for i in range(num_classes)]

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        """Add the batch's (target, arg-max) pairs."""
        predicted = outputs.argmax(dim=1)
        pairs = targets.long() * self.num_classes + predicted
        counts = torch.bincount(pairs, minlength=self.num_classes**2)
        self.state += counts.reshape(self.num_classes, self.num_classes)  # (true, predicted)

    def matrix(self) -> torch.Tensor:
        """The counts, rows the true class and columns the predicted one, on the CPU."""
        return self.state.detach().cpu().to(torch.int64)

    def save_artifacts(self, folder: Path, *, prefix: str) -> list[Path]:
        """Write the counts as ``<prefix>confusion_matrix.csv`` and a ``.png`` heat map."""
        counts = self.matrix()
        table = folder / f"{prefix}confusion_matrix.csv"
        rows = [",".join(["true/predicted", *self.labels])]
        rows += [
            ",".join([label, *map(str, row)])
            for label, row in zip(self.labels, counts.tolist(), strict=True)
        ]
        table.write_text("\n".join(rows) + "\n", encoding="utf-8")
        image = folder / f"{prefix}confusion_matrix.png"
        _draw_matrix(counts, self.labels, path=image, title=f"Confusion matrix ({prefix[:-1]})")
        return [table, image]

    def compute(self) -> dict[str, float]:
        """Macro F1 and the precision and recall of each class."""
        counts = self.state.detach().cpu().to(torch.float64)
        hits = counts.diagonal()
        precision = hits / counts.sum(dim=0).clamp_min(1)  # per predicted class
        recall = hits / counts.sum(dim=1).clamp_min(1)  # per true class
        f1 = 2 * precision * recall / (precision + recall).clamp_min(1e-12)
        values = {"macro_f1": float(f1.mean())}
        for label, p, r in zip(self.labels, precision.tolist(), recall.tolist(), strict=True):
            values[f"precision_{label}"] = p
            values[f"recall_{label}"] = r
        return values


def _draw_matrix(counts: torch.Tensor, labels: list[str], *, path: Path, title: str) -> None:
    """A heat map of ``counts`` (true class by row), each cell labelled with its count."""
    # A bare Figure needs no GUI backend and no pyplot global state.
    from matplotlib.figure import Figure  # noqa: PLC0415 (imported only when a figure is drawn)

    size = min(2.0 + 0.5 * len(labels), 20.0)
    figure = Figure(figsize=(size, size))
    axes = figure.subplots()
    axes.imshow(counts.numpy(), cmap="Blues")
    ticks = list(range(len(labels)))
    axes.set_xticks(ticks, labels, rotation=90 if len(labels) > 10 else 0)
    axes.set_yticks(ticks, labels)
    axes.set(xlabel="predicted", ylabel="true", title=title)
    if len(labels) <= 30:  # beyond that the numbers no longer fit their cells
        brightest = int(counts.max()) if counts.numel() else 0
        for (row, column), count in zip(
            ((r, c) for r in ticks for c in ticks), counts.flatten().tolist(), strict=True
        ):
            color = "white" if count > brightest / 2 else "black"
            axes.text(column, row, str(count), ha="center", va="center", color=color)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
