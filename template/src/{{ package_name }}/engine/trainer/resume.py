"""Resuming: what a checkpoint must hold to continue a run, and where the run stands in it.

A resume continues with the checkpoint's own optimizer, so another ``optim.name`` is refused;
one with nothing left to train (its epochs or ``train.max_steps`` done) is refused too, since
it would only rewrite the run. A resume that continues in its own run folder first puts the run
back in line with its checkpoint (``continue_run``): what a process killed while saving left
behind (a pointer not yet moved, a metrics line of an epoch no checkpoint holds) is set right.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..checkpoints.pointers import repair_pointers
from ..core.exceptions import CheckpointInvalidError, ConfigError
from ..records.metrics import drop_metrics_after
from .position import RESUME_KEYS, Position

if TYPE_CHECKING:
    from pathlib import Path

    from ..checkpoints.layout import Checkpoint
    from ..settings.loading import Config

__all__ = ["continue_run", "resume_position"]

logger = logging.getLogger(__name__)


def resume_position(checkpoint: Checkpoint, config: Config, *, world_size: int) -> Position:
    """Where ``checkpoint`` stands, once checked to resume with ``config``.

    Args:
        checkpoint: The checkpoint to continue from.
        config: The config of the resumed run.
        world_size: The processes of the resumed run.

    Raises:
        CheckpointInvalidError: If the checkpoint lacks state that resuming needs.
        ConfigError: If the optimizer differs from the checkpoint's, or nothing is left to train.
    """
    state = checkpoint.state
    if "best_loss" in state:  # written before the task chose the monitored metric
        state = {"best": state["best_loss"], **state}
    missing = RESUME_KEYS - state.keys()
    if missing:
        raise CheckpointInvalidError(
            f"{str(checkpoint.path)!r} cannot be resumed: it lacks {sorted(missing)}"
        )
    _check_same_optimizer(checkpoint, config)
    position = Position.from_state(state)
    saved_world_size = state.get("world_size", 1)
    if saved_world_size != world_size:
        logger.warning(
            "%s was written by %d processes and this run has %d: the rest of epoch %d is "
            "shared out differently, and ranks the checkpoint did not have start fresh RNG "
            "streams; weights, optimizer and schedule continue unchanged",
            checkpoint.path,
            saved_world_size,
            world_size,
            position.epoch + 1,
        )
    _check_work_left(checkpoint, config, position)
    return position


def _check_same_optimizer(checkpoint: Checkpoint, config: Config) -> None:
    """Refuse to resume with another optimizer than the one whose state was saved."""
    saved_config = checkpoint.state["config"]
    saved_optim = saved_config.get("optim") if isinstance(saved_config, dict) else None
    saved = saved_optim.get("name") if isinstance(saved_optim, dict) else None
    if saved is not None and saved != config.optim.name:
        raise ConfigError(
            f"optim.name={config.optim.name} differs from {saved}, the optimizer "
            f"whose state {str(checkpoint.path)!r} holds: a resumed run keeps its optimizer; "
            "start a new run to change it"
        )


def _check_work_left(checkpoint: Checkpoint, config: Config, position: Position) -> None:
    """Refuse a resume that would have nothing to train: it would only rewrite the run."""
    path, train = checkpoint.path, config.train
    if position.epoch >= train.epochs:
        raise ConfigError(
            f"{str(path)!r} has trained {position.epoch} epochs and train.epochs="
            f"{train.epochs}: nothing is left to train; resume with "
            f"--set train.epochs=N for N above {position.epoch} to train on"
        )
    if train.max_steps is not None and position.step >= train.max_steps:
        raise ConfigError(
            f"{str(path)!r} is at step {position.step} and train.max_steps="
            f"{train.max_steps}: nothing is left to train; resume with "
            f"--set train.max_steps=N for N above {position.step}, or null for no limit"
        )


def continue_run(checkpoint: Checkpoint, run_dir: Path, *, step: int) -> None:
    """Put ``run_dir`` back in line with ``checkpoint``, the newest of the run, to continue it.

    The pointers name it again (``best`` too, if it was saved as the best), and the lines of
    ``metrics.jsonl`` past its step, written before a kill cut their checkpoint short, are
    dropped: the resumed run writes them again.

    Raises:
        StorageError: If a pointer or the metrics cannot be rewritten.
    """
    repair_pointers(checkpoint.path, best=bool(checkpoint.state.get("is_best")))
    dropped = drop_metrics_after(run_dir, step)
    if dropped:
        logger.info(
            "dropped %d line(s) of metrics.jsonl past step %d: no checkpoint holds them, and the "
            "resumed run writes them again",
            dropped,
            step,
        )
