"""Checks a ``.pt2`` archive before ``torch.export.load`` reads it, so that it runs no code.

``torch.export.load`` trusts its file: it unpickles the example inputs (falling back to an unsafe
unpickler when the safe one refuses them), unpickles weights and constants its configs mark as
pickled, loads compiled libraries and custom objects, evaluates the graph's symbolic sizes with
``sympy.sympify`` and runs its guards as Python source. Any of these runs code planted in the file.

``read_program`` reads the file once and refuses it unless it holds only what
``torch.export.save`` writes for a program of plain tensors: the archive's records, read by
torch's zip reader and by Python's alike, are the known ones; weights and constants are raw bytes,
never pickled; the example inputs load with ``torch.load(weights_only=True)``, so torch never
falls back; the program has no guard code, every call names an operator, and every symbolic size
is an expression of sympy's and torch's size functions only. The bytes it returns are the ones
checked, for ``torch.export.load`` to read from memory.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from typing import TYPE_CHECKING, Any

import torch
from torch.export.pt2_archive import PT2ArchiveReader

from ..core.exceptions import PackageInvalidError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = ["read_program"]

_MODEL = "models/model.json"
_WEIGHTS_CONFIG = "data/weights/model_weights_config.json"
_CONSTANTS_CONFIG = "data/constants/model_constants_config.json"
_SAMPLE_INPUTS = "data/sample_inputs/model.pt"
# Every record torch.export.save writes for one program of tensors, relative to the archive's
# root folder. Compiled libraries, custom objects, extra files and legacy pickles are not here.
_RECORDS = re.compile(
    r"archive_format|archive_version|byteorder|\.data/version|\.data/serialization_id"
    r"|models/model\.json|data/sample_inputs/model\.pt"
    r"|data/weights/model_weights_config\.json|data/weights/weight_[0-9]+"
    r"|data/constants/model_constants_config\.json|data/constants/tensor_[0-9]+"
)
_PAYLOADS = {_WEIGHTS_CONFIG: "weight_", _CONSTANTS_CONFIG: "tensor_"}
# An operator (torch.ops.<namespace>.<name>[.<overload>]) or a Python operator on sizes.
_TARGET = re.compile(
    r"torch\.ops\.[a-z][a-z0-9_]*\.[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)?"
    r"|_operator\.[a-z_]+|math\.[a-z]+|torch\.sym_[a-z]+"
)
# A symbolic size as torch writes it, e.g. Symbol('s77', positive=True, integer=True): names,
# numbers, quoted symbol names or numbers, and operators; no attribute, subscript or string else.
_EXPRESSION = re.compile(
    r"(?:\s+|[A-Za-z][A-Za-z0-9]*|'(?:[a-z]+[0-9]+|[0-9.eE+-]+)'"
    r"|[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|[-()+*/%<>=!,&|~])*"
)
_SYMBOL = re.compile(r"[a-z]+[0-9]+")
# The names a size expression may use: sympy's classes and assumptions, and the functions of
# torch.utils._sympy.functions as torch's deserializer names them.
_SYMPY_NAMES = frozenset(
    (  # noqa: SIM905 (a word list: one name per line would take 70 lines)
        "Symbol Dummy Integer Float Rational Add Mul Pow Mod Max Min Abs Eq Ne Lt Le Gt Ge And Or "
        "Not Piecewise ITE oo zoo nan true false True False S Zero One NegativeOne Half "
        "StrictLessThan StrictGreaterThan LessThan GreaterThan Equality "
        "Unequality "  # codespell:ignore unequality (sympy's name for !=)
        "positive negative nonnegative nonpositive integer real finite infinite zero nonzero "
        "even odd precision FloorDiv ModularIndexing Where PythonMod CleanDiv CeilToInt FloorToInt "
        "CeilDiv LShift RShift PowByNatural FloatPow FloatTrueDiv IntTrueDiv "
        "IsNonOverlappingAndDenseIndicator TruncToFloat TruncToInt RoundToInt RoundDecimal "
        "ToFloat Identity"
    ).split()
)


def read_program(path: Path) -> bytes:
    """The bytes of the ``.pt2`` file at ``path``, once checked to load without running code.

    Raises:
        PackageInvalidError: If the file cannot be read, is not a ``.pt2`` archive, or holds an
            entry that loading could run code from; the message names the file and the entry.
    """
    try:
        data = path.read_bytes()
    except OSError as err:
        raise PackageInvalidError(f"cannot read {str(path)!r}: {err.strerror or err}") from err
    records = _records(data, where=path)
    reader = PT2ArchiveReader(io.BytesIO(data))
    if _MODEL not in records:
        raise _refused(path, _MODEL, "is missing: the archive holds no program")
    for name in (_WEIGHTS_CONFIG, _CONSTANTS_CONFIG, _MODEL):
        if name not in records:
            continue
        document = _json(reader, name, where=path)
        try:
            if name == _MODEL:
                _check_program(document, where=path)
            else:
                _check_payloads(document, name, records, where=path)
        except RecursionError as err:
            raise _refused(path, name, "is nested too deeply to check") from err
    if _SAMPLE_INPUTS in records:
        _check_sample_inputs(reader.read_bytes(_SAMPLE_INPUTS), where=path)
    return data


def _refused(path: Path, entry: str, reason: str) -> PackageInvalidError:
    return PackageInvalidError(
        f"{str(path)!r} is refused: its entry {entry!r} {reason}; loading it could run code, so "
        "it is never loaded (export the model again to replace it)"
    )


def _records(data: bytes, *, where: Path) -> set[str]:
    """The archive's records below its root folder, the same by Python's zip reader and torch's.

    torch.export.load reads the archive with torch's reader, and falls back to Python's for the
    format before torch 2.8: both must list the same known records, in one folder.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise PackageInvalidError(f"{str(where)!r} is not a .pt2 archive: {err}") from err
    root = names[0].partition("/")[0] if names else ""
    records: set[str] = set()
    for name in names:
        folder, _, record = name.partition("/")
        if folder != root or not record:
            raise _refused(where, name, f"lies outside the archive's folder {root!r}")
        if record in records:
            raise _refused(where, name, "appears twice")
        if not _RECORDS.fullmatch(record):
            raise _refused(
                where, record, "is not one torch.export.save writes for a model of tensors"
            )
        records.add(record)
    try:
        listed = set(PT2ArchiveReader(io.BytesIO(data)).get_file_names())
    except Exception as err:  # any failure of torch's reader: it cannot read the archive
        raise PackageInvalidError(
            f"{str(where)!r} is not a .pt2 archive of torch.export: {type(err).__name__}: {err}"
        ) from err
    differ = sorted(records ^ listed)
    if differ:
        raise _refused(where, differ[0], "is not read alike by torch's zip reader and Python's")
    return records


