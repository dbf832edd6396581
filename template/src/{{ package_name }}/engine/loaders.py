"""Batching: the resumable per-epoch sampler and the loaders built on it.

Data held in memory (``TensorData``) is batched by gathering each batch in one step; rows of
``.npy`` files (``NpyRows``) are read from disk a window at a time (``npy_rows.py``); any other
map-style dataset goes through a ``DataLoader`` (with ``data.num_workers`` worker processes)
over the same sampler. Either way an epoch's order depends on the seed and the epoch alone, so
a resumed run continues mid-epoch exactly where it stopped, and each rank reads its own share.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch.utils.data import DataLoader, Sampler

from .datasets import TensorData, dataset_length
from .npy_rows import NpyBatches, NpyRows
from .seed import make_generator, seed_worker
from .signals import ignore_stop_signals

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from torch.utils.data import Dataset

    from .config import DataSection
    from .datasets import Splits

__all__ = [
    "Batches",
    "EpochSampler",
    "TensorBatches",
    "build_loaders",
    "eval_batches",
    "start_worker",
]


class Batches(Protocol):
    """What the training loop iterates: batches, and how many are left in the epoch."""

    def __iter__(self) -> Iterator[Any]:
        """Yield the batches."""
        ...

    def __len__(self) -> int:
        """Number of batches."""
        ...


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


class TensorBatches:
    """Batches of a ``TensorData``, each gathered in one indexing step (no per-sample work).

    With an ``EpochSampler`` the batches follow its order for the current epoch; without one
    they are consecutive slices of ``indices`` (or of the whole dataset).
    """

    def __init__(
        self,
        data: TensorData,
        *,
        batch_size: int,
        sampler: EpochSampler | None = None,
        indices: torch.Tensor | None = None,
        pin_memory: bool = False,
    ) -> None:
        """Batch ``data`` by ``batch_size``, in ``sampler``'s order or over ``indices``."""
        self.data = data
        self.batch_size = batch_size
        self.sampler = sampler
        self.indices = indices
        self.pin_memory = pin_memory

    def __len__(self) -> int:
        """Batches left in the epoch."""
        return math.ceil(self._count() / self.batch_size)

    def __iter__(self) -> Iterator[Any]:
        """Yield the batches."""
        order = self.sampler.indices() if self.sampler is not None else self.indices
        for start in range(0, self._count(), self.batch_size):
            if order is None:
                batch = self.data[start : start + self.batch_size]
            else:
                batch = self.data[order[start : start + self.batch_size]]
            yield _pinned(batch) if self.pin_memory else batch

    def _count(self) -> int:
        if self.sampler is not None:
            return len(self.sampler)
        return len(self.indices) if self.indices is not None else len(self.data)


def build_loaders(
    splits: Splits, config: DataSection, *, sampler: EpochSampler, pin_memory: bool = False
) -> tuple[Batches, Batches]:
    """Return the training batches (ordered by ``sampler``) and the validation batches.

    With a sampler of one rank of several, the validation batches are that rank's share of the
    validation set (no padding: ``evaluate`` adds up the ranks' sums, so each sample counts once).
    """
    train = _batches(splits.train, config, sampler=sampler, pin_memory=pin_memory)
    val = eval_batches(
        splits.val,
        config,
        rank=sampler.rank,
        world_size=sampler.world_size,
        pin_memory=pin_memory,
    )
    return train, val


def eval_batches(
    dataset: Dataset[Any],
    config: DataSection,
    *,
    rank: int = 0,
    world_size: int = 1,
    pin_memory: bool = False,
) -> Batches:
    """Batches of ``dataset`` in order; of several ranks, this rank's share of it."""
    if isinstance(dataset, NpyRows):
        return NpyBatches(dataset, batch_size=config.batch_size, rank=rank, world_size=world_size)
    share = torch.arange(rank, dataset_length(dataset), world_size) if world_size > 1 else None
    if isinstance(dataset, TensorData):
        return TensorBatches(
            dataset, batch_size=config.batch_size, indices=share, pin_memory=pin_memory
        )
    sampler = None if share is None else share.tolist()
    return _loader(dataset, config, sampler=sampler, pin_memory=pin_memory)


def _batches(
    dataset: Dataset[Any], config: DataSection, *, sampler: EpochSampler, pin_memory: bool
) -> Batches:
    if isinstance(dataset, TensorData):  # in memory: gather whole batches, no workers needed
        return TensorBatches(
            dataset, batch_size=config.batch_size, sampler=sampler, pin_memory=pin_memory
        )
    if isinstance(dataset, NpyRows):  # on disk: windows of rows, never the whole set
        return NpyBatches(dataset, batch_size=config.batch_size, sampler=sampler)
    return _loader(dataset, config, sampler=sampler, pin_memory=pin_memory)


def _loader(
    dataset: Dataset[Any],
    config: DataSection,
    *,
    sampler: Iterable[int] | None,
    pin_memory: bool,
) -> DataLoader[Any]:
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
        worker_init_fn=start_worker if has_workers else None,
        persistent_workers=has_workers,
    )


def start_worker(worker_id: int) -> None:
    """Prepare a DataLoader worker: seed it, and leave a stop signal to its parent.

    A scheduler's SIGTERM reaches every process of the job; the parent finishes its step and
    saves, which it could not do if the worker it reads from died of the signal first.
    """
    seed_worker(worker_id)
    ignore_stop_signals()


def _pinned(batch: Any) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.pin_memory()
    if isinstance(batch, dict):
        return {key: _pinned(value) for key, value in batch.items()}
    return tuple(_pinned(value) for value in batch)
