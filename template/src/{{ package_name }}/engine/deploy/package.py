"""Model packages: a trained model and its contract, in a folder that leaves the training code.

``export_package`` writes a folder holding ``model.safetensors`` (the weights) and
``contract.json``: the model's name and version, the schema version of the contract, the task it
was trained for and that task's settings, what the model takes (each input's name, element type
and shape) and what a prediction holds, the model's settings and the data sizes to rebuild it,
where it came from (project and template versions, git commit), and the SHA-256 of the weights
and of the contract itself. With ``formats``, the package also holds the model as a
``torch.export`` program (``model.pt2``) and an ONNX file (``model.onnx``), listed with their
SHA-256 under ``exports`` (see ``portable.py``). ``load_package`` checks all of it and refuses a
package that is incomplete, damaged, changed or of a schema this code does not know; a package of
an older schema is upgraded as it is read (see ``schemas.py``). The checksums catch damage and
accidental edits, not someone who can rewrite the whole folder: that takes a digest kept apart
from the package, such as ``load_package(path, expect_sha256=...)``.

Exporting never deletes a file it did not write: a folder that holds anything besides a model
package is refused, unless ``force`` asks to replace only the package's own files there.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import safetensors.torch
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..checkpoints.model import load_model
from ..core.exceptions import PackageError, PackageInvalidError, PackageNotFoundError
from ..core.files import file_sha256, fsync_folder, fsync_path, write_error
from ..core.provenance import DISTRIBUTION, project_version, template_version
from ..records.run import git_state
from ..seam.specs import OutputSpec, TensorSpec  # noqa: TC001 (pydantic reads them at run time)
from .portable import FILE_NAMES, write_portable
from .schemas import SCHEMA_VERSION, check_digest, contract_digest, upgraded

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..checkpoints.model import LoadedModel
    from .portable import Format

__all__ = [
    "CONTRACT_FILE",
    "PACKAGE_FILES",
    "SCHEMA_VERSION",
    "WEIGHTS_FILE",
    "Contract",
    "ModelPackage",
    "contract_digest",
    "describe_model",
    "export_package",
    "file_sha256",
    "load_package",
    "pinned_sha256",
]

CONTRACT_FILE = "contract.json"
WEIGHTS_FILE = "model.safetensors"
# The files a package may hold, in the order they are replaced: the contract, which names and
# checks the others, last.
PACKAGE_FILES = (WEIGHTS_FILE, *FILE_NAMES.values(), CONTRACT_FILE)
_SHA256_PATTERN = r"^[0-9a-f]{64}$"


class Contract(BaseModel):
    """Everything a caller needs to know about a packaged model, as stored in contract.json."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = Field(description="Version of this contract's layout.")
    name: str = Field(min_length=1, description="Model name.")
    version: str = Field(min_length=1, description="Model version.")
    created: str = Field(description="When the package was written (UTC, ISO 8601).")
    task: str = Field(min_length=1, description="The task class the model was trained for.")
    settings: dict[str, Any] = Field(description="The task's settings (config section task).")
    inputs: list[TensorSpec] = Field(min_length=1, description="What the model takes.")
    output: OutputSpec = Field(description="What a prediction holds.")
    model: dict[str, Any] = Field(description="The model's settings (config section model).")
    sizes: dict[str, int] = Field(description="The data sizes the model was built for.")
    project_version: str = Field(description="Version of the project that exported the model.")
    template_version: str = Field(description="Template version the project came from.")
    git_commit: str | None = Field(description="Project commit at export; null outside git.")
    weights_sha256: str = Field(pattern=_SHA256_PATTERN, description="SHA-256 of the weights.")
    exports: dict[str, Annotated[str, Field(pattern=_SHA256_PATTERN)]] = Field(
        default_factory=dict,
        description="The model in portable formats: file name (model.pt2, model.onnx) to SHA-256.",
    )
    contract_sha256: str = Field(
        pattern=_SHA256_PATTERN, description="SHA-256 of this contract without this field."
    )

    @field_validator("exports")
    @classmethod
    def _known_files(cls, exports: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(exports) - set(FILE_NAMES.values()))
        if unknown:
            known = sorted(FILE_NAMES.values())
            raise ValueError(f"{unknown} are not files of a portable format: {known}")
        return exports

    @property
    def input_names(self) -> list[str]:
        """The inputs' names, in order."""
        return [spec.name for spec in self.inputs]


@dataclass(frozen=True)
class ModelPackage:
    """A checked model package: its folder and its contract (weights stay on disk)."""

    path: Path
    contract: Contract

    @property
    def weights_path(self) -> Path:
        """The safetensors file holding the model weights."""
        return self.path / WEIGHTS_FILE


