"""The schemas of a package's contract: the checksum, and how an older contract is read.

Schema 3 added ``contract_sha256``, the SHA-256 of the contract itself; schema 4 added
``exports``. A contract of schema 1 or 2 has no checksum of its own (only its weights are
checked), so it is upgraded as it is read, and refused when it cannot be what it claims: one
that holds a field its schema did not have, or that records a template version which writes
signed contracts, is a newer contract rewritten to skip its checksum. A contract of schema 3 or
later without its checksum is refused likewise.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import TYPE_CHECKING, Any

from ..core.exceptions import PackageInvalidError
from ..core.provenance import template_version

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

__all__ = ["SCHEMA_VERSION", "SIGNED_SINCE", "check_digest", "contract_digest", "upgraded"]

SCHEMA_VERSION = 4
SIGNED_SINCE = 3  # the first schema with contract_sha256
# The last template release that wrote unsigned contracts (schema 2): 0.1.
_LAST_UNSIGNED_RELEASE = (0, 1)
_WRITTEN_BY_ALL = frozenset(
    {"schema_version", "name", "version", "created", "model", "template_version", "git_commit"}
)
# The fields each unsigned schema wrote: a contract that claims one holds no others.
_UNSIGNED_FIELDS = {
    1: _WRITTEN_BY_ALL | {"weights_sha256", "num_features", "num_classes"},
    2: _WRITTEN_BY_ALL | {"weights_sha256", "input", "output"},
}


def contract_digest(contract: dict[str, Any]) -> str:
    """SHA-256 of a contract's canonical JSON (sorted keys), leaving out ``contract_sha256``."""
    unsigned = {key: value for key, value in contract.items() if key != "contract_sha256"}
    canonical = json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def upgraded(raw: object, *, where: Path) -> dict[str, Any]:
    """``raw``, a contract as read from ``where``, checked for what it claims and upgraded.

    A signed contract (schema 3 or later) must hold its ``contract_sha256`` (``check_digest``
    checks it); an unsigned one must be what its schema wrote.

    Raises:
        PackageInvalidError: If ``raw`` is not an object, its schema version is unknown, it
            lacks its checksum, or it claims an unsigned schema it cannot be of.
    """
    if not isinstance(raw, dict):
        raise PackageInvalidError(
            f"{str(where)!r} must hold a JSON object, not {type(raw).__name__}"
        )
    version = raw.get("schema_version")
    readable = f"1 to {SCHEMA_VERSION}"
    if not isinstance(version, int) or isinstance(version, bool):
        raise PackageInvalidError(
            f"{str(where)!r} has schema_version {version!r}: expected an integer from {readable}"
        )
    if not 1 <= version <= SCHEMA_VERSION:
        raise PackageInvalidError(
            f"{str(where)!r} has schema_version {version}, this code reads {readable}"
        )
    if version >= SIGNED_SINCE:
        _check_signed(raw, where=where)
    else:
        _check_unsigned(raw, version, where=where)
    while raw["schema_version"] < SCHEMA_VERSION:
        try:
            raw = _UPGRADES[raw["schema_version"]](raw)
        except ValueError as err:
            raise PackageInvalidError(f"{str(where)!r}: {err}") from err
    return raw


def _check_signed(raw: dict[str, Any], *, where: Path) -> None:
    if "contract_sha256" not in raw:
        raise PackageInvalidError(
            f"{str(where)!r} has no contract_sha256, which every contract of schema "
            f"{SIGNED_SINCE} or later holds: the contract was changed after export"
        )


def check_digest(raw: dict[str, Any], *, where: Path) -> None:
    """Refuse a signed contract, as read from ``where``, that does not match its checksum.

    A contract of an unsigned schema (1 or 2) passes: it has no checksum of its own.

    Raises:
        PackageInvalidError: If the contract was changed after export.
    """
    signed = raw.get("schema_version", 0) >= SIGNED_SINCE
    if signed and contract_digest(raw) != raw.get("contract_sha256"):
        raise PackageInvalidError(
            f"{str(where)!r} does not match its contract_sha256: the contract was changed after "
            "export"
        )