def _json(reader: PT2ArchiveReader, name: str, *, where: Path) -> Any:
    try:
        return json.loads(reader.read_bytes(name))
    except (RuntimeError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _refused(where, name, f"is not JSON ({err})") from err


def _check_payloads(config: Any, name: str, records: set[str], *, where: Path) -> None:
    """Weights and constants must be raw tensor bytes, never pickled, in records of the archive."""
    entries = config.get("config") if isinstance(config, dict) else None
    if not isinstance(entries, dict):
        raise _refused(where, name, "does not map names to payloads")
    folder = name.rpartition("/")[0]
    for key, meta in entries.items():
        if not isinstance(meta, dict) or meta.get("use_pickle") is not False:
            raise _refused(where, name, f"marks {key[:80]!r} as pickled")
        file = meta.get("path_name")
        if not (isinstance(file, str) and file.startswith(_PAYLOADS[name])):
            shown = str(file)[:80]
            raise _refused(where, name, f"stores {key[:80]!r} as {shown!r}, not as raw bytes")
        if f"{folder}/{file}" not in records:
            raise _refused(where, name, f"stores {key[:80]!r} in {file!r}, which it lacks")
    _check_expressions(config, name, where=where)


def _check_program(program: Any, *, where: Path) -> None:
    """The program runs no guard code, calls only operators, and sizes only by expressions."""
    if not isinstance(program, dict):
        raise _refused(where, _MODEL, "is not a JSON object")
    if program.get("guards_code"):
        raise _refused(where, _MODEL, "holds guard code, which would run as Python")
    for node in _nodes(program):
        target = node["target"]
        if not (isinstance(target, str) and _TARGET.fullmatch(target)):
            raise _refused(where, _MODEL, f"calls {str(target)[:80]!r}, which is not an operator")
    _check_expressions(program, _MODEL, where=where)


def _nodes(value: Any) -> Iterator[dict[str, Any]]:
    """Every graph node (an object with a target, inputs and outputs) in a JSON document."""
    if isinstance(value, dict):
        if {"target", "inputs", "outputs"} <= value.keys():
            yield value
        for item in value.values():
            yield from _nodes(item)
    elif isinstance(value, list):
        for item in value:
            yield from _nodes(item)


def _check_expressions(value: Any, entry: str, *, where: Path) -> None:
    """Every ``expr_str`` (torch hands it to ``sympy.sympify``, which evaluates it) is plain."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "expr_str" and not _plain_expression(item):
                raise _refused(
                    where, entry, f"holds {str(item)[:80]!r}, which is not a size expression"
                )
            _check_expressions(item, entry, where=where)
    elif isinstance(value, list):
        for item in value:
            _check_expressions(item, entry, where=where)


def _plain_expression(text: object) -> bool:
    if not isinstance(text, str) or not _EXPRESSION.fullmatch(text):
        return False
    text = re.sub(r"'[^']*'", "", text)  # quoted symbol names and numbers, checked above
    names = re.findall(r"[A-Za-z][A-Za-z0-9]*", re.sub(r"[0-9.]+[eE][+-]?[0-9]+", "", text))
    return all(name in _SYMPY_NAMES or _SYMBOL.fullmatch(name) for name in names)


def _check_sample_inputs(data: bytes, *, where: Path) -> None:
    """The example inputs load with the safe unpickler, so torch never falls back to another."""
    if not data:
        return  # torch reads an empty record as no inputs, unpickling nothing
    try:  # as torch.export.load calls it first, so that it succeeds there too
        torch.load(io.BytesIO(data), weights_only=True)
    except Exception as err:  # any failure would make torch fall back to the unsafe unpickler
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(err))
        what = f"a Python object of {found[1]}" if found else "pickled data that is not tensors"
        raise _refused(where, _SAMPLE_INPUTS, f"holds {what}") from err
