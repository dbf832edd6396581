"""The resumable per-epoch sampler: each epoch's order from the seed and the epoch alone.

Because an epoch's order depends on nothing else, a resumed run rebuilds it and continues
part-way through, and every rank of a distributed run takes its own share of the same order.
A dataset that augments its samples is given ``EpochIndex`` pairs instead of plain indices
(``EpochIndices``), so that it can draw each sample's randomness from the seed, the epoch and
the index alone, whichever worker process reads it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import torch
from torch.utils.data import Sampler

from ..core.seed import make_generator

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["EpochIndex", "EpochIndices", "EpochSampler", "augments_by_epoch"]


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

    def indices(self) -> torch.Tensor:
        """This epoch's indices (this rank's share) from position ``start`` on, as a tensor."""
        order = torch.randperm(self.size, generator=make_generator(self.seed + self.epoch))
        if self.world_size > 1:
            padded = self.per_rank * self.world_size
            order = order.repeat(math.ceil(padded / self.size))[:padded]
            order = order[self.rank :: self.world_size]
        return order[self.start :]

    def __iter__(self) -> Iterator[int]:
        """Yield this epoch's indices (this rank's share) from position ``start`` on."""
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        """Indices left in this epoch."""
        return max(self.per_rank - self.start, 0)


class EpochIndex(NamedTuple):
    """A training sample's index (``sample``), with the epoch it is read for."""

    epoch: int
    sample: int


def augments_by_epoch(dataset: object) -> bool:
    """Whether ``dataset`` takes ``EpochIndex`` pairs when it is trained on (see ``EpochIndices``).

    A dataset says so with a class attribute ``augments_by_epoch = True``; it must take plain
    indices too, which evaluation and prediction pass.
    """
    return getattr(dataset, "augments_by_epoch", False) is True


class EpochIndices(Sampler[EpochIndex]):
    """An ``EpochSampler``'s indices, each paired with the sampler's current epoch."""

    def __init__(self, sampler: EpochSampler) -> None:
        """Pair the indices of ``sampler`` with its epoch, read as each epoch starts."""
        super().__init__()
        self.sampler = sampler

    def __iter__(self) -> Iterator[EpochIndex]:
        """Yield this epoch's indices (this rank's share, from ``start`` on) with the epoch."""
        epoch = self.sampler.epoch
        return (EpochIndex(epoch, index) for index in self.sampler)

    def __len__(self) -> int:
        """Indices left in this epoch."""
        return len(self.sampler)
