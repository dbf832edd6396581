"""Portable formats of a model: a ``torch.export`` program (``.pt2``) and an ONNX file.

Both hold the network and its weights and load without this project's code: ``torch.export.load``
in any Python with torch, ONNX Runtime in any language. Each takes the model's inputs as
positional arguments in the contract's order (named as the contract's inputs, with a dynamic
batch dimension) and returns the model's raw outputs, as ``Task.forward`` computes them (for the
built-in classifiers, logits); ``Task.predict`` turns them into predictions.

A text input is passed encoded (``Task.encode_text``), free in its length as in its batch size:
the tokenizer stays with the project's code and the contract's task settings.

Each file is checked when it is written: on example inputs built from the contract's input specs,
at two batch sizes, its outputs must match the PyTorch model's within a tolerance, or the export
fails. The ONNX exporter and ONNX Runtime come from the optional dependency group ``onnx``.
"""

from __future__ import annotations

import io
import logging
import warnings
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import nn

from ..core.exceptions import PackageError, PackageInvalidError
from .pt2_check import read_program

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

    from ..seam.specs import TensorSpec
    from ..seam.task import Inputs, Task

__all__ = [
    "FILE_NAMES",
    "FORMATS",
    "Format",
    "check_portable",
    "example_inputs",
    "load_portable",
    "split_model_path",
    "write_portable",
]

Format = Literal["safetensors", "torch-export", "onnx"]
FORMATS: tuple[Format, ...] = ("safetensors", "torch-export", "onnx")
FILE_NAMES: dict[Format, str] = {"torch-export": "model.pt2", "onnx": "model.onnx"}
# float32 outputs of two implementations of the same graph differ in their last bits only.
RTOL, ATOL = 1e-4, 1e-5
_CHECK_BATCH_SIZES = (2, 3)  # torch.export specialises sizes 0 and 1; 3 checks the batch is free
_FREE_SIZE = 4  # a size for the other dimensions a spec leaves free
_ONNX_MISSING = (
    "the onnx format needs the packages of the optional group onnx (onnx, onnxscript, "
    "onnxruntime): install it with `uv sync --extra cpu --group onnx` (or --extra cu128)"
)


class _TaskForward(nn.Module):
    """The model called as the task calls it, on positional inputs in the contract's order."""

    def __init__(self, model: nn.Module, task: Task[Any, Any], names: list[str]) -> None:
        super().__init__()
        self.model = model
        self.task = task
        self.names = names

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        """The task's forward pass on the inputs, given in the order of ``names``."""
        inputs: Inputs = (
            tensors[0] if len(tensors) == 1 else dict(zip(self.names, tensors, strict=True))
        )
        return self.task.forward(self.model, inputs)


def example_inputs(
    specs: Sequence[TensorSpec], *, batch_size: int, task: Task[Any, Any] | None = None
) -> tuple[torch.Tensor, ...]:
    """Inputs of the specs' shapes and types: seeded normal values, or zeros for integers.

    Every dimension a spec leaves free besides the batch gets size 4. A text input is texts of
    ``batch_size + 1`` words and fewer, encoded by ``task``: a larger batch has longer texts, so
    the checks at two batch sizes also see two lengths.
    """
    generator = torch.Generator().manual_seed(0)
    tensors = []
    for spec in specs:
        if spec.is_text:
            if task is None:
                raise ValueError(f"text input {spec.name!r}: pass the task that encodes it")
            texts = [" ".join(["example"] * (batch_size + 1 - row)) for row in range(batch_size)]
            tensors.append(task.encode_text(spec.name, texts))
            continue
        shape = [batch_size, *(_FREE_SIZE if size is None else size for size in spec.shape[1:])]
        dtype = spec.torch_dtype
        if dtype.is_floating_point:
            tensors.append(torch.randn(shape, generator=generator).to(dtype))
        else:
            tensors.append(torch.zeros(shape, dtype=dtype))
    return tuple(tensors)


def write_portable(
    fmt: Format,
    model: nn.Module,
    *,
    task: Task[Any, Any],
    specs: Sequence[TensorSpec],
    path: Path,
) -> None:
    """Write ``model`` (on the CPU, in eval mode) in a portable format and check it.

    Raises:
        PackageError: If the format cannot express the model, its packages are missing, or the
            written file's outputs differ from the model's.
    """
    wrapped = _TaskForward(model, task, [spec.name for spec in specs]).eval()
    example = example_inputs(specs, batch_size=_CHECK_BATCH_SIZES[0], task=task)
    batch = torch.export.Dim("batch", min=1)
    dynamic = (  # one entry, for the parameter *tensors; encoded text is free in length too
        tuple(
            {0: batch, 1: torch.export.Dim(f"{spec.name}_length", min=1)}
            if spec.is_text
            else {0: batch}
            for spec in specs
        ),
    )
    try:
        with _quiet_exporters():
            if fmt == "torch-export":
                program = torch.export.export(wrapped, example, dynamic_shapes=dynamic)
                torch.export.save(program, path)
            elif fmt == "onnx":
                _write_onnx(wrapped, example, dynamic=dynamic, specs=specs, path=path)
            else:
                raise PackageError(f"{fmt!r} is not a portable format; choose one of {FILE_NAMES}")
    except PackageError:
        raise
    except Exception as err:
        raise PackageError(
            f"the model cannot be exported as {fmt}: {type(err).__name__}: {err}"
        ) from err
    exported = load_portable(path, device=torch.device("cpu"))
    _check_outputs(fmt, wrapped, exported, specs=specs, task=task)


