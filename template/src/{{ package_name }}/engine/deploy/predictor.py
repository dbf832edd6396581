"""Prediction from a model package or a checkpoint, with inputs checked against the contract.

``Predictor`` holds a model in eval mode on a device together with its ``Contract`` and its task.
Every call checks the inputs first (each a tensor or NumPy array of the contract's kind of
numbers, of the contract's shape with any batch size, floating-point values finite once cast to
the contract's element type; a text input a list of strings, which the task's ``encode_text``
turns into the model's tensor), then runs the model in batches under ``torch.inference_mode()`` and
lets the task turn the outputs into predictions; results come back on the CPU. A package is
checked as it loads: its files against their checksums (and a pinned ``contract_sha256``), and
its contract against the model (see ``fitting.py``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import safetensors
import safetensors.torch
import torch

from ..checkpoints.layout import MODEL_FILE
from ..checkpoints.model import load_model
from ..checkpoints.store import resolve_checkpoint
from ..core.exceptions import ConfigError, InputValidationError, PackageInvalidError
from ..core.files import atomic_write_text, file_sha256
from ..seam.pretrained import restoring_weights
from .fitting import check_output_spec, check_outputs, model_settings, task_of
from .package import CONTRACT_FILE, describe_model, load_package
from .portable import FILE_NAMES, load_portable, split_model_path

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from torch import nn

    from ..seam.specs import FieldSpec, OutputSpec, TensorSpec
    from ..seam.task import Inputs, Task
    from .package import Contract, ModelPackage

__all__ = ["InputData", "InputValue", "Predictions", "Predictor", "write_predictions"]

InputValue = torch.Tensor | np.ndarray | Sequence[str]
"""One input's rows: numbers, or strings for a text input."""

InputData = InputValue | Mapping[str, InputValue]
"""What ``Predictor.predict`` takes: the model's one input, or every input by name."""


@dataclass(frozen=True)
class Predictions:
    """One tensor per part of a prediction (first dimension: the rows), and what they mean."""

    fields: dict[str, torch.Tensor]
    spec: OutputSpec

    def __len__(self) -> int:
        """Number of rows predicted."""
        return len(next(iter(self.fields.values())))

    def __getitem__(self, name: str) -> torch.Tensor:
        """The tensor of one part, such as ``predictions["prediction"]``."""
        return self.fields[name]

    def columns(self) -> dict[str, list[Any]]:
        """The predictions as named columns, with names in place of class indices.

        A part of shape ``[null]`` is one column; one of shape ``[null, K]`` is K columns named
        ``<part>_<name>``, by the spec's names (or the column indices).
        """
        table: dict[str, list[Any]] = {}
        for field in self.spec.fields:
            values = self.fields[field.name]
            if values.ndim == 1:
                table[field.name] = _named(values.tolist(), field)
                continue
            names = field.names or [str(index) for index in range(values.shape[1])]
            for index, name in enumerate(names):
                table[f"{field.name}_{name}"] = values[:, index].tolist()
        return table

    def rows(self) -> list[dict[str, Any]]:
        """One mapping per row, for JSON.

        Each part is there by name: class indices as class names, and columns with names as a
        mapping by name.
        """
        parts: dict[str, list[Any]] = {}
        for field in self.spec.fields:
            values = self.fields[field.name].tolist()
            if self.fields[field.name].ndim == 1:
                parts[field.name] = _named(values, field)
            elif field.names is not None:
                parts[field.name] = [dict(zip(field.names, row, strict=True)) for row in values]
            else:
                parts[field.name] = values
        return [dict(zip(parts, row, strict=True)) for row in zip(*parts.values(), strict=True)]


