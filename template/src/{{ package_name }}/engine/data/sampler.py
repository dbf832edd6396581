"""The resumable per-epoch sampler: each epoch's order from the seed and the epoch alone.

Because an epoch's order depends on nothing else, a resumed run rebuilds it and continues
part-way through, and every rank of a distributed run takes its own share of the same order.
A dataset that augments its samples is given ``EpochIndex`` pairs instead of plain indices
(``EpochIndices``), so that it can draw each sample's randomness from the seed, the epoch and
the index alone, whichever worker process reads it.

A dataset with a ``lengths`` attribute (one length per sample, such as the tokens of each text;
``TensorData`` has one when it holds a tensor named ``length``) is batched in buckets of similar
lengths: each epoch's order is cut into windows of ``BUCKET_BATCHES`` batches, each window is
sorted by length and cut into batches, and the batches of a window are shuffled. Batches then
need little padding, and the order still depends on the seed and the epoch alone.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import torch
from torch.utils.data import Sampler

from ..core.seed import make_generator

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "BUCKET_BATCHES",
    "EpochIndex",
    "EpochIndices",
    "EpochSampler",
    "augments_by_epoch",
    "sample_lengths",
]

BUCKET_BATCHES = 50  # batches per window sorted by length: similar lengths, still a random order


class EpochSampler(Sampler[int]):
    """Shuffles the indices afresh each epoch, from ``seed`` and the epoch number alone.

    Because an epoch's order depends on nothing else, a resumed run can rebuild it and start
    part-way through (``set_epoch(epoch, start=...)``) without storing generator state.

    Under torchrun every rank draws the same order and takes every ``world_size``-th index from
    position ``rank`` on. The order is padded by wrapping around, as ``DistributedSampler``
    does, so every rank gets the same number of samples and steps in lockstep.
    """

    def __init__(
        self,
        size: int,
        *,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        lengths: torch.Tensor | None = None,
        batch_size: int = 1,
    ) -> None:
        """Sample this rank's share of ``range(size)``; call ``set_epoch`` before each epoch.

        With ``lengths`` (one per sample), batches of ``batch_size`` per rank are formed from
        samples of similar length (see the module docstring).
        """
        super().__init__()
        self.size = size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.per_rank = math.ceil(size / world_size)
        self.lengths = lengths
        self.batch_size = batch_size
        self.epoch = 0
        self.start = 0

    def set_epoch(self, epoch: int, *, start: int = 0) -> None:
        """Select the epoch whose order to produce and how many of this rank's indices to skip."""
        self.epoch, self.start = epoch, start

    def indices(self) -> torch.Tensor:
        """This epoch's indices (this rank's share) from position ``start`` on, as a tensor."""
        generator = make_generator(self.seed + self.epoch)
        order = torch.randperm(self.size, generator=generator)
        if self.lengths is not None:
            order = self._bucketed(order, self.lengths, generator=generator)
        if self.world_size > 1:
            padded = self.per_rank * self.world_size
            order = order.repeat(math.ceil(padded / self.size))[:padded]
            order = order[self.rank :: self.world_size]
        return order[self.start :]

    def _bucketed(
        self, order: torch.Tensor, lengths: torch.Tensor, *, generator: torch.Generator
    ) -> torch.Tensor:
        """``order`` with each window sorted by length and its batches shuffled.

        A batch here spans every rank (``batch_size * world_size`` samples), so that each rank's
        share of it, every ``world_size``-th sample, is of similar lengths too.
        """
        batch = self.batch_size * self.world_size
        window = batch * BUCKET_BATCHES
        parts: list[torch.Tensor] = []
        for start in range(0, len(order), window):
            part = order[start : start + window]
            part = part[torch.sort(lengths[part], stable=True).indices]
            batches = part.split(batch)
            shuffled = torch.randperm(len(batches), generator=generator).tolist()
            parts.extend(batches[index] for index in shuffled)
        return torch.cat(parts) if parts else order

    def __iter__(self) -> Iterator[int]:
        """Yield this epoch's indices (this rank's share) from position ``start`` on."""
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        """Indices left in this epoch."""
        return max(self.per_rank - self.start, 0)


def sample_lengths(dataset: object) -> torch.Tensor | None:
    """The dataset's ``lengths`` (one per sample) to bucket by, or None (see the module)."""
    lengths = getattr(dataset, "lengths", None)
    return lengths if isinstance(lengths, torch.Tensor) else None


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
