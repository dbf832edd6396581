"""The training loss of an epoch, added up on the device at almost no cost per step.

A step only keeps its batch's loss tensor; the kept losses are folded into a running sum now and
then (when the loop checks them, and every ``FOLD_EVERY`` batches), a few tensor operations for
many batches. Whether a loss was not finite is read from that sum (NaN and infinity survive any
addition), one host sync where the loop checks it; only then, and rarely, are the batches looked
at one by one to name the first bad step. A step never waits for the device.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from ..core.exceptions import TrainingError

if TYPE_CHECKING:
    from ..distributed.ranks import Distributed

__all__ = ["FOLD_EVERY", "LossTally", "check_finite", "sum_over_ranks"]

FOLD_EVERY = 256
_NO_STEP = 2**62  # a rank whose losses were all finite, when the ranks find the first bad step


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
        self._unfolded: list[torch.Tensor] = []
        self._sizes: list[int] = []  # samples of each unfolded batch
        self._unchecked: list[torch.Tensor] = []  # folded losses since the last check
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

    def finite(self) -> torch.Tensor:
        """1 while every loss so far is finite, else 0: an int32 tensor on the device.

        The loop may take the minimum over ranks before reading it (a host sync).
        """
        self._fold()
        return torch.isfinite(self.sum).int()

    def first_bad_step(self) -> int | None:
        """The optimizer step of the first loss since the last check that was not finite.

        Reads the losses back from the device: call it once ``finite`` reported a bad one.
        """
        self._fold()
        if not self._unchecked:
            return None
        bad = torch.cat(self._unchecked).isfinite().logical_not().nonzero()
        return self._steps[int(bad[0])] if len(bad) else None

    def checked(self) -> None:
        """Mark every loss so far as checked (found finite)."""
        self._unchecked.clear()
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
        self._unchecked.append(losses)
        runs = _runs(self._sizes)
        if len(runs) == 1:  # batches of one size: one product
            self.sum += losses.sum() * runs[0][0]
        else:
            start = 0
            for size, count in runs:
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


def check_finite(tally: LossTally, *, ranks: Distributed, step: int) -> None:
    """Raise on every rank if a loss was non-finite on any rank (one host sync).

    Args:
        tally: The losses since the last check.
        ranks: The processes of the run, which all raise or none.
        step: The optimizer steps taken, named when a sum overflowed.

    Raises:
        TrainingError: Naming the first optimizer step whose loss was NaN or infinite.
    """
    finite = tally.finite()
    if ranks.enabled:
        finite = ranks.all_reduce(finite, op="min")
    if finite.item():
        tally.checked()
        return
    bad_step = tally.first_bad_step()
    if ranks.enabled:  # the earliest step of any rank: every rank names the same one
        steps = torch.tensor(_NO_STEP if bad_step is None else bad_step, device=tally.device)
        bad_step = int(ranks.all_reduce(steps, op="min").item())
    if bad_step is None or bad_step == _NO_STEP:  # finite losses whose weighted sum overflowed
        raise TrainingError(
            f"the training loss summed over the batches up to step {step} "
            "exceeds the float32 range; lower optim.lr or set train.grad_clip"
        )
    raise TrainingError(
        f"the loss became NaN or infinite at step {bad_step}; "
        "lower optim.lr, set train.grad_clip, or use train.precision=fp32"
    )


def sum_over_ranks(tally: LossTally, *, ranks: Distributed) -> tuple[float, int]:
    """The tallied loss sum and sample count, added up over every rank."""
    if not ranks.enabled:
        return tally.total().item(), tally.samples
    totals = [tally.total().item(), tally.samples]
    summed = ranks.all_reduce(torch.tensor(totals, dtype=torch.float64, device=tally.device))
    total_loss, total_samples = summed.tolist()
    return total_loss, int(total_samples)
