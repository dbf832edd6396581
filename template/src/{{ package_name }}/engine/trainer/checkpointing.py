"""When the trainer saves a checkpoint: every N epochs or steps, at best epochs, not too often.

Checkpoints are due every ``train.checkpoint_every`` epochs or optimizer steps
(``train.checkpoint_unit``), at every validation that improves the monitored metric, and at one
among the ``train.save_top_k`` best so far (when that is above 1). No two are
written less than ``train.checkpoint_min_interval`` seconds apart, so that a small model does not
spend its time saving: one due sooner is skipped or, when its epoch improved the metric, held in
memory (``hold``) and written with the next one, or once the interval has passed, whichever comes
first. The first checkpoint a training process saves is written at once, so that a run killed
early still leaves one to resume from, and the end of training is always saved.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from ..distributed.ranks import Distributed
    from ..settings.training import TrainConfig

__all__ = ["SaveSchedule"]

Decision = Literal["save", "hold", "skip"]


class SaveSchedule:
    """Decides, the same way on every rank, whether a checkpoint is written now.

    Args:
        train: The ``train`` config section.
        ranks: The processes of the run; rank zero's clock decides for all of them.
    """

    def __init__(self, train: TrainConfig, *, ranks: Distributed) -> None:
        """The interval between saves starts now (``restart`` starts it again)."""
        self.train = train
        self.ranks = ranks
        self._written_at = time.monotonic()  # when the last checkpoint was sent to disk
        self._first = True  # nothing sent to disk yet by this process: the first due is written
        self._waited = 0.0  # seconds since the last written, when the clock was last read

    def restart(self) -> None:
        """Start the interval between saves afresh, as when training starts."""
        self._written_at = time.monotonic()

    def written(self) -> None:
        """Note that a checkpoint was just sent to disk (a held one too, when its time came)."""
        self._written_at = time.monotonic()
        self._first = False

    def step_due(self, step: int) -> bool:
        """Whether a checkpoint is written after optimizer step ``step`` (mid-epoch)."""
        train = self.train
        due = train.checkpoint_unit == "steps" and step % train.checkpoint_every == 0
        return due and (self._first or self._interval_passed())

    def at_epoch_end(
        self, *, epoch: int, step: int, improved: bool, wanted: bool = False
    ) -> Decision:
        """Whether the epoch that just ended is saved now, held in memory, or not saved.

        ``improved``: its validation improved the monitored metric; ``wanted``: it is among the
        ``train.save_top_k`` best so far.
        """
        train = self.train
        count = epoch if train.checkpoint_unit == "epochs" else step
        due = count % train.checkpoint_every == 0
        return self._decide(due=due, improved=improved, wanted=wanted)

    def within_epoch(self, *, step: int, improved: bool, wanted: bool) -> Decision:
        """Whether a validation within an epoch, after step ``step``, is saved, held or not."""
        train = self.train
        due = train.checkpoint_unit == "steps" and step % train.checkpoint_every == 0
        return self._decide(due=due, improved=improved, wanted=wanted)

    def _decide(self, *, due: bool, improved: bool, wanted: bool) -> Decision:
        if not (due or improved or wanted):
            return "skip"
        if self._first or self._interval_passed():
            return "save"
        return "hold" if improved else "skip"  # a held one is written within the interval

    def hold_seconds(self) -> float:
        """How long the checkpoint just held may wait: until the interval has passed.

        From the clock read when it was held (on rank zero, which alone holds checkpoints).
        """
        return max(self.train.checkpoint_min_interval - self._waited, 0.0)

    def _interval_passed(self) -> bool:
        """Whether ``train.checkpoint_min_interval`` has passed since a checkpoint was written.

        Rank zero's clock decides for every rank, so that they all save, or hold, together.
        """
        self._waited = time.monotonic() - self._written_at
        passed = self._waited >= self.train.checkpoint_min_interval
        return bool(self.ranks.broadcast_object(passed))
