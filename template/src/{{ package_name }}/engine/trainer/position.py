"""Where training stands: epochs, batches and steps done, and the best metric so far.

A checkpoint stores the position with the training state, so that a resumed run continues at
the very batch it stopped after (``RESUME_KEYS`` are what resuming needs besides the tensors).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["RESUME_KEYS", "Position"]

RESUME_KEYS = frozenset(
    {
        "optimizer",
        "scheduler",
        "scaler",
        "rng",
        "batch",
        "best",
        "stale_epochs",
        "epoch_loss_sum",
        "epoch_samples",
    }
)


@dataclass
class Position:
    """How far a run has got; saved in every checkpoint."""

    epoch: int = 0  # epochs completed
    batch: int = 0  # batches done in the current epoch
    step: int = 0  # optimizer steps taken
    best: float = math.inf  # the best value of the task's monitored validation metric
    stale_epochs: int = 0  # epochs since the monitored metric last improved
    # Training loss summed over the samples of the current epoch run before a mid-epoch stop,
    # so that a resumed epoch still reports its mean over every batch.
    epoch_loss_sum: float = 0.0
    epoch_samples: int = 0

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Position:
        """The position a checkpoint's training state records."""
        return cls(**{key: state[key] for key in asdict(cls())})

    def as_state(self) -> dict[str, Any]:
        """The entries a checkpoint's training state records."""
        return asdict(self)

    @property
    def mark(self) -> tuple[int, int, int]:
        """``(epoch, batch, step)``: equal marks mean nothing was trained in between."""
        return (self.epoch, self.batch, self.step)
