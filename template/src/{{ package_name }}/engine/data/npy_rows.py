"""Samples larger than memory: rows of ``.npy`` files, read from disk a window at a time.

``NpyRows(features, labels)`` gives ``(features[i], labels[i])`` like ``TensorData`` but keeps
nothing but the files' headers in memory. The loaders read it in windows of a few megabytes
(with ``np.fromfile`` at an offset: no memory map, so nothing read stays resident), so memory does
not grow with the number of rows:

- the split into training and validation rows is decided row by row by a hash of the seed and
  the row's number (``data.val_fraction`` of the rows, give or take chance);
- an epoch visits blocks of rows in a shuffled order, gathers ``WINDOW_BLOCKS`` blocks at a time
  and shuffles the rows of that window; the order depends on the seed and the epoch alone, so a
  resumed run starts part-way through exactly as with data in memory;
- under torchrun each rank takes every ``world_size``-th row of that order, padded by wrapping
  around as ``EpochSampler`` does.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

from ..core.exceptions import DataError
from ..core.seed import make_generator

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

    from .sampler import EpochSampler

__all__ = ["BLOCK_BYTES", "WINDOW_BLOCKS", "NpyBatches", "NpyRows", "count_classes"]

BLOCK_BYTES = 1 << 20  # rows are read, and shuffled in, blocks of about this size
WINDOW_BLOCKS = 16  # an epoch shuffles the rows of this many blocks at a time
_MASK64 = (1 << 64) - 1


class _Array(NamedTuple):
    """Where a ``.npy`` file's rows are: its path, element type, shape and data offset."""

    path: Path
    dtype: np.dtype[Any]
    shape: tuple[int, ...]
    offset: int

    @property
    def row_items(self) -> int:
        return math.prod(self.shape[1:])

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start`` to ``stop`` (a copy, read with one system call)."""
        count = (stop - start) * self.row_items
        offset = self.offset + start * self.row_items * self.dtype.itemsize
        values = np.fromfile(self.path, dtype=self.dtype, count=count, offset=offset)
        return values.reshape(stop - start, *self.shape[1:])


def _open(path: Path) -> _Array:
    """The header of a ``.npy`` file, checked: numeric, C order, at least one row."""
    if path.suffix.lower() != ".npy" or not path.is_file():
        raise DataError(f"data file {str(path)!r} is not an .npy file")
    try:
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)  # reads the header only
    except (OSError, ValueError) as err:
        raise DataError(f"data file {str(path)!r} is not a readable .npy file: {err}") from err
    if not isinstance(mapped, np.memmap) or not mapped.flags.c_contiguous or mapped.ndim == 0:
        raise DataError(f"data file {str(path)!r} must hold an array in C order")
    if not np.issubdtype(mapped.dtype, np.number) or np.issubdtype(
        mapped.dtype, np.complexfloating
    ):
        raise DataError(f"data file {str(path)!r} has dtype {mapped.dtype}, not numbers")
    if mapped.shape[0] == 0:
        raise DataError(f"data file {str(path)!r} has no rows")
    return _Array(path, mapped.dtype, tuple(mapped.shape), int(mapped.offset))


class NpyRows(Dataset[Any]):
    """Rows of ``.npy`` files that share their first dimension, read from disk when needed.

    A sample is a tuple with one row of each file. ``split`` selects rows by a hash of the seed;
    ``NpyBatches`` reads them in windows.
    """

    def __init__(
        self,
        *paths: Path,
        dtypes: Sequence[torch.dtype | None] | None = None,
        _selection: _Selection | None = None,
    ) -> None:
        """Read the headers of ``paths``; ``dtypes`` converts each file's rows (None: as stored).

        Raises:
            DataError: If a file is not a numeric ``.npy`` array or the lengths differ.
        """
        if not paths:
            raise DataError("NpyRows takes at least one .npy file")
        self.arrays = [_open(path) for path in paths]
        lengths = {array.shape[0] for array in self.arrays}
        if len(lengths) != 1:
            names = {str(array.path): array.shape[0] for array in self.arrays}
            raise DataError(f"the .npy files differ in length: {names}")
        self.total = lengths.pop()
        self.dtypes = list(dtypes) if dtypes is not None else [None] * len(paths)
        row_bytes = sum(array.row_items * array.dtype.itemsize for array in self.arrays)
        self.block_rows = max(1, BLOCK_BYTES // max(row_bytes, 1))
        self.selection = _selection or _Selection.everything(self.total, self.block_rows)

    def __len__(self) -> int:
        """Number of samples (rows this set selects)."""
        return self.selection.size

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        """One sample: the ``index``-th selected row of each file."""
        if not 0 <= index < len(self):
            raise IndexError(index)
        block = int(np.searchsorted(self.selection.ends, index, side="right"))
        start = 0 if block == 0 else int(self.selection.ends[block - 1])
        row = int(self.selection.rows(block)[index - start])
        return self.tensors([np.asarray(array.read(row, row + 1)[0]) for array in self.arrays])

    def tensors(self, parts: Sequence[np.ndarray]) -> tuple[torch.Tensor, ...]:
        """Arrays of rows (one per file) as tensors of the element types asked for."""
        tensors = (torch.from_numpy(part) for part in parts)
        return tuple(
            tensor if dtype is None else tensor.to(dtype)
            for tensor, dtype in zip(tensors, self.dtypes, strict=True)
        )

    @property
    def row_shapes(self) -> list[tuple[int, ...]]:
        """The shape of one row of each file."""
        return [array.shape[1:] for array in self.arrays]

    def split(self, val_fraction: float, *, seed: int) -> tuple[NpyRows, NpyRows]:
        """Training and validation rows: each row is validation with chance ``val_fraction``.

        Raises:
            DataError: If a side gets no row.
        """
        paths = [array.path for array in self.arrays]
        train, val = (
            _Selection.hashed(self.total, self.block_rows, seed, val_fraction, val=side)
            for side in (False, True)
        )
        if not train.size or not val.size:
            raise DataError(
                f"data.val_fraction={val_fraction} of {self.total} rows leaves an empty split"
            )
        return (
            NpyRows(*paths, dtypes=self.dtypes, _selection=train),
            NpyRows(*paths, dtypes=self.dtypes, _selection=val),
        )

    def read_block(self, block: int) -> list[np.ndarray]:
        """The selected rows of block ``block``, one array per file.

        Raises:
            DataError: If a row holds NaN or infinite values.
        """
        start = block * self.block_rows
        stop = min(start + self.block_rows, self.total)
        chosen = self.selection.rows(block) - start
        parts = []
        for array in self.arrays:
            values = array.read(start, stop)[chosen]
            if values.dtype.kind == "f" and not np.isfinite(values).all():
                row = start + int(chosen[np.nonzero(~np.isfinite(values))[0][0]])
                raise DataError(f"data file {str(array.path)!r} row {row} holds NaN or infinity")
            parts.append(values)
        return parts


class _Selection:
    """Which rows of each block a set holds: all, or those a seeded hash puts on its side."""

    def __init__(self, total: int, block_rows: int, rule: tuple[int, float, bool] | None):
        self.total = total  # rows of the files
        self.block_rows = block_rows
        self.rule = rule  # (seed, val_fraction, whether this is the val side); None: every row
        self.ends = np.zeros(0, dtype=np.int64)  # (blocks,): selected rows up to each block's end

    @classmethod
    def everything(cls, total: int, block_rows: int) -> _Selection:
        selection = cls(total, block_rows, None)
        blocks = np.arange(1, math.ceil(total / block_rows) + 1, dtype=np.int64)
        selection.ends = np.minimum(blocks * block_rows, total)
        return selection

    @classmethod
    def hashed(
        cls, total: int, block_rows: int, seed: int, fraction: float, *, val: bool
    ) -> _Selection:
        selection = cls(total, block_rows, (seed, fraction, val))
        counts = [len(selection.rows(block)) for block in range(math.ceil(total / block_rows))]
        selection.ends = np.cumsum(np.asarray(counts, dtype=np.int64))
        return selection

    @property
    def size(self) -> int:
        return int(self.ends[-1]) if len(self.ends) else 0

    def count(self, block: int) -> int:
        return int(self.ends[block] - (self.ends[block - 1] if block else 0))

    def rows(self, block: int) -> np.ndarray:
        """The file rows of block ``block`` this set holds, in order."""
        start = block * self.block_rows
        rows = np.arange(start, min(start + self.block_rows, self.total), dtype=np.uint64)
        if self.rule is None:
            return rows.astype(np.int64)
        seed, fraction, val = self.rule
        is_val = _uniform(rows, seed) < fraction
        chosen: np.ndarray = rows[is_val == val].astype(np.int64)
        return chosen


def _uniform(rows: np.ndarray, seed: int) -> np.ndarray:
    """A number in [0, 1) per row, from the seed and the row's number (splitmix64)."""
    key = np.uint64((seed * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & _MASK64)
    mixed = rows ^ key
    mixed = mixed + np.uint64(0x9E3779B97F4A7C15)
    mixed = (mixed ^ (mixed >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    mixed = (mixed ^ (mixed >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    mixed = mixed ^ (mixed >> np.uint64(31))
    uniform: np.ndarray = (mixed >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return uniform


class NpyBatches:
    """Batches of ``NpyRows``: shuffled by windows (with a sampler), or in order (without).

    With an ``EpochSampler`` the order follows its seed and epoch, this rank takes every
    ``world_size``-th row of it, and the epoch starts ``sampler.start`` rows in. Without one the
    rows come in file order, this rank's share being every ``world_size``-th, unpadded.
    """

    def __init__(
        self,
        data: NpyRows,
        *,
        batch_size: int,
        sampler: EpochSampler | None = None,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        """Batch ``data`` by ``batch_size``."""
        self.data, self.batch_size, self.sampler = data, batch_size, sampler
        self.rank = sampler.rank if sampler is not None else rank
        self.world_size = sampler.world_size if sampler is not None else world_size

    def __len__(self) -> int:
        """Batches left in the epoch."""
        return math.ceil(self._count() / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        """Yield the batches."""
        pending: list[list[np.ndarray]] = []
        held = 0
        for parts in self._rows():
            pending.append(parts)
            held += len(parts[0])
            while held >= self.batch_size:
                held -= self.batch_size
                yield self.data.tensors(_take(pending, self.batch_size))
        if held:
            yield self.data.tensors(_take(pending, held))

    def _count(self) -> int:
        if self.sampler is not None:
            return len(self.sampler)
        return len(range(self.rank, len(self.data), self.world_size))

    def _rows(self) -> Iterator[list[np.ndarray]]:
        """This rank's rows in order, as arrays of consecutive rows (one per file)."""
        if self.sampler is None:
            yield from self._in_order()
            return
        sampler, needed = self.sampler, len(self.sampler)
        position = sampler.start * self.world_size + self.rank  # in the epoch's global order
        windows = self._windows(sampler.seed, sampler.epoch)
        offset = 0
        for _ in range(2):  # a second lap only pads the end, as EpochSampler does
            for index, blocks in enumerate(windows):
                rows = sum(self.data.selection.count(block) for block in blocks)
                if needed and position < offset + rows:
                    read = [self.data.read_block(block) for block in blocks]
                    parts = [np.concatenate(part) for part in zip(*read, strict=True)]
                    generator = make_generator((sampler.seed + sampler.epoch) * 1_000_003 + index)
                    order = torch.randperm(rows, generator=generator)
                    local = order[position - offset :: self.world_size][:needed].numpy()
                    yield [part[local] for part in parts]
                    needed -= len(local)
                    position += len(local) * self.world_size
                offset += rows

    def _windows(self, seed: int, epoch: int) -> list[list[int]]:
        blocks = len(self.data.selection.ends)
        order = torch.randperm(blocks, generator=make_generator(seed + epoch)).tolist()
        return [order[start : start + WINDOW_BLOCKS] for start in range(0, blocks, WINDOW_BLOCKS)]

    def _in_order(self) -> Iterator[list[np.ndarray]]:
        seen = 0
        for block in range(len(self.data.selection.ends)):
            count = self.data.selection.count(block)
            first = (self.rank - seen) % self.world_size
            if count and first < count:
                parts = self.data.read_block(block)
                yield [part[first :: self.world_size] for part in parts]
            seen += count


def _take(pending: list[list[np.ndarray]], count: int) -> list[np.ndarray]:
    """Remove the first ``count`` rows from ``pending`` and return them, one array per file."""
    taken: list[list[np.ndarray]] = []
    need = count
    while need:
        parts = pending[0]
        if len(parts[0]) <= need:
            taken.append(pending.pop(0))
            need -= len(parts[0])
        else:
            taken.append([part[:need] for part in parts])
            pending[0] = [part[need:] for part in parts]
            need = 0
    return [np.concatenate(column) for column in zip(*taken, strict=True)]


def count_classes(path: Path) -> int:
    """The number of classes a labels ``.npy`` file holds (its largest label plus one).

    Raises:
        DataError: If a label is not a whole number from 0 upwards.
    """
    array = _open(path)
    if len(array.shape) != 1:
        raise DataError(f"data file {str(path)!r}: labels must be 1-D, got {array.shape}")
    largest, step = 0, max(1, BLOCK_BYTES // array.dtype.itemsize)
    for start in range(0, array.shape[0], step):
        labels = array.read(start, min(start + step, array.shape[0]))
        if (labels < 0).any() or (labels != np.round(labels)).any():
            raise DataError(f"data file {str(path)!r}: labels must be whole numbers from 0 upwards")
        largest = max(largest, int(labels.max()))
    return largest + 1