def export_package(
    checkpoint: Path,
    output: Path,
    *,
    name: str = DISTRIBUTION,
    version: str | None = None,
    labels: Sequence[str] | None = None,
    formats: Sequence[Format] = (),
    force: bool = False,
) -> ModelPackage:
    """Write the model of ``checkpoint`` as a model package in the folder ``output``.

    The package is written into a staging folder beside ``output`` and flushed to disk before it
    replaces anything, so a crash or a full disk never leaves a half-written package, and an
    earlier package stays as it was. An earlier package is replaced; files that are not the
    package's own are never deleted.

    Args:
        checkpoint: Checkpoint, checkpoints or run folder, or a ``last``/``best`` pointer.
        output: Folder to write; it must not exist, be empty, or hold only a model package.
        name: Model name recorded in the contract.
        version: Model version recorded in the contract; by default the project's version.
        labels: Names of the task's classes or outputs, in order (see ``Task.output_spec``).
        formats: Portable formats to add beside the safetensors weights (``torch-export``,
            ``onnx``), each checked against the model's outputs as it is written.
        force: Write into a folder that holds other files too, replacing only the package's own
            files (``PACKAGE_FILES``) and keeping the others.

    Returns:
        The package as ``load_package`` reads it back.

    Raises:
        CheckpointNotFoundError: If there is no checkpoint at ``checkpoint``.
        CheckpointInvalidError: If the checkpoint is corrupt.
        PackageError: If ``output`` is a file, lies under a file, or holds other files and
            ``force`` is not given, or ``labels`` does not fit the task's outputs.
        StorageError: If the package cannot be written, such as on a full disk.
    """
    loaded = load_model(checkpoint, device=torch.device("cpu"))
    output, keeps_others = _checked_output(output, force=force)
    staging = output.with_name(f".{output.name}.tmp")
    try:
        shutil.rmtree(staging, ignore_errors=True)  # from a crash during an earlier export
        staging.mkdir(parents=True)
        safetensors.torch.save_model(loaded.model, str(staging / WEIGHTS_FILE))
        exports = _write_exports(loaded, formats, staging=staging, labels=labels)
        contract = describe_model(
            loaded,
            name=name,
            version=version or project_version(),
            labels=labels,
            weights_sha256=file_sha256(staging / WEIGHTS_FILE),
            git_commit=git_state()["commit"],
            exports=exports,
        )
        text = json.dumps(contract.model_dump(mode="json"), indent=2) + "\n"
        (staging / CONTRACT_FILE).write_text(text, encoding="utf-8")
        fsync_folder(staging)
        _move_into_place(staging, output, in_place=keeps_others)
    except (OSError, RuntimeError, safetensors.SafetensorError) as err:
        raise write_error(output, err, what="model package") from err
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return load_package(output)


def describe_model(
    loaded: LoadedModel,
    *,
    name: str,
    version: str,
    labels: Sequence[str] | None,
    weights_sha256: str,
    git_commit: str | None,
    exports: dict[str, str] | None = None,
) -> Contract:
    """Build the contract of a loaded model: what it takes, returns and where it came from.

    Raises:
        PackageError: If ``labels`` does not fit the task's outputs.
    """
    fields: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "name": name,
        "version": version,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "task": type(loaded.task).__name__,
        "settings": loaded.config.task.model_dump(mode="json"),
        "inputs": loaded.task.input_specs(loaded.sizes),
        "output": loaded.task.output_spec(loaded.sizes, labels=labels),
        "model": loaded.config.model.model_dump(mode="json"),
        "sizes": loaded.sizes,
        "project_version": project_version(),
        "template_version": template_version(),
        "git_commit": git_commit,
        "weights_sha256": weights_sha256,
        "exports": exports or {},
    }
    unsigned = Contract.model_construct(**fields).model_dump(
        mode="json", exclude={"contract_sha256"}
    )
    return Contract.model_validate({**unsigned, "contract_sha256": contract_digest(unsigned)})


