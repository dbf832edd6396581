"""When training stops before its epochs are done: a signal, a limit, patience, a callback.

Under torchrun every decision is taken together: the ranks agree on a signal at log points (the
highest signal number, if several arrived), rank zero's clock decides when the time budget is
spent (also at log points), and rank zero alone runs the epoch callback, so that all of them stop
after the same step.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from ..core.signals import StopSignal
    from ..distributed.ranks import Distributed
    from ..settings.training import TrainConfig
    from .position import Position
    from .results import EpochCallback, EpochResult, StopReason

__all__ = ["StopRules"]


class StopRules:
    """The reasons to stop early, checked where the loop may stop.

    Args:
        train: The ``train`` config section (``max_steps``, ``max_time``,
            ``early_stopping_patience``).
        ranks: The processes that must stop together.
        device: Where the ranks exchange their flags.
        started: When the time budget (``train.max_time``) started, by ``time.monotonic``.
    """

    def __init__(
        self,
        train: TrainConfig,
        *,
        ranks: Distributed,
        device: torch.device,
        started: float | None = None,
    ) -> None:
        """Nothing has asked to stop yet."""
        self.train = train
        self.ranks = ranks
        self.device = device
        self.on_epoch: EpochCallback | None = None  # see EpochCallback
        self.signal: int | None = None  # the signal the ranks agreed to stop on
        self.deadline: float | None = None  # when train.max_time is spent, if it is set
        self.count_budget_from(time.monotonic() if started is None else started)

    def count_budget_from(self, started: float) -> None:
        """Count ``train.max_time`` from ``started`` (by ``time.monotonic``).

        A run counts from when it starts loading its data; a group of runs is one process under
        one limit, and its members count from the group's start.
        """
        if self.train.max_time is not None:
            self.deadline = started + self.train.max_time

    def mid_epoch(
        self, stop: StopSignal, *, position: Position, at_log_point: bool
    ) -> StopReason | None:
        """Why training stops after this step in the middle of an epoch, if it does."""
        if self.reached_max_steps(position):
            return "max_steps"  # training is over: a signal now stops nothing
        # Under torchrun the ranks agree on a stop at log points, so they all stop together.
        agrees = at_log_point or not self.ranks.enabled
        if agrees and self.signal_agreed(stop):
            return "signal"
        return "max_time" if agrees and self.deadline is not None and self.time_is_up() else None

    def after_epoch(
        self, stop: StopSignal, *, position: Position, result: EpochResult | None
    ) -> StopReason | None:
        """Why training stops after the epoch just ended (``result``: its validation, if any).

        A signal that arrived in the last epoch's last step, its validation or its save stops
        nothing: the training asked for is done, and the run ends as it would have.
        """
        over = position.epoch >= self.train.epochs or self.reached_max_steps(position)
        if not over and self.signal_agreed(stop):  # in the epoch's last step or its evaluation
            return "signal"
        if result is not None:
            reason = self.after_validation(position)
            if reason is not None:
                return reason
            if self._callback_stops(result):
                return "pruned"
        return "max_time" if self.deadline is not None and self.time_is_up() else None

    def after_validation(self, position: Position) -> StopReason | None:
        """Whether the validation just run leaves early stopping's patience spent."""
        patience = self.train.early_stopping_patience
        if patience is not None and position.stale_epochs >= patience:
            return "early_stopping"
        return None

    def time_is_up(self) -> bool:
        """Whether ``train.max_time`` has passed (rank zero's clock decides for every rank)."""
        if self.deadline is None:
            return False
        spent = time.monotonic() >= self.deadline
        return bool(self.ranks.broadcast_object(spent)) if self.ranks.enabled else spent

    def reached_max_steps(self, position: Position) -> bool:
        """Whether ``train.max_steps`` optimizer steps are done."""
        max_steps = self.train.max_steps
        return max_steps is not None and position.step >= max_steps

    def signal_agreed(self, stop: StopSignal) -> bool:
        """Whether any rank was asked to stop (the ranks must stop at the same step).

        Every rank learns the signal (the highest number, if several arrived), so that every
        process of the job exits as the one that received it does.
        """
        received = stop.received or 0
        if self.ranks.enabled:
            flag = torch.tensor(received, device=self.device)
            received = int(self.ranks.all_reduce(flag, op="max").item())
        if received:
            self.signal = received
        return bool(received)

    def _callback_stops(self, result: EpochResult) -> bool:
        """Whether ``on_epoch`` asks to stop after the epoch just ended (rank zero decides)."""
        if self.on_epoch is None:
            return False
        stop = self.on_epoch(result) if self.ranks.is_main else False
        return bool(self.ranks.broadcast_object(stop))
