"""Samples in memory, and the reproducible split of a task's data into train, val and test.

``TensorData`` holds samples as tensors (positional, or named) that share their first dimension.
Indexed by an integer it gives one sample; by a tensor of indices, a whole batch gathered in one
step, which is how the loaders batch it (``loaders.py``). Any other map-style dataset works too,
batched sample by sample through a ``DataLoader``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sized
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, overload, runtime_checkable

import torch
from torch.utils.data import Dataset, Subset

from ..core.exceptions import DataError
from ..core.seed import make_generator
from .npy_rows import NpyRows

if TYPE_CHECKING:
    from ..seam.sections import DataSection
    from ..seam.task import Data

__all__ = [
    "Splits",
    "Takes",
    "TensorData",
    "dataset_length",
    "split_data",
    "split_indices",
    "subset",
]

logger = logging.getLogger(__name__)

_SPLIT_STREAM = 1_000_003
_FEW_PER_FOLD = 5  # validation samples below which a fold's metrics are mostly noise


class TensorData(Dataset[Any]):
    """Samples held as tensors that share their first dimension.

    ``TensorData(x, y)`` gives ``(x[i], y[i])``; ``TensorData(a=x, b=y)`` gives
    ``{"a": x[i], "b": y[i]}``. A tensor named ``length`` (one number per sample, such as each
    text's tokens) is also the samples' ``lengths``: training batches them in buckets of
    similar lengths (see ``sampler.py``).
    """

    def __init__(self, *tensors: torch.Tensor, **named: torch.Tensor) -> None:
        """Hold ``tensors`` (samples as tuples) or ``named`` tensors (samples as dicts).

        Raises:
            DataError: If both or neither are given, or the tensors differ in length.
        """
        if bool(tensors) == bool(named):
            raise DataError("TensorData takes tensors either by position or by name, not both")
        columns = tensors or tuple(named.values())
        lengths = {len(tensor) for tensor in columns}
        if len(lengths) != 1:
            raise DataError(f"TensorData's tensors differ in length: {sorted(lengths)}")
        self.tensors = tensors
        self.named = named
        self.length = lengths.pop()

    def __len__(self) -> int:
        """Number of samples."""
        return self.length

    @property
    def lengths(self) -> torch.Tensor | None:
        """The tensor named ``length``, if there is one: the lengths training buckets by."""
        return self.named.get("length")

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: torch.Tensor | slice) -> Any: ...
    def __getitem__(self, index: int | torch.Tensor | slice) -> Any:
        """One sample for an integer; a batch for a tensor of indices or a slice."""
        if self.named:
            return {name: tensor[index] for name, tensor in self.named.items()}
        return tuple(tensor[index] for tensor in self.tensors)

    def take(self, indices: torch.Tensor) -> TensorData:
        """The samples at ``indices``, copied into a new ``TensorData``."""
        if self.named:
            return TensorData(**{name: tensor[indices] for name, tensor in self.named.items()})
        return TensorData(*(tensor[indices] for tensor in self.tensors))


@dataclass(frozen=True)
class Splits:
    """The sets a run uses; ``test`` is ``None`` unless the data provides one."""

    train: Dataset[Any]
    val: Dataset[Any]
    test: Dataset[Any] | None = None


@runtime_checkable
class Takes(Protocol):
    """A dataset that makes its own subsets (``TensorData``, ``ImageFiles``)."""

    def take(self, indices: torch.Tensor) -> Dataset[Any]:
        """The samples at ``indices``, as a dataset of the same kind."""
        ...


def subset(dataset: Dataset[Any], indices: torch.Tensor) -> Dataset[Any]:
    """The samples of ``dataset`` at ``indices``: a dataset that ``Takes`` makes its own subset.

    Others are wrapped in a ``Subset``.
    """
    if isinstance(dataset, Takes):
        return dataset.take(indices)
    return Subset(dataset, indices.tolist())


def dataset_length(dataset: Dataset[Any]) -> int:
    """The number of samples of a map-style dataset.

    Raises:
        DataError: If the dataset has no length (an iterable-style dataset).
    """
    if not isinstance(dataset, Sized):
        raise DataError(
            f"{type(dataset).__name__} has no len(): the engine needs map-style datasets"
        )
    return len(dataset)


def split_data(data: Data, config: DataSection, *, seed: int) -> Splits:
    """Split the task's samples into training, validation and test sets, reproducibly for ``seed``.

    One permutation of the samples, drawn from ``seed``, decides every set: its last
    ``data.test_fraction`` are the test set, the same whatever the validation settings; of the
    rest, the first ``data.val_fraction`` (of all samples) validate, or with ``data.folds`` the
    rest is cut into that many folds and fold ``data.fold`` validates. Data that comes with its
    own validation set (``data.val``) is used as it is. Rows of ``.npy`` files are split row by
    row by a hash of the seed (``NpyRows.split``), which needs no memory per row.

    Raises:
        DataError: If a split would be empty, or the data comes split and the config asks the
            engine to split it (a test fraction or folds).
    """
    if data.val is not None:
        _check_presplit(data, config)
        return Splits(train=data.samples, val=data.val, test=data.test)
    if isinstance(data.samples, NpyRows):
        train, val = data.samples.split(config.val_fraction, seed=seed + _SPLIT_STREAM)
        return Splits(train=train, val=val, test=data.test)
    train_order, val_order, test_order = split_indices(
        dataset_length(data.samples), config, seed=seed
    )
    if len(test_order) and data.test is not None:
        raise DataError("the task's data comes with its own test set: set data.test_fraction to 0")
    test = subset(data.samples, test_order) if len(test_order) else data.test
    return Splits(
        train=subset(data.samples, train_order),
        val=subset(data.samples, val_order),
        test=test,
    )


def split_indices(
    total: int, config: DataSection, *, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The training, validation and test indices ``split_data`` takes of ``total`` samples.

    A task that fits something to its data, such as a tokenizer's vocabulary, fits it to the
    training indices alone, so that validation and test scores stay honest.

    Raises:
        DataError: If a split would be empty.
    """
    # A stream of its own: the task may have generated its samples from a generator of ``seed``.
    order = torch.randperm(total, generator=make_generator(seed + _SPLIT_STREAM))
    test_size = int(total * config.test_fraction)
    if config.test_fraction > 0 and not 0 < test_size < total:
        raise DataError(
            f"data.test_fraction={config.test_fraction} of {total} samples leaves an empty split"
        )
    rest = order[: total - test_size]
    train_order, val_order = _train_and_val(rest, config, total=total)
    return train_order, val_order, order[total - test_size :]


def _train_and_val(
    rest: torch.Tensor, config: DataSection, *, total: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The training and validation indices among ``rest``: by fraction, or by fold."""
    if config.folds is None:
        val_size = int(total * config.val_fraction)
        if not 0 < val_size < len(rest):
            raise DataError(
                f"data.val_fraction={config.val_fraction} of {total} samples leaves an empty split"
            )
        return rest[val_size:], rest[:val_size]
    if len(rest) < config.folds:
        raise DataError(
            f"data.folds={config.folds} needs at least {config.folds} samples to validate on, "
            f"got {len(rest)}"
        )
    if len(rest) // config.folds < _FEW_PER_FOLD:
        _warn_small_folds(config.folds, len(rest))
    folds = torch.tensor_split(rest, config.folds)
    train = torch.cat([fold for index, fold in enumerate(folds) if index != config.fold])
    return train, folds[config.fold]


@functools.cache  # once per process: every fold of --all-folds splits the same way
def _warn_small_folds(folds: int, samples: int) -> None:
    """Say that ``folds`` folds of ``samples`` samples each validate on too few."""
    smallest, largest = samples // folds, -(-samples // folds)
    sizes = f"{smallest}" if smallest == largest else f"{smallest} or {largest}"
    sizes += " sample" if largest == 1 else " samples"
    most = samples // _FEW_PER_FOLD
    advice = (
        f"at most {most} folds validate on {_FEW_PER_FOLD} or more each"
        if most >= 2
        else "data.val_fraction holds out one larger validation set"
    )
    logger.warning(
        "data.folds=%d on %d samples: each fold validates on %s, too few for its metrics to "
        "mean much; %s",
        folds,
        samples,
        sizes,
        advice,
    )


def _check_presplit(data: Data, config: DataSection) -> None:
    """Refuse split settings that cannot apply to data that comes already split."""
    if config.folds is not None or config.test_fraction > 0:
        raise DataError(
            "the task's data comes with its own validation set, so the engine does not split "
            f"it: data.folds={config.folds} and data.test_fraction={config.test_fraction} "
            "need null and 0"
        )
