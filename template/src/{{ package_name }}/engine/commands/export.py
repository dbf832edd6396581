"""The ``export`` and ``predict`` commands: write a model package, predict with one."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..core.log import setup_logging
from .options import Device, Quiet, Verbose, verbosity

if TYPE_CHECKING:
    from collections.abc import Mapping

    import torch

    from ..seam.specs import TensorSpec

__all__ = ["ExpectSha256", "ExportFormat", "export", "predict"]

ExpectSha256 = Annotated[
    str | None,
    typer.Option(
        "--expect-sha256",
        metavar="SHA256",
        help="Refuse the model package unless its contract_sha256 is this one, as export "
        "printed it.",
        show_default=False,
    ),
]


class ExportFormat(Enum):
    """The formats ``export --format`` writes (see ``inference/portable.py``)."""

    safetensors = "safetensors"
    torch_export = "torch-export"
    onnx = "onnx"


def export(  # noqa: PLR0913, PLR0917 (one parameter per command-line option)
    checkpoint: Annotated[
        Path,
        typer.Argument(
            metavar="CHECKPOINT",
            help="Checkpoint, checkpoints or run folder, or a last or best pointer.",
        ),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", metavar="FOLDER", help="Folder the model package is written to."
        ),
    ],
    name: Annotated[
        str | None,
        typer.Option(
            metavar="NAME", help="Model name in the contract.", show_default="the project's name"
        ),
    ] = None,
    version: Annotated[
        str | None,
        typer.Option(
            metavar="VERSION",
            help="Model version in the contract.",
            show_default="the project's version",
        ),
    ] = None,
    labels: Annotated[
        str | None,
        typer.Option(
            metavar="LABEL,...",
            help="Names of the task's classes or outputs in order, comma-separated.",
            show_default="0,1,...",
        ),
    ] = None,
    formats: Annotated[
        list[ExportFormat] | None,
        typer.Option(
            "--format",
            "-f",
            metavar="FORMAT",
            help="Also write the model as a torch.export program (torch-export: model.pt2) or "
            "an ONNX file (onnx: model.onnx, needs the onnx group), each checked against the "
            "model's outputs; repeatable.",
            show_default="safetensors only",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            metavar="",
            help="Write into a folder that holds other files too: replace only the package's "
            "own files there (the other files are always kept).",
        ),
    ] = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Write a model package: safetensors weights and a contract.json to load and check them by.

    An earlier package in the output folder is replaced; a folder that holds other files is
    refused unless --force is given, and its other files are never deleted.
    """
    setup_logging(verbosity(quiet=quiet, verbose=verbose))
    from ..deploy.package import export_package  # noqa: PLC0415 (keeps --help fast)

    identity = {key: value for key, value in (("name", name), ("version", version)) if value}
    package = export_package(
        checkpoint,
        output,
        labels=None if labels is None else [label.strip() for label in labels.split(",")],
        formats=[fmt.value for fmt in formats or []],
        force=force,
        **identity,
    )
    contract = package.contract
    inputs = ", ".join(f"{spec.name} {spec.dtype}{_shape(spec.shape)}" for spec in contract.inputs)
    typer.echo(
        f"wrote model package {package.path}: {contract.name} {contract.version}, "
        f"{contract.output.kind} of {inputs}"
    )
    for file in contract.exports:
        typer.echo(f"with {package.path / file}: checked against the PyTorch model's outputs")
    typer.echo(f"contract_sha256 {contract.contract_sha256} (pin it with --expect-sha256)")