def load_package(path: Path, *, expect_sha256: str | None = None) -> ModelPackage:
    """Read and check a model package: its contract, schema version and every checksum.

    A contract of schema 1 or 2 carries no checksum of its own, so only its files are checked;
    one that cannot be of the schema it claims is refused (see ``schemas.py``). The checksums
    catch damage and accidental edits, not someone who rewrites the whole folder: pin a package
    you trust with ``expect_sha256``.

    Args:
        path: The package folder.
        expect_sha256: The ``contract_sha256`` the package must have (``export`` prints it).

    Raises:
        PackageNotFoundError: If ``path`` is not a folder holding contract.json.
        PackageInvalidError: If the contract is malformed, of an unknown schema version, or not
            what ``expect_sha256`` pins, or the contract or a file does not match its checksum.
        PackageError: If ``expect_sha256`` is not a SHA-256 (64 hexadecimal digits).
    """
    expected = None if expect_sha256 is None else pinned_sha256(expect_sha256)
    contract_file = path / CONTRACT_FILE
    if not contract_file.is_file():
        raise PackageNotFoundError(f"no model package at {str(path)!r}: {CONTRACT_FILE} missing")
    try:
        raw = json.loads(contract_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PackageInvalidError(f"cannot read {str(contract_file)!r}: {err}") from err
    contract = _validated(upgraded(raw, where=contract_file), where=contract_file)
    check_digest(raw, where=contract_file)
    if expected is not None and contract.contract_sha256 != expected:
        raise PackageInvalidError(
            f"{str(contract_file)!r} has contract_sha256 {contract.contract_sha256}, not the "
            f"expected {expected}: this is not the pinned package"
        )
    for file, digest in {WEIGHTS_FILE: contract.weights_sha256, **contract.exports}.items():
        _check_file(path / file, digest)
    return ModelPackage(path=path, contract=contract)


def pinned_sha256(value: str) -> str:
    """A ``contract_sha256`` to pin a package by, in lower case.

    Raises:
        PackageError: If ``value`` is not 64 hexadecimal digits.
    """
    digest = value.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise PackageError(
            f"{value[:80]!r} is not a SHA-256: expected the 64 hexadecimal digits of a package's "
            "contract_sha256, as export prints it"
        )
    return digest


def _check_file(path: Path, expected: str) -> None:
    """Refuse a package file that is missing or whose SHA-256 is not the contract's."""
    if not path.is_file():
        raise PackageInvalidError(f"model package {str(path.parent)!r} has no {path.name}")
    actual = file_sha256(path)
    if actual != expected:
        raise PackageInvalidError(
            f"{str(path)!r} has SHA-256 {actual}, but the contract says {expected}: the package "
            "was changed after export"
        )


def _write_exports(
    loaded: LoadedModel,
    formats: Sequence[Format],
    *,
    staging: Path,
    labels: Sequence[str] | None,
) -> dict[str, str]:
    """Write the model in each portable format into ``staging``; return file name to SHA-256."""
    exports: dict[str, str] = {}
    specs = loaded.task.input_specs(loaded.sizes)
    loaded.task.output_spec(loaded.sizes, labels=labels)  # bad labels fail before a slow export
    for fmt in dict.fromkeys(formats):
        if fmt == "safetensors":  # always written
            continue
        path = staging / FILE_NAMES[fmt]
        write_portable(fmt, loaded.model, task=loaded.task, specs=specs, path=path)
        exports[path.name] = file_sha256(path)
    return exports


def _validated(raw: dict[str, Any], *, where: Path) -> Contract:
    try:
        return Contract.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'contract'}: {error['msg']}"
            for error in err.errors()
        )
        raise PackageInvalidError(f"{str(where)!r} is not a valid contract: {problems}") from err


def _checked_output(output: Path, *, force: bool) -> tuple[Path, bool]:
    """``output`` as an absolute path, and whether it holds files to keep beside the package.

    Raises:
        PackageError: If ``output`` cannot hold a package, or holds other files without
            ``force``.
    """
    output = output.resolve()  # "." and ".." name no folder to stage beside
    if output == Path(output.anchor):
        raise PackageError(f"cannot write a model package to {str(output)!r}: choose a folder")
    above = output
    while not above.exists():
        above = above.parent
    if not above.is_dir():
        raise PackageError(
            f"cannot write a model package to {str(output)!r}: {str(above)!r} is a file, "
            "not a folder"
        )
    if above != output:
        return output, False
    others = sorted(path.name for path in output.iterdir() if path.name not in PACKAGE_FILES)
    if others and not force:
        shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
        raise PackageError(
            f"{str(output)!r} holds files that are not a model package's ({shown}): choose a new "
            "or empty folder, or pass --force to replace only the package's own files there"
        )
    # Folders that hold other files, or the working directory, are never swapped out.
    return output, bool(others) or Path.cwd().resolve().is_relative_to(output)


def _move_into_place(staging: Path, output: Path, *, in_place: bool) -> None:
    """Make the package in ``staging`` the one at ``output``.

    A new folder is renamed into place. An existing one is swapped for the staging folder
    (moved aside, then deleted) or, with ``in_place``, has its package files replaced one by
    one, weights first: a crash between the two leaves a package that fails its checksum and is
    refused, never a wrong model.
    """
    if not output.exists():
        staging.rename(output)
    elif in_place:
        for name in PACKAGE_FILES:  # an export the new package lacks stays; its contract omits it
            if (staging / name).exists():
                (staging / name).replace(output / name)
    else:
        retired = output.with_name(f".{output.name}.old")
        shutil.rmtree(retired, ignore_errors=True)
        output.rename(retired)
        try:
            staging.rename(output)
        except OSError:
            retired.rename(output)
            raise
        shutil.rmtree(retired)
    fsync_path(output.parent)
