"""Evaluation: loss and accuracy of a model over a data loader."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import torch
from torch import distributed as dist
from torch.nn import functional as F  # noqa: N812 (the conventional name)

from .device import to_device

if TYPE_CHECKING:
    from collections.abc import Iterable

    from torch import nn

__all__ = ["EvalMetrics", "accuracy", "evaluate"]


@dataclass(frozen=True)
class EvalMetrics:
    """Mean loss and accuracy over a dataset."""

    loss: float
    accuracy: float
    num_samples: int

    def as_dict(self) -> dict[str, float | int]:
        """Return the metrics as a plain dictionary, for JSON and loggers."""
        return asdict(self)


def accuracy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Share of rows of ``logits`` ``(N, C)`` whose arg-max equals ``targets`` ``(N,)``."""
    return (logits.argmax(dim=1) == targets).float().mean()


def evaluate(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    device: torch.device,
) -> EvalMetrics:
    """Compute mean cross-entropy and accuracy of ``model`` in eval mode.

    Sums stay on the device; only the final values are copied to the host. In a distributed run
    each rank scores its share of the data and the sums are added up across ranks, so every rank
    returns the metrics of the whole dataset.
    """
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    count = 0
    with torch.inference_mode():
        for features, targets in to_device(batches, device):
            logits = model(features)
            loss_sum += F.cross_entropy(logits, targets, reduction="sum")
            correct += (logits.argmax(dim=1) == targets).sum()
            count += targets.numel()
    model.train(was_training)
    total_loss, total_correct = loss_sum.item(), correct.item()
    if dist.is_available() and dist.is_initialized():  # each rank scored its share: add them up
        totals = torch.tensor(
            [total_loss, total_correct, count], dtype=torch.float64, device=device
        )
        dist.all_reduce(totals)
        total_loss, total_correct, summed_count = totals.tolist()
        count = int(summed_count)
    if count == 0:
        return EvalMetrics(loss=float("nan"), accuracy=float("nan"), num_samples=0)
    return EvalMetrics(loss=total_loss / count, accuracy=total_correct / count, num_samples=count)
