"""What training returns: each epoch's result, and the run's when training stops."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from pathlib import Path

    from ..evaluation.loop import EvalMetrics

__all__ = ["TIME_BUDGET_EXIT", "EpochCallback", "EpochResult", "StopReason", "TrainResult"]

StopReason = Literal["completed", "early_stopping", "max_steps", "max_time", "pruned", "signal"]

TIME_BUDGET_EXIT = 75
"""``train``'s exit status when ``train.max_time`` stopped it: a checkpoint waits to resume.

75 is ``EX_TEMPFAIL`` of ``sysexits.h``, "try again later": a job script requeues on it.
"""


@dataclass(frozen=True)
class EpochResult:
    """What a validation found: at the end of an epoch, or within one (``progress``)."""

    epoch: int  # the epoch that ended, or, within an epoch, the one under way (from 1)
    step: int
    train_loss: float  # mean over the epoch's batches so far
    val: EvalMetrics
    progress: float | None = None  # within an epoch: epochs done, such as 1.5; None at its end

    @property
    def epochs_done(self) -> float:
        """Epochs trained when the validation ran: whole at an epoch's end, else a fraction."""
        return self.epoch if self.progress is None else self.progress


EpochCallback = Callable[[EpochResult], bool]
"""Called on rank zero after each epoch's validation; ``True`` stops the run as ``pruned``.

Validations within epochs (``train.val_interval``) do not call it.

A sweep uses it to prune a trial whose validation metric falls behind the others'.
"""


@dataclass(frozen=True)
class TrainResult:
    """Where a run lives, how far it got and why it stopped."""

    run_dir: Path
    history: list[EpochResult]
    last_checkpoint: Path
    best_checkpoint: Path | None
    stop_reason: StopReason
    step: int
    signal_number: int | None = None
    rank: int = 0  # under torchrun, the process that returned this result
