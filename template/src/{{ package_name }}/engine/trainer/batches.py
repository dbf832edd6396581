"""The batches of a run: its data split and loaded, and the debugging limits on them.

``train.limit_train_batches`` and ``train.limit_val_batches`` keep only the first batches of each
epoch and of each validation (a number, or a fraction of them); ``train.overfit_batches`` trains
and validates on the same few batches of training samples, to check that the model can learn
them at all. Without these settings the loaders are used as they are, at no cost.
"""

from __future__ import annotations

import itertools
import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from ..data.datasets import Splits, dataset_length, split_data, subset
from ..data.loaders import build_loaders, stop_workers
from ..data.sampler import EpochSampler, sample_lengths

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from ..data.loaders import Batches
    from ..distributed.ranks import Distributed
    from ..seam.task import Sizes, Task
    from ..settings.loading import Config

__all__ = ["LimitedBatches", "RunBatches", "batch_limit", "build_batches"]

logger = logging.getLogger(__name__)


@dataclass
class RunBatches:
    """What the trainer iterates, and how many batches and optimizer steps make an epoch."""

    sizes: Sizes
    sampler: EpochSampler
    train: Batches
    val: Iterable[Any]
    batches_per_epoch: int
    steps_per_epoch: int

    def close(self) -> None:
        """Stop the loaders' worker processes (the next epoch would start new ones)."""
        val = self.val.batches if isinstance(self.val, LimitedBatches) else self.val
        for batches in (self.train, val):
            stop_workers(batches)

    def epoch(self, done: int) -> Iterable[Any]:
        """The batches left in the current epoch, ``done`` of them already trained."""
        if len(self.train) + done <= self.batches_per_epoch:
            return self.train  # the whole rest of the epoch: no wrapper
        return itertools.islice(self.train, self.batches_per_epoch - done)


def build_batches(
    config: Config, task: Task[Any, Any], *, ranks: Distributed, pin_memory: bool
) -> RunBatches:
    """Load and split the task's data and batch it as ``config`` says, limits included."""
    train_cfg = config.train
    data = task.load_data(config.data, seed=train_cfg.seed)
    splits = split_data(data, config.data, seed=train_cfg.seed)
    if train_cfg.overfit_batches is not None:
        splits = _overfit(splits, batches=train_cfg.overfit_batches, size=config.data.batch_size)
    sampler = EpochSampler(
        dataset_length(splits.train),
        seed=train_cfg.seed,
        rank=ranks.rank,
        world_size=ranks.world_size,
        lengths=sample_lengths(splits.train),
        batch_size=config.data.batch_size,
    )
    train, val = build_loaders(splits, config.data, sampler=sampler, pin_memory=pin_memory)
    batches = batch_limit(train_cfg.limit_train_batches, of=len(train))
    val_limit = batch_limit(train_cfg.limit_val_batches, of=len(val))
    return RunBatches(
        sizes=dict(data.sizes),
        sampler=sampler,
        train=train,
        val=val if val_limit == len(val) else LimitedBatches(val, val_limit),
        batches_per_epoch=batches,
        steps_per_epoch=math.ceil(batches / train_cfg.grad_accum_steps),
    )


def batch_limit(limit: float | None, *, of: int) -> int:
    """How many of ``of`` batches a limit keeps: a number of them, or a fraction (at least one)."""
    if limit is None:
        return of
    kept = int(limit) if limit >= 1 else math.floor(limit * of)
    return min(max(kept, 1), of)


class LimitedBatches:
    """The first ``count`` batches of ``batches``, each time they are iterated."""

    def __init__(self, batches: Iterable[Any], count: int) -> None:
        """Keep the first ``count`` batches of ``batches``."""
        self.batches = batches
        self.count = count

    def __iter__(self) -> Iterator[Any]:
        """Yield the first ``count`` batches."""
        return itertools.islice(self.batches, self.count)

    def __len__(self) -> int:
        """Number of batches."""
        return self.count


def _overfit(splits: Splits, *, batches: int, size: int) -> Splits:
    """The same first ``batches`` batches of training samples to train and validate on."""
    count = min(batches * size, dataset_length(splits.train))
    fixed = subset(splits.train, torch.arange(count))
    logger.info(
        "train.overfit_batches=%d: training and validating on the same %d training samples",
        batches,
        count,
    )
    return Splits(train=fixed, val=fixed, test=splits.test)