class Predictor:
    """A model ready to predict, with the contract its inputs are checked against.

    Build one with ``Predictor.from_package`` (an exported model package, or one of its portable
    files) or ``Predictor.from_checkpoint`` (a training checkpoint, whose contract is derived on
    the fly).
    """

    def __init__(
        self,
        model: nn.Module,
        contract: Contract,
        *,
        task: Task[Any, Any],
        device: torch.device,
        forward: Callable[[Inputs], torch.Tensor] | None = None,
    ) -> None:
        """Wrap ``model``, already on ``device`` and in eval mode, with its contract and task.

        ``forward`` computes the model's outputs from checked inputs; by default the task's
        forward pass of ``model``.
        """
        self.model = model
        self.contract = contract
        self.task = task
        self.device = device
        self.forward = forward or (lambda inputs: task.forward(model, inputs))

    @classmethod
    def load(
        cls, path: Path, *, device: torch.device, expect_sha256: str | None = None
    ) -> Predictor:
        """Load a model package, or else a training checkpoint, from ``path`` onto ``device``.

        ``path`` may also name a portable file of a package (``models/v1/model.onnx``). With
        ``expect_sha256``, ``path`` must hold a package with that ``contract_sha256``.

        Raises:
            PackageInvalidError: If ``path`` holds a package that fails its checks.
            PackageNotFoundError: If ``expect_sha256`` is given and ``path`` holds no package.
            CheckpointNotFoundError: If ``path`` holds neither a package nor a checkpoint.
            CheckpointInvalidError: If it holds a checkpoint that does not load.
        """
        folder, file = split_model_path(path)
        if file is not None or expect_sha256 is not None or (folder / CONTRACT_FILE).is_file():
            return cls.from_package(folder, device=device, file=file, expect_sha256=expect_sha256)
        return cls.from_checkpoint(path, device=device)

    @classmethod
    def from_package(
        cls,
        path: Path,
        *,
        device: torch.device,
        file: str | None = None,
        expect_sha256: str | None = None,
    ) -> Predictor:
        """Load a model package (see ``export_package``) onto ``device``.

        The model is run once on example inputs, and refused unless its predictions are what
        the contract says they are.

        Args:
            path: The package folder.
            device: Where the model runs (ONNX Runtime runs on the CPU without CUDA support).
            file: A portable file of the package to run (``model.pt2``, ``model.onnx``) instead
                of the PyTorch model rebuilt from the safetensors weights.
            expect_sha256: The ``contract_sha256`` the package must have (see ``load_package``).

        Raises:
            PackageNotFoundError: If there is no package at ``path``.
            PackageInvalidError: If the package fails its checks or is not the one
                ``expect_sha256`` pins, was made for another task, its weights or outputs do not
                fit its contract, or it lacks ``file``.
        """
        package = load_package(path, expect_sha256=expect_sha256)
        contract = package.contract
        task = task_of(contract, where=path)
        check_output_spec(contract, task, where=package.path / CONTRACT_FILE)
        if file is not None:
            predictor = cls._from_portable(package.path / file, contract, task=task, device=device)
        else:
            predictor = cls._from_weights(package, task=task, device=device)
        check_outputs(
            contract, task, lambda inputs: predictor.forward(_moved(inputs, device)), where=path
        )
        return predictor

    @classmethod
    def _from_weights(
        cls, package: ModelPackage, *, task: Task[Any, Any], device: torch.device
    ) -> Predictor:
        """The task's model, built from the contract's settings, with the package's weights."""
        contract = package.contract
        settings = model_settings(contract, type(task).model_types(), where=package.path)
        with restoring_weights():  # the package's weights replace any pretrained start
            model = task.build_model(settings, dict(contract.sizes))
        try:
            safetensors.torch.load_model(
                model, str(package.weights_path), strict=True, device=str(device)
            )
        except (safetensors.SafetensorError, RuntimeError, OSError, ValueError) as err:
            raise PackageInvalidError(
                f"weights in {str(package.weights_path)!r} do not fit the contract's model: {err}"
            ) from err
        return cls(model.to(device).eval(), contract, task=task, device=device)

    @classmethod
    def from_checkpoint(cls, path: Path, *, device: torch.device) -> Predictor:
        """Load the model of a training checkpoint onto ``device``, with a derived contract.

        The contract names classes and outputs by index and records the checkpoint's run name;
        its version is ``checkpoint`` and its checksum is that of the checkpoint's weights.

        Raises:
            CheckpointNotFoundError: If there is no checkpoint at ``path``.
            CheckpointInvalidError: If it is corrupt or its config or weights do not fit.
        """
        folder = resolve_checkpoint(path)
        loaded = load_model(folder, device=device)
        contract = describe_model(
            loaded,
            name=loaded.config.run.name,
            version="checkpoint",
            labels=None,
            weights_sha256=file_sha256(folder / MODEL_FILE),
            git_commit=None,
        )
        return cls(loaded.model, contract, task=loaded.task, device=device)

    @classmethod
    def _from_portable(
        cls, path: Path, contract: Contract, *, task: Task[Any, Any], device: torch.device
    ) -> Predictor:
        """Run the portable file at ``path``, which takes the inputs in the contract's order."""
        if path.name not in contract.exports:
            raise PackageInvalidError(
                f"the package at {str(path.parent)!r} has no {path.name}: export it with "
                f"--format {_format_of(path.name)}"
            )
        program = load_portable(path, device=device)
        names = contract.input_names

        def forward(inputs: Inputs) -> torch.Tensor:
            ordered = [inputs] if isinstance(inputs, torch.Tensor) else [inputs[n] for n in names]
            outputs: torch.Tensor = program(*ordered)
            return outputs

        return cls(program, contract, task=task, device=device, forward=forward)

    def validate(self, inputs: InputData) -> Inputs:
        """Check ``inputs`` against the contract; return them as tensors of its element types.

        A model with one input takes it as it is or by name; one with several takes a mapping.
        Text inputs come back encoded by the task (``Task.encode_text``).

        Raises:
            InputValidationError: If an input is missing, unexpected, of the wrong kind of number
                or shape, holds NaN or infinite values, or is text given as anything but
                strings; the message names the input.
        """
        specs = self.contract.inputs
        if not isinstance(inputs, Mapping):
            if len(specs) > 1:
                raise InputValidationError(
                    f"the model takes {len(specs)} inputs: pass a mapping of "
                    f"{self.contract.input_names}"
                )
            inputs = {specs[0].name: inputs}
        unexpected = sorted(set(inputs) - set(self.contract.input_names))
        missing = [name for name in self.contract.input_names if name not in inputs]
        if unexpected or missing:
            raise InputValidationError(
                f"inputs {sorted(inputs)} do not match the model's {self.contract.input_names}: "
                f"missing {missing}, unexpected {unexpected}"
            )
        checked = {
            spec.name: (
                self.task.encode_text(spec.name, _texts(inputs[spec.name], spec))
                if spec.is_text
                else _checked(inputs[spec.name], spec)
            )
            for spec in specs
        }
        if len(specs) == 1:
            return checked[specs[0].name]
        return checked

    def predict(self, inputs: InputData, *, batch_size: int = 1024) -> Predictions:
        """Predict every row of ``inputs`` (see ``validate`` for what they may be).

        Raises:
            InputValidationError: If ``inputs`` does not match the contract (see ``validate``).
            ConfigError: If ``batch_size`` is not positive.
        """
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        checked = self.validate(inputs)
        parts: list[dict[str, torch.Tensor]] = []
        with torch.inference_mode():
            for batch in _batches(checked, batch_size):
                outputs = self.forward(_moved(batch, self.device))
                parts.append({k: v.cpu() for k, v in self.task.predict(outputs).items()})
        spec = self.contract.output
        if not parts:  # no rows: empty parts of the right shapes
            fields = {f.name: torch.empty(0, *[d or 0 for d in f.shape[1:]]) for f in spec.fields}
            return Predictions(fields=fields, spec=spec)
        fields = {name: torch.cat([part[name] for part in parts]) for name in parts[0]}
        return Predictions(fields=fields, spec=spec)


