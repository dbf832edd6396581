"""What training returns: each epoch's result, and the run's when training stops."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from pathlib import Path

    from ..evaluation.loop import EvalMetrics

__all__ = ["EpochCallback", "EpochResult", "StopReason", "TrainResult"]

StopReason = Literal["completed", "early_stopping", "max_steps", "pruned", "signal"]


@dataclass(frozen=True)
class EpochResult:
    """What one epoch achieved."""

    epoch: int
    step: int
    train_loss: float
    val: EvalMetrics


EpochCallback = Callable[[EpochResult], bool]
"""Called on rank zero after each epoch's evaluation; ``True`` stops the run as ``pruned``.

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
