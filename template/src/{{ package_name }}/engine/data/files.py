"""Data files: CSV and Parquet tables and NumPy ``.npz`` archives, checked before training.

A table (CSV with a header row, or Parquet) has numeric columns; one of them may be the label (or
target) column. An ``.npz`` archive holds named numeric arrays whose first dimensions agree. Every
problem (missing column or array, text where a number belongs, NaN, an empty file) is reported
as a ``DataError`` naming the file, and the column and row where it applies. Tables are read
with pyarrow (``tables.py``) straight into float32 arrays.

The project's ``data.py`` reads its training data with these; ``predict`` reads a model's inputs
with ``read_inputs``, checked against the model's input specs.
"""

from __future__ import annotations

import zipfile
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..core.exceptions import DataError
from .tables import column_names, read_table

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from ..seam.specs import TensorSpec

__all__ = [
    "MAX_CLASSES",
    "TABLE_SUFFIXES",
    "check_source",
    "class_indices",
    "read_arrays",
    "read_csv",
    "read_inputs",
    "read_labelled",
    "read_table",
]

TABLE_SUFFIXES = frozenset({".csv", ".parquet"})
_SUFFIXES = (*sorted(TABLE_SUFFIXES), ".npz")


_FLOAT32_MAX = float(np.finfo(np.float32).max)
MAX_CLASSES = 100_000  # labels imply this many classes at most (the model has one output each)


def check_source(source: str, path: Path | None) -> None:
    """Check a data section's ``source`` against its ``path`` (for a model validator).

    The built-in source (``synthetic``) takes no file, and every other source needs one.

    Raises:
        ValueError: If they do not fit together, naming both keys.
    """
    if source == "synthetic" and path is not None:
        raise ValueError(
            f"data.path={str(path)!r} is set but data.source is synthetic: "
            "set data.source to the kind of file to read it"
        )
    if source != "synthetic" and path is None:
        raise ValueError(f"data.source={source} needs data.path, the file to read")