def write_predictions(
    path: Path, predictions: Predictions, *, files: Sequence[str] | None = None
) -> None:
    """Write one CSV row per sample: its index, then every column of ``predictions.columns``.

    ``files`` names the file each row was read from (images), in a ``file`` column after it.
    """
    table = predictions.columns()
    if files is not None:
        table = {"file": list(files), **table}
    lines = [",".join(["row", *table])]
    for row, values in enumerate(zip(*table.values(), strict=True)):
        lines.append(",".join([str(row), *(_csv_cell(value) for value in values)]))
    atomic_write_text(path, "\n".join(lines) + "\n")


def _texts(values: InputValue, spec: TensorSpec) -> list[str]:
    """The rows of a text input, each checked to be a string."""
    rows: Any = values.tolist() if isinstance(values, np.ndarray) else values
    if isinstance(rows, str) or not isinstance(rows, Sequence):
        raise InputValidationError(
            f"input {spec.name!r} is text: pass a list of strings, one per row, not a "
            f"{type(values).__name__}"
        )
    for row, value in enumerate(rows):
        if not isinstance(value, str):
            raise InputValidationError(
                f"input {spec.name!r} is text, but row {row} holds a {type(value).__name__}, "
                "not a string"
            )
    return list(rows)


def _checked(values: InputValue, spec: TensorSpec) -> torch.Tensor:
    """One input checked against its spec, converted to the spec's element type."""
    expected = spec.torch_dtype
    wants_float = expected.is_floating_point
    if isinstance(values, np.ndarray):
        kind_ok = values.dtype.kind == "f" if wants_float else values.dtype.kind in "iu"
        if not kind_ok:
            raise InputValidationError(
                f"input {spec.name!r} must hold {_kind(wants_float)}, got NumPy dtype "
                f"{values.dtype}"
            )
        values = torch.from_numpy(values)
    if not isinstance(values, torch.Tensor):
        raise InputValidationError(
            f"input {spec.name!r} must be a tensor or NumPy array, got {type(values).__name__}"
        )
    if (
        values.dtype.is_floating_point != wants_float
        or values.dtype.is_complex
        or (values.dtype == torch.bool)
    ):
        raise InputValidationError(
            f"input {spec.name!r} must hold {_kind(wants_float)}, got {values.dtype}"
        )
    shape = tuple(values.shape)
    fits = len(shape) == len(spec.shape) and all(
        want is None or want == got for want, got in zip(spec.shape[1:], shape[1:], strict=False)
    )
    if not fits:
        wanted = ", ".join("N" if size is None else str(size) for size in spec.shape)
        raise InputValidationError(f"input {spec.name!r} must have shape ({wanted}), got {shape}")
    converted = values.to(expected)
    if wants_float:  # after the cast: 1e39 is finite in float64, infinite in float32
        _check_finite(values, converted, spec)
    return converted