def predict(  # noqa: PLR0913, PLR0917 (one parameter per command-line option)
    model: Annotated[
        Path,
        typer.Argument(
            metavar="MODEL",
            help="Model package from `export` (or its model.pt2 or model.onnx), or a "
            "checkpoint, checkpoints or run folder.",
        ),
    ],
    inputs: Annotated[
        list[Path],
        typer.Argument(
            metavar="INPUT...",
            help="CSV file of features (the label column is ignored), or .npz archive with one "
            "array per model input; for a model that takes images, image files and folders "
            "of them; for one that takes text, a CSV, Parquet or JSON lines file with a column "
            "per text input (named as the input).",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", metavar="PATH", help="CSV file the predictions are written to."
        ),
    ] = Path("predictions.csv"),
    label_column: Annotated[
        str,
        typer.Option(metavar="NAME", help="Column of a CSV file that holds labels, not features."),
    ] = "label",
    device: Device = "auto",
    batch_size: Annotated[
        int, typer.Option(min=1, metavar="ROWS", help="Rows per forward pass.")
    ] = 1024,
    expect_sha256: ExpectSha256 = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Predict every row of INPUT, or every image: what a prediction holds is the task's."""
    setup_logging(verbosity(quiet=quiet, verbose=verbose))
    from ..core.device import resolve_device  # noqa: PLC0415
    from ..core.exceptions import InputValidationError  # noqa: PLC0415
    from ..data.image_folder import image_paths  # noqa: PLC0415 (keeps --help fast)
    from ..deploy.predictor import Predictor, write_predictions  # noqa: PLC0415

    for input_path in inputs:
        _check_output(output, input_path)
    images = image_paths(inputs)
    predictor = Predictor.load(model, device=resolve_device(device), expect_sha256=expect_sha256)
    values = _read(inputs, images, predictor.contract.inputs, label_column=label_column)
    try:
        predictions = predictor.predict(values, batch_size=batch_size)
    except InputValidationError as err:  # it names the input and the row; add the file
        raise InputValidationError(f"data file {str(inputs[0])!r}: {err}") from err
    files = None if images is None else [str(path) for path in images]
    try:
        write_predictions(output, predictions, files=files)
    except OSError as err:  # a StorageError (no strerror) says what it could not write, and why
        reason = err.strerror and f"cannot write {str(output)!r}: {err.strerror}"
        raise typer.BadParameter(reason or str(err), param_hint="--output") from err
    typer.echo(f"wrote {len(predictions)} predictions to {output}")


def _read(
    inputs: list[Path],
    images: list[Path] | None,
    specs: list[TensorSpec],
    *,
    label_column: str,
) -> Mapping[str, torch.Tensor | list[str]]:
    """The model's inputs: from images, or from the one CSV or .npz file given.

    Raises:
        DataError: If the files do not fit the model's inputs.
    """
    from ..core.exceptions import DataError  # noqa: PLC0415
    from ..data.files import read_inputs  # noqa: PLC0415
    from ..data.images import read_images  # noqa: PLC0415
    from ..data.texts import read_text_inputs  # noqa: PLC0415

    if images is not None:
        if len(specs) != 1:
            raise DataError(f"images are one input, the model takes {[s.name for s in specs]}")
        return {specs[0].name: read_images(images, specs[0])}
    if len(inputs) != 1:
        raise DataError(
            f"{len(inputs)} inputs given: pass one CSV or .npz file, or image files and folders"
        )
    if any(spec.is_text for spec in specs):
        return read_text_inputs(inputs[0], specs)
    return read_inputs(inputs[0], specs, label_column=label_column)


def _check_output(output: Path, input_path: Path) -> None:
    """Refuse an output that is the input file or a folder, before the model is loaded."""
    if output.exists() and input_path.exists() and output.samefile(input_path):
        raise typer.BadParameter(
            f"{str(output)!r} is the input file; write the predictions to another file",
            param_hint="--output",
        )
    if output.is_dir():
        raise typer.BadParameter(
            f"{str(output)!r} is a folder; name the CSV file to write, such as "
            f"{str(output / 'predictions.csv')!r}",
            param_hint="--output",
        )


def _shape(shape: list[int | None]) -> str:
    return "[" + ", ".join("N" if size is None else str(size) for size in shape) + "]"
