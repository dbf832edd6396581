"""When the trainer validates: at the end of every N epochs and of the last, and within epochs.

``train.val_every_epochs`` picks the epochs whose end validates (the last always does);
``train.val_interval`` adds validations within each epoch, every N optimizer steps (counted over
the run) or every fraction of an epoch (counted from the epoch's start). A validation due at an
epoch's last step runs at the epoch's end. Whichever validation runs updates the best
checkpoint and early stopping's count, writes a line of ``metrics.jsonl``, and may save; every
rank decides alike, from the position alone, so a resumed run validates where the run would have.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..settings.training import TrainConfig
    from .position import Position

__all__ = ["ValSchedule"]


class ValSchedule:
    """Whether a validation is due where the training loop stands.

    Args:
        train: The ``train`` config section.
        batches_per_epoch: Batches of an epoch, as the loop trains them.
        steps_per_epoch: Optimizer steps of an epoch.
    """

    def __init__(self, train: TrainConfig, *, batches_per_epoch: int, steps_per_epoch: int) -> None:
        """Work out the validation points of every epoch."""
        self.every_epochs = train.val_every_epochs
        self.epochs = train.epochs
        self.batches_per_epoch = batches_per_epoch
        self.every_steps: int | None = None  # optimizer steps over the run
        self.every_batches: int | None = None  # batches from the start of each epoch
        interval = train.val_interval
        if interval is not None and interval >= 1:
            self.every_steps = int(interval)
        elif interval is not None:
            steps = max(round(interval * steps_per_epoch), 1)
            self.every_batches = steps * train.grad_accum_steps

    @property
    def within_epochs(self) -> bool:
        """Whether any validation runs before an epoch's end."""
        return self.every_steps is not None or self.every_batches is not None

    def due(self, position: Position) -> bool:
        """Whether a validation is due after the optimizer step just taken."""
        if self.every_steps is not None:
            return position.step % self.every_steps == 0
        return self.every_batches is not None and position.batch % self.every_batches == 0

    def at_epoch_end(self, position: Position) -> bool:
        """Whether the epoch that just ended (``position`` is past it) validates."""
        epoch = position.epoch
        if epoch % self.every_epochs == 0 or epoch >= self.epochs:
            return True
        if self.every_steps is not None:
            return position.step % self.every_steps == 0
        return self.every_batches is not None and self.batches_per_epoch % self.every_batches == 0