def _check_finite(values: torch.Tensor, converted: torch.Tensor, spec: TensorSpec) -> None:
    """Refuse NaN and infinite values, and values beyond the range of the spec's element type."""
    finite = torch.isfinite(converted)
    if finite.all():
        return
    where = tuple(int(index) for index in (~finite).nonzero()[0])
    value = values[where].item()
    position = f"row {where[0]}" + (f", index {where}" if len(where) > 1 else "")
    if math.isfinite(value):
        largest = torch.finfo(converted.dtype).max
        raise InputValidationError(
            f"input {spec.name!r} holds {value:g} at {position}, beyond the range of "
            f"{spec.dtype}, the model's element type (largest magnitude {largest:.4g})"
        )
    raise InputValidationError(
        f"input {spec.name!r} holds NaN or infinite values (first at {position}): got {value}"
    )


def _kind(wants_float: bool) -> str:
    return "floating-point numbers" if wants_float else "integers"


def _batches(inputs: Inputs, batch_size: int) -> list[Inputs]:
    if isinstance(inputs, torch.Tensor):
        return list(inputs.split(batch_size))
    names = list(inputs)
    chunks = zip(*(inputs[name].split(batch_size) for name in names), strict=True)
    return [dict(zip(names, chunk, strict=True)) for chunk in chunks]


def _moved(inputs: Inputs, device: torch.device) -> Inputs:
    if isinstance(inputs, torch.Tensor):
        return inputs.to(device)
    return {name: tensor.to(device) for name, tensor in inputs.items()}


def _named(values: list[Any], field: FieldSpec) -> list[Any]:
    """Replace integer class indices by their names, where the field names them.

    Raises:
        PackageInvalidError: If an index has no name: the contract does not fit the model.
    """
    names = field.names
    if names is None:
        return values
    unnamed = [value for value in values if isinstance(value, int) and not 0 <= value < len(names)]
    if unnamed:
        raise PackageInvalidError(
            f"the model predicted {field.name} {unnamed[0]}, but its contract names only "
            f"{len(names)} values {names}: the contract does not describe this model"
        )
    return [names[value] if isinstance(value, int) else value for value in values]


def _csv_cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6f}"
    text = str(value)
    if any(char in text for char in ',"\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _format_of(file: str) -> str:
    """The ``--format`` that writes ``file``."""
    return next((fmt for fmt, name in FILE_NAMES.items() if name == file), "?")