def load_portable(path: Path, *, device: torch.device) -> nn.Module:
    """Load a ``.pt2`` or ``.onnx`` file as a module called on positional input tensors.

    A ``.pt2`` program runs on ``device``; an ONNX file runs in ONNX Runtime, on CUDA if
    ``device`` is a GPU and the runtime has it, otherwise on the CPU (its outputs come back on
    the CPU).

    A ``.pt2`` file is checked before it is loaded, and refused if loading it could run code
    (see ``pt2_check.py``).

    Raises:
        PackageInvalidError: If the file does not load, or a ``.pt2`` file holds anything that
            could run code as it loads.
        PackageError: If ONNX Runtime is not installed.
    """
    if path.suffix == ".pt2":
        program = read_program(path)  # checked first: torch.export.load would run code in it
        try:
            with _quiet_exporters():
                module = torch.export.load(io.BytesIO(program)).module()
        except Exception as err:
            raise PackageInvalidError(
                f"{str(path)!r} is not a loadable torch.export program: {err}"
            ) from err
        return module.to(device)
    return _OnnxProgram(path, device=device)


def check_portable(path: Path) -> None:
    """Check a portable file without loading it: a ``.pt2`` file that could run code is refused.

    Raises:
        PackageInvalidError: If the file holds anything that could run code as it loads.
    """
    if path.suffix == ".pt2":
        read_program(path)


def split_model_path(path: Path) -> tuple[Path, str | None]:
    """A package folder and the portable file in it that ``path`` names (``None``: none)."""
    if path.suffix in {".pt2", ".onnx"} and not path.is_dir():
        return path.parent, path.name
    return path, None


class _OnnxProgram(nn.Module):
    """An ONNX file run by ONNX Runtime, as a module without parameters of its own."""

    def __init__(self, path: Path, *, device: torch.device) -> None:
        super().__init__()
        try:
            import onnxruntime  # noqa: PLC0415 (an optional dependency)
        except ImportError as err:
            raise PackageError(_ONNX_MISSING) from err
        available = onnxruntime.get_available_providers()
        wanted = "CUDAExecutionProvider" if device.type == "cuda" else "CPUExecutionProvider"
        providers = [wanted] if wanted in available else ["CPUExecutionProvider"]
        try:
            self.session = onnxruntime.InferenceSession(str(path), providers=providers)
        except Exception as err:
            raise PackageInvalidError(f"{str(path)!r} is not a loadable ONNX model: {err}") from err
        self.names = [node.name for node in self.session.get_inputs()]

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        """Run the ONNX model on the inputs (in the contract's order); outputs on the CPU."""
        arrays = [tensor.detach().cpu().numpy() for tensor in tensors]
        feed = dict(zip(self.names, arrays, strict=True))
        return torch.from_numpy(self.session.run(None, feed)[0])


def _write_onnx(
    wrapped: nn.Module,
    example: tuple[torch.Tensor, ...],
    *,
    dynamic: tuple[tuple[dict[int, Any], ...]],
    specs: Sequence[TensorSpec],
    path: Path,
) -> None:
    try:
        import onnxscript  # noqa: F401, PLC0415 (the dynamo exporter needs it)
    except ImportError as err:
        raise PackageError(_ONNX_MISSING) from err
    program = torch.onnx.export(
        wrapped,
        example,
        dynamo=True,
        dynamic_shapes=dynamic,
        input_names=[spec.name for spec in specs],
        output_names=["outputs"],
        verbose=False,
    )
    if program is None:  # only the legacy exporter returns nothing
        raise PackageError("torch.onnx.export returned no ONNX program")
    program.save(str(path))


def _check_outputs(
    fmt: Format,
    reference: nn.Module,
    exported: nn.Module,
    *,
    specs: Sequence[TensorSpec],
    task: Task[Any, Any],
) -> None:
    """Compare ``exported``'s outputs with ``reference``'s at each check batch size."""
    for batch_size in _CHECK_BATCH_SIZES:
        inputs = example_inputs(specs, batch_size=batch_size, task=task)
        with torch.inference_mode():
            want = reference(*inputs)
            got = exported(*inputs)
        if got.shape != want.shape or not torch.allclose(got, want, rtol=RTOL, atol=ATOL):
            same_shape = got.shape == want.shape
            difference = (got.float() - want.float()).abs().max().item() if same_shape else None
            raise PackageError(
                f"the {fmt} model's outputs differ from the PyTorch model's on example inputs of "
                f"batch size {batch_size} (shapes {tuple(got.shape)} and {tuple(want.shape)}, "
                f"largest difference {difference}, tolerance "
                f"{RTOL} relative and {ATOL} absolute)"
            )


@contextmanager
def _quiet_exporters() -> Iterator[None]:
    """Silence the exporters' deprecation chatter and their notes about torchvision."""
    onnx_logger = logging.getLogger("torch.onnx")
    level = onnx_logger.level
    onnx_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)
            yield
    finally:
        onnx_logger.setLevel(level)
