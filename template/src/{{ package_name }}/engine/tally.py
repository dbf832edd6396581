"""The training loss of an epoch, added up on the device at almost no cost per step.

A step only keeps its batch's loss tensor; the kept losses are folded into a running sum now and
then (when the loop checks them, and every ``FOLD_EVERY`` batches), a few tensor operations for
many batches. The first batch whose loss was not finite is remembered on the device too, and read
(one host sync) only where the loop checks it, so a step never waits for the device.
"""

from __future__ import annotations

import math

import torch

from .exceptions import TrainingError

__all__ = ["FOLD_EVERY", "LossTally"]

FOLD_EVERY = 256


class LossTally:
    """Sums the training losses of a stretch of batches, weighted by their samples.

    Args:
        device: Where the losses live.
    """

    def __init__(self, device: torch.device) -> None:
        """Start with no batches."""
        self.device = device
        self.reset()

    def reset(self) -> None:
        """Forget every batch: a new stretch starts."""
        self.sum = torch.zeros((), device=self.device)
        self.samples = 0
        self._first_bad = torch.full((), -1, device=self.device, dtype=torch.long)
        self._unfolded: list[torch.Tensor] = []
        self._sizes: list[int] = []  # samples of each unfolded batch
        self._steps: list[int] = []  # optimizer step of each batch since the last check
        self._last: torch.Tensor | None = None

    def add(self, loss: torch.Tensor, *, samples: int, step: int) -> None:
        """Keep a batch's mean ``loss`` over ``samples`` samples, taken in optimizer ``step``."""
        self._last = loss.detach()
        self._unfolded.append(self._last)
        self._sizes.append(samples)
        self._steps.append(step)
        self.samples += samples
        if len(self._unfolded) >= FOLD_EVERY:
            self._fold()

    def first_bad(self) -> torch.Tensor:
        """The position, among the batches since the last check, of the first non-finite loss.

        A tensor on the device holding -1 when every loss was finite; the loop may add up these
        positions across ranks (by their maximum) before ``check`` reads one.
        """
        self._fold()
        return self._first_bad

    def check(self, first_bad: torch.Tensor) -> None:
        """Read ``first_bad`` (one host sync) and raise if it names a batch.

        Raises:
            TrainingError: Naming the optimizer step whose loss was NaN or infinite.
        """
        index = int(first_bad.item())
        if index >= 0:
            raise TrainingError(
                f"the loss became NaN or infinite at step {self._steps[index]}; "
                "lower optim.lr, set train.grad_clip, or use train.precision=fp32"
            )
        self._first_bad.fill_(-1)
        self._steps.clear()

    def last_loss(self) -> float:
        """The newest batch's loss (a host sync)."""
        return math.nan if self._last is None else float(self._last.item())

    def total(self) -> torch.Tensor:
        """The sum of every batch's loss times its samples, on the device."""
        self._fold()
        return self.sum

    def _fold(self) -> None:
        if not self._unfolded:
            return
        losses = torch.stack(self._unfolded).float()  # (B,)
        bad = ~torch.isfinite(losses)
        offset = len(self._steps) - len(self._unfolded)  # batches folded since the last check
        position = bad.to(torch.uint8).argmax() + offset  # argmax: the first of the maxima
        new = (self._first_bad < 0) & bad.any()
        self._first_bad = torch.where(new, position, self._first_bad)
        start = 0
        for size, count in _runs(self._sizes):  # batches of one size in a row: one product each
            self.sum += losses[start : start + count].sum() * size
            start += count
        self._unfolded.clear()
        self._sizes.clear()


def _runs(sizes: list[int]) -> list[tuple[int, int]]:
    """``sizes`` as (value, count) pairs of equal neighbours: [64, 64, 10] -> [(64, 2), (10, 1)]."""
    runs: list[tuple[int, int]] = []
    for size in sizes:
        if runs and runs[-1][0] == size:
            runs[-1] = (size, runs[-1][1] + 1)
        else:
            runs.append((size, 1))
    return runs
