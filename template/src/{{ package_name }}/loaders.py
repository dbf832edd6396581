"""Batching: the resumable per-epoch sampler and the data loaders built on it.

This module belongs to the training engine (template updates change it); the datasets themselves
come from ``data.py``, which is yours.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch.utils.data import DataLoader, Sampler

from .seed import make_generator, seed_worker

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from torch.utils.data import TensorDataset

    from .config import DataConfig
    from .data import DataSplits

__all__ = ["EpochSampler", "build_loaders"]


class EpochSampler(Sampler[int]):
    """Shuffles the indices afresh each epoch, from ``seed`` and the epoch number alone.

    Because an epoch's order depends on nothing else, a resumed run can rebuild it and start
    part-way through (``set_epoch(epoch, start=...)``) without storing generator state.

    Under torchrun every rank draws the same order and takes every ``world_size``-th index from
    position ``rank`` on. The order is padded by wrapping around, as ``DistributedSampler``
    does, so every rank gets the same number of samples and steps in lockstep.
    """

    def __init__(self, size: int, *, seed: int, rank: int = 0, world_size: int = 1) -> None:
        """Sample this rank's share of ``range(size)``; call ``set_epoch`` before each epoch."""
        super().__init__()
        self.size = size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.per_rank = math.ceil(size / world_size)
        self.epoch = 0
        self.start = 0

    def set_epoch(self, epoch: int, *, start: int = 0) -> None:
        """Select the epoch whose order to produce and how many of this rank's indices to skip."""
        self.epoch, self.start = epoch, start

    def __iter__(self) -> Iterator[int]:
        """Yield this epoch's indices (this rank's share) from position ``start`` on."""
        order = torch.randperm(self.size, generator=make_generator(self.seed + self.epoch))
        if self.world_size > 1:
            padded = self.per_rank * self.world_size
            order = order.repeat(math.ceil(padded / self.size))[:padded]
            order = order[self.rank :: self.world_size]
        return iter(order[self.start :].tolist())

    def __len__(self) -> int:
        """Indices left in this epoch."""
        return max(self.per_rank - self.start, 0)


def build_loaders(
    splits: DataSplits, config: DataConfig, *, sampler: EpochSampler, pin_memory: bool = False
) -> tuple[DataLoader[tuple[torch.Tensor, ...]], DataLoader[tuple[torch.Tensor, ...]]]:
    """Return the training loader (ordered by ``sampler``) and the validation loader.

    With a sampler of one rank of several, the validation loader reads that rank's share of the
    validation set (no padding: ``evaluate`` adds up the ranks' sums, so each sample counts once).
    """
    train = _loader(splits.train, config, sampler=sampler, pin_memory=pin_memory)
    val_share = range(sampler.rank, len(splits.val), sampler.world_size)
    val_sampler = val_share if sampler.world_size > 1 else None
    val = _loader(splits.val, config, sampler=val_sampler, pin_memory=pin_memory)
    return train, val


def _loader(
    dataset: TensorDataset,
    config: DataConfig,
    *,
    sampler: Iterable[int] | None,
    pin_memory: bool,
) -> DataLoader[tuple[torch.Tensor, ...]]:
    has_workers = config.num_workers > 0
    return DataLoader(
        dataset,
        batch_size=config.batch_size,
        sampler=sampler,
        # Worker seeds come from this generator, not from the global RNG that a resumed run
        # restores: creating a loader iterator then leaves the global RNG untouched.
        generator=make_generator(0),
        num_workers=config.num_workers,
        pin_memory=pin_memory,
        worker_init_fn=seed_worker if has_workers else None,
        persistent_workers=has_workers,
    )