def read_labelled(path: Path, *, label_column: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Read features ``(N, F)`` (float32) and labels ``(N,)`` (float64) from a table or archive.

    A table's (CSV or Parquet) label column is ``label_column``; an archive holds the arrays
    ``features`` (2-D) and ``labels`` (1-D).

    Raises:
        DataError: If the file is missing, of an unknown kind, or its contents are malformed.
    """
    _check_exists(path)
    if _suffix(path) in TABLE_SUFFIXES:
        features, labels = read_table(path, label_column=label_column, need_labels=True)
        assert labels is not None  # need_labels=True guarantees them
        return features, labels
    arrays = read_arrays(path, ["features", "labels"])
    _check_ndim(arrays["features"], 2, path=path, name="features")
    _check_ndim(arrays["labels"], 1, path=path, name="labels")
    return (
        torch.from_numpy(arrays["features"].astype(np.float32)),
        torch.from_numpy(arrays["labels"].astype(np.float64)),
    )


def class_indices(
    labels: torch.Tensor, *, path: Path, max_classes: int = MAX_CLASSES
) -> torch.Tensor:
    """Labels as class indices (int64): whole numbers from 0, of at least two classes.

    A classifier gets one output per class up to the largest label, so the largest label is
    capped: a stray value such as 1e9 would otherwise ask for a model of a billion outputs.

    Args:
        labels: The label column or array, as read (any number type).
        path: The data file, for the messages.
        max_classes: The most classes the labels may imply (the largest label plus one).

    Raises:
        DataError: If a label is not a whole number from 0 upwards, the largest label implies
            more than ``max_classes`` classes, or every label is the same class.
    """
    where = f"data file {str(path)!r}"
    if (labels != labels.round()).any() or (labels < 0).any():
        raise DataError(f"{where}: labels must be whole numbers from 0 upwards")
    largest = labels.max().item()
    if largest + 1 > max_classes:
        raise DataError(
            f"{where}: the label {largest:.0f} would make {largest + 1:.0f} classes (labels run "
            f"from 0 to the number of classes - 1), more than the {max_classes} allowed; "
            "number the classes 0, 1, 2, ..."
        )
    indices = labels.long()
    present = indices.unique()
    if len(present) < 2:
        raise DataError(
            f"{where}: every label is {int(present[0])}, a single class; a classifier needs "
            "samples of at least two classes to learn anything"
        )
    return indices


def read_csv(
    path: Path, *, label_column: str, need_labels: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Parse a CSV table into float32 features and, if present, its label column (float64).

    Raises:
        DataError: If the table is empty, lacks the label column, or holds a non-number or NaN.
    """
    _check_exists(path)
    return read_table(path, label_column=label_column, need_labels=need_labels)


def read_arrays(
    path: Path, names: Sequence[str], *, within_float32: bool = True
) -> dict[str, np.ndarray]:
    """Load the numeric arrays ``names`` from an ``.npz`` archive, checked to agree in length.

    Args:
        path: The archive.
        names: The arrays to load.
        within_float32: Also refuse values beyond float32's range (1e39 in a float64 array),
            which a model computing in float32 would read as infinite. ``predict`` checks them
            against the model's own element type instead.

    Raises:
        DataError: If the file is not a readable archive, an array is missing, not numeric,
            empty, holds NaN or infinite values (or values beyond float32's range), or the
            arrays differ in length; the message names the file, the array and the row.
    """
    _check_exists(path)
    if _suffix(path) != ".npz":
        raise DataError(f"data file {str(path)!r} is not an .npz archive")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        what = "pickled Python objects, which are never loaded" if "pickle" in str(err) else ""
        raise DataError(
            f"data file {str(path)!r} is not a readable .npz archive"
            + (f": it holds {what}" if what else " (numpy.savez writes one)")
        ) from err
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(
            f"data file {str(path)!r} holds a single array (an .npy file), not an .npz archive "
            f"of named arrays; save the arrays {list(names)} with numpy.savez"
        )
    with archive:
        present = sorted(archive.files)
        missing = [name for name in names if name not in present]
        if missing:
            raise DataError(
                f"data file {str(path)!r} must hold arrays {list(names)}; it has {present}"
            )
        arrays = {
            name: _numeric(
                _array(archive, name, path=path), path=path, name=name, limit=within_float32
            )
            for name in names
        }
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise DataError(f"data file {str(path)!r}: the arrays differ in length: {lengths}")
    return arrays


def read_inputs(
    path: Path, specs: Sequence[TensorSpec], *, label_column: str
) -> dict[str, torch.Tensor]:
    """Read a model's inputs for prediction: a CSV table for one 2-D input, or an archive.

    A CSV file's columns, apart from ``label_column``, are the features of the model's one input.
    An archive holds one array per input, named as the input, of the input's shape. The values
    are checked against the specs later, by the predictor; this checks the file, the columns and
    the arrays' shapes. (A model that takes text reads ``texts.read_text_inputs``.)

    Raises:
        DataError: If the file is missing or malformed, or does not fit the inputs.
    """
    _check_exists(path)
    if _suffix(path) == ".npz":
        # The predictor checks the values against the model's element type.
        arrays = read_arrays(path, [spec.name for spec in specs], within_float32=False)
        for spec in specs:
            _check_shape(arrays[spec.name], spec, path=path)
        return {name: torch.from_numpy(array) for name, array in arrays.items()}
    if len(specs) != 1 or len(specs[0].shape) != 2:
        names = [spec.name for spec in specs]
        raise DataError(
            f"data file {str(path)!r}: a table holds one 2-D input, but the model takes "
            f"{names}; pass an .npz archive with one array per input"
        )
    spec = specs[0]
    columns = [name for name in column_names(path) if name != label_column]
    expected = spec.shape[1]
    if expected is not None and len(columns) != expected:
        raise DataError(
            f"data file {str(path)!r} has {len(columns)} feature columns {columns}, the model "
            f"takes {expected} (a label column named {label_column!r} is left out)"
        )
    features, _ = read_table(path, label_column=label_column, need_labels=False)
    return {spec.name: features}


def _check_exists(path: Path) -> None:
    if not path.is_file():
        raise DataError(f"data file {str(path)!r} does not exist")


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in _SUFFIXES:
        raise DataError(f"data file {str(path)!r} is not a .csv, .parquet or .npz file")
    return suffix


def _array(archive: np.lib.npyio.NpzFile, name: str, *, path: Path) -> np.ndarray:
    """One array of an archive; an array of Python objects is refused, never unpickled."""
    try:
        array: np.ndarray = archive[name]
    except ValueError as err:  # numpy refuses object arrays without allow_pickle
        raise DataError(
            f"data file {str(path)!r}: array {name!r} holds Python objects (pickled data), "
            "which are never loaded; save it as an array of numbers"
        ) from err
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise DataError(f"data file {str(path)!r}: array {name!r} cannot be read") from err
    return array


def _numeric(array: np.ndarray, *, path: Path, name: str, limit: bool) -> np.ndarray:
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise DataError(
            f"data file {str(path)!r}: array {name!r} has dtype {array.dtype}, not numbers"
        )
    if array.ndim == 0 or array.shape[0] == 0:
        raise DataError(
            f"data file {str(path)!r}: array {name!r} has shape {array.shape}; "
            "expected at least one dimension and one row"
        )
    finite = np.isfinite(array)
    if limit and array.dtype.kind == "f" and array.dtype.itemsize > 4:
        finite &= np.abs(array) <= _FLOAT32_MAX
    if finite.all():
        return array
    where = tuple(int(index[0]) for index in np.nonzero(~finite))
    value = float(array[where])
    position = f"row {where[0]}" + (f", index {where}" if len(where) > 1 else "")
    what = (
        f"{value:g} at {position}, beyond the range of float32 (±{_FLOAT32_MAX:.4g}), the "
        "element type models compute in"
        if np.isfinite(value)
        else f"NaN or infinite values (first at {position}: {value})"
    )
    raise DataError(f"data file {str(path)!r}: array {name!r} holds {what}")


def _check_shape(array: np.ndarray, spec: TensorSpec, *, path: Path) -> None:
    """An archive's array must have the input's shape (any size where the spec has ``None``)."""
    fits = len(array.shape) == len(spec.shape) and all(
        want is None or want == got for want, got in zip(spec.shape, array.shape, strict=True)
    )
    if not fits:
        wanted = ", ".join("N" if size is None else str(size) for size in spec.shape)
        raise DataError(
            f"data file {str(path)!r}: array {spec.name!r} has shape {array.shape}, the model "
            f"takes ({wanted})"
        )


def _check_ndim(array: np.ndarray, ndim: int, *, path: Path, name: str) -> None:
    if array.ndim != ndim:
        raise DataError(
            f"data file {str(path)!r}: array {name!r} has shape {array.shape}; "
            f"expected {ndim} dimension(s)"
        )
