"""Batching: the loaders built on the resumable per-epoch sampler (``sampler.py``).

Data held in memory (``TensorData``) is batched by gathering each batch in one step; rows of
``.npy`` files (``NpyRows``) are read from disk a window at a time (``npy_rows.py``); any other
map-style dataset goes through a ``DataLoader`` (with ``data.num_workers`` worker processes)
over the same sampler. Either way an epoch's order depends on the seed and the epoch alone, so
a resumed run continues mid-epoch exactly where it stopped, and each rank reads its own share.
A dataset that augments by epoch (``sampler.augments_by_epoch``) is trained on ``EpochIndex``
pairs. An error of this package that a worker process raises reaches the caller as the worker
raised it, one line, not wrapped in the worker's traceback.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch.utils.data import DataLoader

from ..core.exceptions import ProjectError
from ..core.seed import make_generator, seed_worker
from ..core.signals import ignore_stop_signals
from .datasets import TensorData, dataset_length
from .npy_rows import NpyBatches, NpyRows
from .sampler import EpochIndices, augments_by_epoch

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from torch.utils.data import Dataset

    from ..seam.sections import DataSection
    from .datasets import Splits
    from .sampler import EpochIndex, EpochSampler

__all__ = [
    "Batches",
    "TensorBatches",
    "WorkerErrors",
    "build_loaders",
    "eval_batches",
    "start_worker",
    "stop_workers",
    "worker_message",
]


class Batches(Protocol):
    """What the training loop iterates: batches, and how many are left in the epoch."""

    def __iter__(self) -> Iterator[Any]:
        """Yield the batches."""
        ...

    def __len__(self) -> int:
        """Number of batches."""
        ...


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
    if augments_by_epoch(dataset):  # each sample's randomness from (seed, epoch, index)
        return _loader(dataset, config, sampler=EpochIndices(sampler), pin_memory=pin_memory)
    return _loader(dataset, config, sampler=sampler, pin_memory=pin_memory)


def _loader(
    dataset: Dataset[Any],
    config: DataSection,
    *,
    sampler: Iterable[int] | Iterable[EpochIndex] | None,
    pin_memory: bool,
) -> Batches:
    has_workers = config.num_workers > 0
    loader = DataLoader(
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
    return WorkerErrors(loader) if has_workers else loader


class WorkerErrors:
    """A ``DataLoader`` whose workers' errors of this package are raised as the worker raised them.

    ``DataLoader`` raises a worker's exception again in the parent with the worker's whole
    traceback as its message; the one line the worker's own error said is what a user needs.
    """

    def __init__(self, loader: DataLoader[Any]) -> None:
        """Iterate ``loader``."""
        self.loader = loader

    def __len__(self) -> int:
        """Number of batches."""
        return len(self.loader)

    def __iter__(self) -> Iterator[Any]:
        """Yield the loader's batches; an error ends the workers that were reading them.

        Left alive, a failed epoch's workers would hold the process back at exit for seconds.
        """
        batches = iter(self.loader)
        try:
            yield from batches
        except Exception as err:
            _shut_down(self.loader, batches)
            if isinstance(err, ProjectError):
                raise type(err)(worker_message(err)) from None
            raise


def _shut_down(loader: Iterable[Any], batches: Iterator[Any]) -> None:
    """End the worker processes of ``loader``'s iterator ``batches``, if it has any."""
    shutdown = getattr(batches, "_shutdown_workers", None)  # DataLoader's multi-process iterator
    if shutdown is not None:
        shutdown()
    if getattr(loader, "_iterator", None) is batches:  # kept for persistent_workers
        loader._iterator = None  # type: ignore[attr-defined]


def stop_workers(batches: Iterable[Any]) -> None:
    """End the worker processes a ``DataLoader`` keeps between epochs, if it has any.

    They ignore stop signals (``start_worker``), so they must be told: left to the end of the
    interpreter, ``multiprocessing`` would send them SIGTERM and wait for them for ever.
    """
    loader = batches.loader if isinstance(batches, WorkerErrors) else batches
    iterator = getattr(loader, "_iterator", None)  # DataLoader's, with persistent_workers
    if iterator is not None:
        _shut_down(loader, iterator)  # what DataLoader does when it is deleted


def worker_message(err: BaseException) -> str:
    """The message a worker's error had, out of the traceback ``DataLoader`` wraps it in."""
    text = str(err)
    if not text.startswith("Caught ") or "Traceback" not in text:
        return text
    name = type(err).__name__
    for line in reversed(text.rstrip().splitlines()):
        head, colon, message = line.partition(": ")
        if colon and (head == name or head.endswith(f".{name}")):
            return message
    return text


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
