"""Text tables: a column of strings and, to train on, a column of labels.

A text table is a CSV file (a header row, then one row per text; quote texts that hold commas
or line breaks), a Parquet file, or JSON lines (``.jsonl``: one object per line, such as
``{"text": "a fine film", "label": "pos"}``). Texts are read as strings whatever they look like
(a review of ``42`` is the text ``"42"``); labels too, so a task can name its classes by them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from ..core.exceptions import DataError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from ..seam.specs import TensorSpec

__all__ = ["TEXT_SUFFIXES", "read_text_inputs", "read_texts"]

TEXT_SUFFIXES = (".csv", ".jsonl", ".parquet")


def read_texts(
    path: Path, *, text_column: str, label_column: str | None = None
) -> tuple[list[str], list[str] | None]:
    """The texts of ``text_column`` and, if ``label_column`` is given, the labels, as strings.

    Raises:
        DataError: If the file is missing, not a text table or unreadable, has no rows, lacks a
            column, or a text is null or a label null or empty; the message names the row.
    """
    where = f"data file {str(path)!r}"
    if not path.is_file():
        raise DataError(f"{where} does not exist")
    suffix = path.suffix.lower()
    if suffix not in TEXT_SUFFIXES:
        raise DataError(f"{where} is not a text table: name a {', '.join(TEXT_SUFFIXES)} file")
    columns = [text_column] if label_column is None else [text_column, label_column]
    table = _read(path, suffix, columns=columns, where=where)
    if table.num_rows == 0:
        raise DataError(f"{where} has no rows")
    texts = _strings(table, text_column, where=where)
    if label_column is None:
        return texts, None
    labels = _strings(table, label_column, where=where)
    if "" in labels:
        row = labels.index("") + 1
        raise DataError(f"{where}: row {row} has an empty {label_column!r}")
    return texts, labels


def read_text_inputs(path: Path, specs: Sequence[TensorSpec]) -> dict[str, list[str]]:
    """A text model's inputs for prediction: each the column named as the input.

    Raises:
        DataError: If the file is not a readable text table with those columns, or the model
            takes numbers too (those come from Python: ``Predictor.predict``).
    """
    numeric = [spec.name for spec in specs if not spec.is_text]
    if numeric:
        raise DataError(
            f"data file {str(path)!r}: the model takes numbers {numeric} beside text; predict "
            "from Python with Predictor.predict"
        )
    return {spec.name: read_texts(path, text_column=spec.name)[0] for spec in specs}


def _read(path: Path, suffix: str, *, columns: list[str], where: str) -> pa.Table:
    """The table's ``columns``, read by pyarrow.

    Raises:
        DataError: If the file cannot be read or lacks one of ``columns``.
    """
    try:
        if suffix == ".parquet":
            names = pq.ParquetFile(path).schema_arrow.names
            _check_columns(names, columns, where=where)
            return pq.read_table(path, columns=columns)
        if suffix == ".csv":
            convert = pa_csv.ConvertOptions(
                column_types=dict.fromkeys(columns, pa.string()), strings_can_be_null=False
            )
            table = pa_csv.read_csv(path, convert_options=convert)
        else:
            table = pa_json.read_json(path)
    except (OSError, pa.ArrowException) as err:
        raise DataError(f"{where} cannot be read as a text table: {_first_line(err)}") from err
    _check_columns(table.column_names, columns, where=where)
    return table.select(columns)


def _check_columns(names: list[str], columns: list[str], *, where: str) -> None:
    missing = [column for column in columns if column not in names]
    if missing:
        raise DataError(f"{where} has no column {missing[0]!r}; its columns are {names}")


def _strings(table: pa.Table, column: str, *, where: str) -> list[str]:
    """One column's values as strings; a null is refused with its row (1 is the first)."""
    values: Any = table.column(column)
    nulls = pc.is_null(values)
    if pc.any(nulls).as_py():
        row = pc.index(nulls, value=True).as_py() + 1
        raise DataError(f"{where}: row {row} has no {column!r} (empty or null)")
    try:
        strings: list[str] = pc.cast(values, pa.string()).to_pylist()
    except pa.ArrowException as err:
        raise DataError(f"{where}: column {column!r} is not text: {_first_line(err)}") from err
    return strings


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