def _check_unsigned(raw: dict[str, Any], version: int, *, where: Path) -> None:
    """Refuse a contract that claims an unsigned schema but cannot have been written as one."""
    newer = sorted(set(raw) - _UNSIGNED_FIELDS[version])
    if newer:
        shown = ", ".join(newer[:4]) + (f" and {len(newer) - 4} more" if len(newer) > 4 else "")
        raise PackageInvalidError(
            f"{str(where)!r} has schema_version {version} but fields that schema never had "
            f"({shown}): a contract rewritten to an older schema is refused, as it would skip "
            "the contract's checksum"
        )
    written_by = raw.get("template_version")
    if isinstance(written_by, str) and _signs_contracts(written_by):
        raise PackageInvalidError(
            f"{str(where)!r} has schema_version {version}, without a contract_sha256, but "
            f"records template version {written_by}, which writes schema {SCHEMA_VERSION} "
            "contracts with their checksum: the contract was rewritten after export"
        )


def _signs_contracts(written_by: str) -> bool:
    """Whether the template version ``written_by`` writes signed contracts.

    This template version does, and so does every release after the last unsigned one.
    """
    if written_by != "unknown" and written_by == template_version():
        return True
    release = re.match(r"v?([0-9]+)\.([0-9]+)", written_by)
    return release is not None and (int(release[1]), int(release[2])) > _LAST_UNSIGNED_RELEASE


def _upgrade_from_1(raw: dict[str, Any]) -> dict[str, Any]:
    """Schema 1 kept ``num_features`` and ``num_classes`` flat; 2 groups input and output."""
    upgraded = {
        key: value for key, value in raw.items() if key not in {"num_features", "num_classes"}
    }
    num_features, num_classes = raw.get("num_features"), raw.get("num_classes")
    if not isinstance(num_features, int) or not isinstance(num_classes, int):
        raise ValueError("schema 1 needs integer num_features and num_classes")
    upgraded["input"] = {
        "num_features": num_features,
        "shape": [None, num_features],
        "dtype": "float32",
    }
    upgraded["output"] = {"kind": "classification", "labels": [str(i) for i in range(num_classes)]}
    upgraded["schema_version"] = 2
    return upgraded


def _upgrade_from_2(raw: dict[str, Any]) -> dict[str, Any]:
    """Schema 2 described tabular classification only; 3 describes any task's inputs and outputs.

    Every schema-2 package holds a classifier of feature rows, the task now called
    ``Classification``, with default settings.
    """
    upgraded = {key: value for key, value in raw.items() if key not in {"input", "output"}}
    source_input, source_output = raw.get("input"), raw.get("output")
    if not isinstance(source_input, dict) or not isinstance(source_output, dict):
        raise ValueError("schema 2 needs the objects input and output")
    num_features, labels = source_input.get("num_features"), source_output.get("labels")
    if not isinstance(num_features, int) or not isinstance(labels, list):
        raise ValueError("schema 2 needs input.num_features and output.labels")
    upgraded["inputs"] = [{"name": "features", "dtype": "float32", "shape": [None, num_features]}]
    upgraded["output"] = {
        "kind": "classification",
        "fields": [
            {"name": "prediction", "shape": [None], "names": labels},
            {"name": "probability", "shape": [None, len(labels)], "names": labels},
        ],
    }
    upgraded |= {
        "schema_version": 3,
        "task": "Classification",
        "settings": {},
        "sizes": {"num_features": num_features, "num_classes": len(labels)},
        "project_version": raw.get("version", "unknown"),
    }
    upgraded["contract_sha256"] = contract_digest(upgraded)
    return upgraded


def _upgrade_from_3(raw: dict[str, Any]) -> dict[str, Any]:
    """Schema 4 adds ``exports``, the portable formats; a schema-3 package has none."""
    return {**raw, "exports": {}, "schema_version": 4}


# Each step lifts a contract of the given schema version to the next one.
_UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {
    1: _upgrade_from_1,
    2: _upgrade_from_2,
    3: _upgrade_from_3,
}
