"""Tables of numbers from CSV and Parquet files, read with pyarrow into one float32 array.

A CSV file is parsed in blocks on every core and each block is copied straight into an array
allocated once for the whole table, so reading takes about as long as pandas does and about as
much memory as the array itself (decision 0013). A Parquet file is read a row group at a time the
same way. A problem is reported as a ``DataError`` naming the file, the column and the row (a CSV
row counts the header as row 1; a Parquet row counts from 1).
"""

from __future__ import annotations

import csv
import math
import re
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import torch

from .exceptions import DataError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = ["column_names", "csv_header", "parse_number", "read_table"]

_ARROW_ROW = re.compile(r"Row #(\d+)")
_BLOCK_BYTES = 1 << 18  # pyarrow's CSV blocks of 256 KiB, parsed on every core
_COUNT_CHUNK = 1 << 24


def read_table(
    path: Path, *, label_column: str, need_labels: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Read a CSV or Parquet table: float32 features and, if present, its label column (float64).

    Every column but ``label_column`` is a feature.

    Raises:
        DataError: If the table is empty, lacks the label column, or holds a non-number or NaN.
    """
    if path.suffix.lower() == ".parquet":
        return _read_parquet(path, label_column=label_column, need_labels=need_labels)
    return _read_csv(path, label_column=label_column, need_labels=need_labels)


def column_names(path: Path) -> list[str]:
    """The column names of a CSV or Parquet table."""
    if path.suffix.lower() == ".parquet":
        return list(_parquet_file(path).schema_arrow.names)
    return csv_header(path)


def csv_header(path: Path) -> list[str]:
    """The header of a CSV file, names stripped.

    Raises:
        DataError: If the file is not UTF-8 text or its first row is blank.
    """
    try:
        with path.open(newline="", encoding="utf-8-sig") as file:
            first = next(csv.reader(file), [])
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"data file {str(path)!r} is not a readable UTF-8 CSV file: {err}") from err
    if not any(cell.strip() for cell in first):
        raise DataError(f"data file {str(path)!r} is empty")
    return [name.strip() for name in first]


def parse_number(cell: str, *, path: Path, column: str, row: int) -> float:
    """A cell's text as a finite number.

    Raises:
        DataError: If it is not a number, or is NaN or infinite.
    """
    try:
        value = float(cell)
    except ValueError:
        raise DataError(
            f"data file {str(path)!r} column {column!r} row {row}: {cell!r} is not a number"
        ) from None
    if not math.isfinite(value):
        raise DataError(f"data file {str(path)!r} column {column!r} row {row} holds {cell!r}")
    return value


class _Columns:
    """Which columns of a table are features, and which one holds the labels."""

    def __init__(self, names: list[str], *, path: Path, label_column: str, need_labels: bool):
        self.names = names
        self.label = names.index(label_column) if label_column in names else None
        if need_labels and self.label is None:
            raise DataError(
                f"data file {str(path)!r} has no column {label_column!r}; columns: {names}"
            )
        self.features = [index for index in range(len(names)) if index != self.label]
        if not self.features:
            raise DataError(
                f"data file {str(path)!r} has no feature columns besides {label_column!r}"
            )

    def arrow_types(self) -> dict[str, Any]:
        """Pyarrow's type for each column: float32 features, float64 labels."""
        types = {self.names[index]: pa.float32() for index in self.features}
        if self.label is not None:
            types[self.names[self.label]] = pa.float64()
        return types


class _Filling:
    """Record batches copied into one preallocated float32 array, and a float64 label array."""

    def __init__(self, columns: _Columns, *, rows: int, path: Path, first_row: int) -> None:
        self.columns, self.path, self.first_row = columns, path, first_row
        self.features = np.empty((rows, len(columns.features)), dtype=np.float32)
        self.labels = np.empty(rows, dtype=np.float64) if columns.label is not None else None
        self.count = 0

    def add(self, batch: Any) -> None:
        """Copy a record batch (its columns in the table's order) in, checked for NaN."""
        stop = self.count + batch.num_rows
        if stop > len(self.features):  # the row count was an estimate that fell short
            self._grow(stop)
        block = self.features[self.count : stop]  # (n, F)
        for target, index in enumerate(self.columns.features):
            block[:, target] = self._column(batch, index)
        self._check_finite(block, self.columns.features)
        if self.labels is not None and self.columns.label is not None:
            labels = self.labels[self.count : stop]
            labels[:] = self._column(batch, self.columns.label)
            self._check_finite(labels[:, None], [self.columns.label])
        self.count = stop

    def result(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The features ``(N, F)`` and labels ``(N,)`` read so far."""
        features = torch.from_numpy(self.features[: self.count])
        labels = None if self.labels is None else torch.from_numpy(self.labels[: self.count])
        return features, labels

    def _column(self, batch: Any, index: int) -> np.ndarray:
        column = batch.column(index)
        if column.null_count:
            row = self.count + int(np.flatnonzero(column.is_null().to_numpy(False))[0])
            raise DataError(
                f"data file {str(self.path)!r} column {self.columns.names[index]!r} row "
                f"{row + self.first_row} is empty"
            )
        return np.asarray(column.to_numpy(zero_copy_only=False))

    def _grow(self, rows: int) -> None:
        features = np.empty((rows, self.features.shape[1]), dtype=np.float32)
        features[: self.count] = self.features[: self.count]
        self.features = features
        if self.labels is not None:
            labels = np.empty(rows, dtype=np.float64)
            labels[: self.count] = self.labels[: self.count]
            self.labels = labels

    def _check_finite(self, block: np.ndarray, indices: list[int]) -> None:
        finite = np.isfinite(block)
        if finite.all():
            return
        row, column = (int(position[0]) for position in np.nonzero(~finite))
        name = self.columns.names[indices[column]]
        number = self.count + row + self.first_row
        text = _csv_cell(self.path, number, name) or str(block[row, column])
        raise DataError(f"data file {str(self.path)!r} column {name!r} row {number} holds {text!r}")


def _read_csv(
    path: Path, *, label_column: str, need_labels: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    header = csv_header(path)
    columns = _Columns(header, path=path, label_column=label_column, need_labels=need_labels)
    options = pa_csv.ConvertOptions(
        column_types=columns.arrow_types(),
        null_values=[],  # an empty cell or "NA" is text where a number belongs
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    table = _Filling(columns, rows=max(_count_lines(path) - 1, 0), path=path, first_row=2)
    try:
        for batch in _csv_batches(path, header, options, use_threads=True):
            table.add(batch)
    except pa.ArrowInvalid as err:
        raise _csv_problem(path, header, options, err) from err
    if table.count == 0:
        raise DataError(f"data file {str(path)!r} has a header but no rows")
    return table.result()


def _csv_batches(
    path: Path, header: list[str], options: Any, *, use_threads: bool
) -> Iterator[Any]:
    """The record batches of a CSV file's rows, with ``header`` as the column names."""
    yield from pa_csv.open_csv(
        path,
        read_options=pa_csv.ReadOptions(
            column_names=header, skip_rows=1, use_threads=use_threads, block_size=_BLOCK_BYTES
        ),
        parse_options=pa_csv.ParseOptions(ignore_empty_lines=False),  # a blank row is an error
        convert_options=options,
    )


def _count_lines(path: Path) -> int:
    """The lines of a file, the last one with or without its newline."""
    lines, last = 0, b"\n"
    with path.open("rb") as file:
        while chunk := file.read(_COUNT_CHUNK):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (last != b"\n")


def _csv_problem(path: Path, header: list[str], options: Any, err: Exception) -> DataError:
    """The error to report for a CSV file pyarrow refused, naming the row, column and cell.

    pyarrow names the row only when it reads on one thread, so the file is read again that way
    (only after a failure); the row's own text then gives the cell as the file spells it.
    """
    try:
        for _ in _csv_batches(path, header, options, use_threads=False):
            pass
    except pa.ArrowInvalid as serial:
        err = serial
    match = _ARROW_ROW.search(str(err))
    if match is None:
        return DataError(f"data file {str(path)!r} is not a valid CSV table: {err}")
    row = int(match[1])
    cells = _csv_row(path, row)
    if cells is not None and len(cells) != len(header):
        return DataError(
            f"data file {str(path)!r} row {row} has {len(cells)} values, "
            f"the header has {len(header)}"
        )
    for cell, name in zip(cells or [], header, strict=False):
        try:
            parse_number(cell, path=path, column=name, row=row)
        except DataError as problem:
            return problem
    return DataError(f"data file {str(path)!r} row {row}: {err}")


def _csv_row(path: Path, row: int) -> list[str] | None:
    """The cells of row ``row`` (1 is the header) of a CSV file; None past its end.

    Raises:
        DataError: If that row is not UTF-8 text.
    """
    with path.open("rb") as file:
        for number, line in enumerate(file, start=1):
            if number == row:
                try:
                    text = line.decode("utf-8")
                except UnicodeDecodeError as err:
                    raise DataError(
                        f"data file {str(path)!r} is not a readable UTF-8 CSV file: {err}"
                    ) from err
                return next(csv.reader([text.rstrip("\r\n")]), [])
    return None


def _csv_cell(path: Path, row: int, name: str) -> str | None:
    """The text of a CSV file's cell, or None for other files."""
    if path.suffix.lower() != ".csv":
        return None
    cells, header = _csv_row(path, row), csv_header(path)
    return cells[header.index(name)] if cells is not None and len(cells) == len(header) else None


def _parquet_file(path: Path) -> Any:
    try:
        return pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as err:
        raise DataError(f"data file {str(path)!r} is not a readable Parquet file: {err}") from err


def _read_parquet(
    path: Path, *, label_column: str, need_labels: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    parquet = _parquet_file(path)
    schema = parquet.schema_arrow
    columns = _Columns(
        list(schema.names), path=path, label_column=label_column, need_labels=need_labels
    )
    for field in schema:
        if not (pa.types.is_integer(field.type) or pa.types.is_floating(field.type)):
            raise DataError(
                f"data file {str(path)!r} column {field.name!r} holds {field.type}, not numbers"
            )
    table = _Filling(columns, rows=parquet.metadata.num_rows, path=path, first_row=1)
    try:
        for batch in parquet.iter_batches(batch_size=1 << 16):
            table.add(batch)
    except (OSError, pa.ArrowException) as err:
        raise DataError(f"data file {str(path)!r} is not a readable Parquet file: {err}") from err
    if table.count == 0:
        raise DataError(f"data file {str(path)!r} has no rows")
    return table.result()
