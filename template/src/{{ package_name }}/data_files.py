"""Datasets read from files: CSV tables and NumPy ``.npz`` archives, checked before training.

A CSV file has a header row, numeric feature columns and an integer label column (``label`` by
default). An ``.npz`` archive holds a 2-D ``features`` array and a 1-D integer ``labels`` array.
Every problem (missing column, text where a number belongs, NaN, an empty file) is reported as a
``DataError`` naming the file, and the column and row where it applies.
"""

from __future__ import annotations

import csv
import math
from typing import TYPE_CHECKING

import numpy as np
import torch

from .exceptions import DataError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["read_csv", "read_features", "read_labelled", "read_npz"]


def read_labelled(path: Path, *, label_column: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Read features ``(N, F)`` (float32) and labels ``(N,)`` (int64) from a CSV or .npz file.

    Raises:
        DataError: If the file is missing, of an unknown kind, or its contents are malformed.
    """
    features, labels = _read(path, label_column=label_column, need_labels=True)
    assert labels is not None  # need_labels=True guarantees them
    return features, _check_labels(labels, path=path)


def read_features(path: Path, *, label_column: str) -> torch.Tensor:
    """Read features ``(N, F)`` for prediction; a label column or array, if present, is ignored.

    Raises:
        DataError: If the file is missing, of an unknown kind, or its contents are malformed.
    """
    features, _ = _read(path, label_column=label_column, need_labels=False)
    return features


def read_csv(
    path: Path, *, label_column: str, need_labels: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Parse a CSV table into float features and, if present, its label column.

    Raises:
        DataError: If the table is empty, lacks the label column, or holds a non-number or NaN.
    """
    try:
        with path.open(newline="", encoding="utf-8") as file:
            rows = list(csv.reader(file))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"data file {str(path)!r} is not a readable UTF-8 CSV file: {err}") from err
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise DataError(f"data file {str(path)!r} is empty")
    header, body = [name.strip() for name in rows[0]], rows[1:]
    if not body:
        raise DataError(f"data file {str(path)!r} has a header but no rows")
    has_labels = label_column in header
    if need_labels and not has_labels:
        raise DataError(
            f"data file {str(path)!r} has no column {label_column!r}; columns: {header}"
        )
    values = np.empty((len(body), len(header)), dtype=np.float64)
    for row_number, row in enumerate(body, start=2):  # row 1 is the header
        if len(row) != len(header):
            raise DataError(
                f"data file {str(path)!r} row {row_number} has {len(row)} values, "
                f"the header has {len(header)}"
            )
        values[row_number - 2] = [
            _number(cell, path=path, column=name, row=row_number)
            for cell, name in zip(row, header, strict=True)
        ]
    feature_columns = [i for i, name in enumerate(header) if name != label_column]
    if not feature_columns:
        raise DataError(f"data file {str(path)!r} has no feature columns besides {label_column!r}")
    features = torch.from_numpy(values[:, feature_columns]).float()
    labels = torch.from_numpy(values[:, header.index(label_column)]) if has_labels else None
    return features, labels


def read_npz(path: Path, *, need_labels: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Load ``features`` (2-D, numeric) and, if present, ``labels`` (1-D) from an archive.

    Raises:
        DataError: If an array is missing, has the wrong shape or dtype, or holds NaN.
    """
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise DataError(f"data file {str(path)!r} is not a readable .npz archive: {err}") from err
    with archive:
        names = sorted(archive.files)
        if "features" not in names or (need_labels and "labels" not in names):
            wanted = "'features' and 'labels'" if need_labels else "'features'"
            raise DataError(f"data file {str(path)!r} must hold arrays {wanted}; it has {names}")
        features = _numeric(archive["features"], path=path, name="features", ndim=2)
        labels = archive["labels"] if "labels" in names else None
    if labels is not None:
        labels = _numeric(labels, path=path, name="labels", ndim=1)
        if len(labels) != len(features):
            raise DataError(
                f"data file {str(path)!r}: {len(features)} feature rows but {len(labels)} labels"
            )
    feature_tensor = torch.from_numpy(features.astype(np.float32))
    return feature_tensor, None if labels is None else torch.from_numpy(labels.astype(np.float64))


def _read(
    path: Path, *, label_column: str, need_labels: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    if not path.is_file():
        raise DataError(f"data file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_csv(path, label_column=label_column, need_labels=need_labels)
    if suffix == ".npz":
        return read_npz(path, need_labels=need_labels)
    raise DataError(f"data file {str(path)!r} is neither .csv nor .npz")


def _number(cell: str, *, path: Path, column: str, row: int) -> float:
    try:
        value = float(cell)
    except ValueError:
        raise DataError(
            f"data file {str(path)!r} column {column!r} row {row}: {cell!r} is not a number"
        ) from None
    if not math.isfinite(value):
        raise DataError(f"data file {str(path)!r} column {column!r} row {row} holds {cell!r}")
    return value


def _numeric(array: np.ndarray, *, path: Path, name: str, ndim: int) -> np.ndarray:
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise DataError(
            f"data file {str(path)!r}: array {name!r} has dtype {array.dtype}, not numbers"
        )
    if array.ndim != ndim or array.shape[0] == 0:
        raise DataError(
            f"data file {str(path)!r}: array {name!r} has shape {array.shape}; "
            f"expected {ndim} dimension(s) and at least one row"
        )
    if not np.isfinite(array).all():
        raise DataError(f"data file {str(path)!r}: array {name!r} holds NaN or infinite values")
    return array


def _check_labels(labels: torch.Tensor, *, path: Path) -> torch.Tensor:
    if (labels != labels.round()).any() or (labels < 0).any():
        raise DataError(f"data file {str(path)!r}: labels must be whole numbers from 0 upwards")
    return labels.long()
