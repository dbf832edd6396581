"""Evaluation: the task's loss and metrics of a model over a set of batches."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import distributed as dist

from ..core.device import to_device
from ..core.exceptions import TrainingError
from ..core.files import write_error
from ..seam.metrics import Mean
from .gather import gather_over_ranks

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from torch import nn

    from ..seam.metrics import Metric
    from ..seam.task import Sizes, Task

__all__ = ["EvalMetrics", "evaluate", "save_artifacts"]


@dataclass(frozen=True)
class EvalMetrics:
    """The mean loss and the task's metrics over a dataset, by name (``loss`` first)."""

    values: dict[str, float]
    num_samples: int
    # The task's metrics as computed, for the files they write (``save_artifacts``).
    metrics: dict[str, Metric] = field(default_factory=dict, repr=False, compare=False)

    @property
    def loss(self) -> float:
        """The mean loss."""
        return self.values["loss"]

    def as_dict(self) -> dict[str, float | int]:
        """The metrics and the sample count as a plain dictionary, for JSON and loggers."""
        return {**self.values, "num_samples": self.num_samples}


def evaluate(
    model: nn.Module,
    batches: Iterable[Any],
    *,
    task: Task[Any, Any],
    sizes: Sizes,
    device: torch.device,
) -> EvalMetrics:
    """Compute the task's loss and metrics of ``model`` in eval mode.

    Sums stay on the device; only the final values are copied to the host. In a distributed run
    each rank scores its share of the data and the sums are added up across ranks (the samples
    of exact metrics, such as ``AUROC``, are gathered), so every rank returns the metrics of the
    whole dataset.

    Raises:
        TrainingError: If two metrics report the same name, or an exact metric's split is larger
            than its ``max_samples``.
    """
    metrics = task.metrics(sizes)
    for metric in metrics.values():
        metric.reset(device)
    loss = _SampleMean()
    loss.reset(device)
    loss_sum, count = loss.state[0], 0  # a view: adding to it adds to the state
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for batch in batches:
            inputs, targets = task.split_batch(to_device(batch, device))
            outputs = task.forward(model, inputs)
            loss_sum += task.loss(outputs, targets) * len(targets)
            count += len(targets)
            for metric in metrics.values():
                metric.update(outputs, targets)
    model.train(was_training)
    loss.state[1] = count
    _sum_over_ranks([loss, *metrics.values()])
    gather_over_ranks(metrics)  # the exact metrics' samples, from every rank
    values = {"loss": loss.compute()}
    for name, metric in metrics.items():
        value = metric.compute()
        for key, item in (value if isinstance(value, dict) else {name: value}).items():
            if key in values:
                raise TrainingError(f"two of the task's metrics report {key!r}: rename one")
            values[key] = item
    return EvalMetrics(values=values, num_samples=int(loss.state[1].item()), metrics=metrics)


def save_artifacts(metrics: EvalMetrics, folder: Path, *, prefix: str) -> list[Path]:
    """Let each of the task's metrics write its files (such as a confusion matrix) into ``folder``.

    Args:
        metrics: What ``evaluate`` returned.
        folder: Where the files go; it is created if needed.
        prefix: Start of every file name, naming the split: ``val_``, ``test_``.

    Returns:
        The files written, none if no metric writes any.

    Raises:
        StorageError: If ``folder`` is a file, lies under one, or cannot be written.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return [
            path
            for metric in metrics.metrics.values()
            for path in metric.save_artifacts(folder, prefix=prefix)
        ]
    except OSError as err:
        raise write_error(folder, err, what="folder") from err


class _SampleMean(Mean):
    """The loss, weighted by the samples of each batch: ``evaluate`` adds to its state."""


def _sum_over_ranks(metrics: list[Metric]) -> None:
    """Add every metric's state up across ranks in one collective (nothing outside torchrun)."""
    if not (dist.is_available() and dist.is_initialized()):
        return
    flat = torch.cat([metric.state.reshape(-1).to(torch.float64) for metric in metrics])
    dist.all_reduce(flat)
    offset = 0
    for metric in metrics:
        size = metric.state.numel()
        metric.state = flat[offset : offset + size].reshape(metric.state.shape).to(metric.state)
        offset += size
