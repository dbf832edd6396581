"""Batching: the resumable per-epoch sampler and the data loaders built on it.

This module belongs to the training engine (template updates change it); the datasets themselves
come from ``data.py``, which is yours.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch.utils.data import DataLoader, Sampler

from .seed import make_generator, seed_worker

if TYPE_CHECKING:
    from collections.abc import Iterator

    from torch.utils.data import TensorDataset

    from .config import DataConfig
    from .data import DataSplits

__all__ = ["EpochSampler", "build_loaders"]


class EpochSampler(Sampler[int]):
    """Shuffles the indices afresh each epoch, from ``seed`` and the epoch number alone.

    Because an epoch's order depends on nothing else, a resumed run can rebuild it and start
    part-way through (``set_epoch(epoch, start=...)``) without storing generator state.
    """

    def __init__(self, size: int, *, seed: int) -> None:
        """Sample ``range(size)``; call ``set_epoch`` before each epoch."""
        super().__init__()
        self.size = size
        self.seed = seed
        self.epoch = 0
        self.start = 0

    def set_epoch(self, epoch: int, *, start: int = 0) -> None:
        """Select the epoch whose order to produce and how many of its indices to skip."""
        self.epoch, self.start = epoch, start

    def __iter__(self) -> Iterator[int]:
        """Yield this epoch's indices from position ``start`` on."""
        order = torch.randperm(self.size, generator=make_generator(self.seed + self.epoch))
        return iter(order[self.start :].tolist())

    def __len__(self) -> int:
        """Indices left in this epoch."""
        return max(self.size - self.start, 0)


def build_loaders(
    splits: DataSplits, config: DataConfig, *, sampler: EpochSampler, pin_memory: bool = False
) -> tuple[DataLoader[tuple[torch.Tensor, ...]], DataLoader[tuple[torch.Tensor, ...]]]:
    """Return the training loader (ordered by ``sampler``) and the validation loader."""
    train = _loader(splits.train, config, sampler=sampler, pin_memory=pin_memory)
    val = _loader(splits.val, config, sampler=None, pin_memory=pin_memory)
    return train, val


def _loader(
    dataset: TensorDataset,
    config: DataConfig,
    *,
    sampler: EpochSampler | None,
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
