"""Anomaly detection (``train.detect_anomaly``): the first operation that makes a NaN, named.

While it is on, each operation of the forward pass is checked as it returns: the first whose
result holds a NaN though its inputs hold none stops training, and a batch whose inputs already
hold one is named as such. The backward pass runs under ``torch.autograd.detect_anomaly``,
which names the first backward function that returns a NaN. Either way the run ends with one
error line. Every check reads the device, so this is a switch for debugging, off by default;
off, nothing of it runs. With fp16 precision the grad scaler's overflows are NaN too: debug in
fp32 or bf16.
"""

from __future__ import annotations

import re
import warnings
from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch.overrides import TorchFunctionMode

from ..core.exceptions import TrainingError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from ..seam.task import Inputs

__all__ = ["PassFn", "checked_pass", "op_name"]

_BACKWARD_NAN = re.compile(r"Function '(\w+)' returned nan values")
# What torch warns as anomaly detection starts and when it finds a NaN: the error line says it.
_ANOMALY_WARNINGS = ("Anomaly Detection has been enabled", "Error detected in")


class PassFn(Protocol):
    """One batch's forward and backward pass, as the training loop runs it."""

    def __call__(
        self, inputs: Inputs, targets: torch.Tensor, *, window: int, last: bool
    ) -> torch.Tensor:
        """Run the pass; return the batch's loss."""
        ...


def checked_pass(run: PassFn, *, step: Callable[[], int]) -> PassFn:
    """``run`` checked for NaNs as it goes; ``step()`` is the step it belongs to.

    Raises (from the returned function):
        TrainingError: Naming the operation that made the first NaN, or the inputs that held one.
    """

    def checked(inputs: Inputs, targets: torch.Tensor, *, window: int, last: bool) -> torch.Tensor:
        where = f"step {step()} (train.detect_anomaly)"
        if _holds_nan(inputs):
            raise TrainingError(f"the inputs of the batch of {where} hold NaN: check the data")
        try:
            with warnings.catch_warnings():
                for message in _ANOMALY_WARNINGS:
                    warnings.filterwarnings("ignore", message=message)
                with torch.autograd.detect_anomaly(check_nan=True), _NanFinder():
                    return run(inputs, targets, window=window, last=last)
        except _NanMadeError as made:
            raise TrainingError(
                f"{made.op} made the first NaN, from inputs without one, in the forward pass of "
                f"{where}"
            ) from None
        except RuntimeError as err:
            found = _BACKWARD_NAN.search(str(err))
            if found is None:
                raise
            raise TrainingError(
                f"{found[1]} returned the first NaN, in the backward pass of {where}"
            ) from err

    return checked


def op_name(func: Callable[..., Any]) -> str:
    """How a user writes the operation ``func``: ``torch.log``, ``Tensor.sub``, ``F.linear``."""
    name = getattr(func, "__name__", repr(func))
    qualname = getattr(func, "__qualname__", name)
    module = getattr(func, "__module__", None) or ""
    if qualname.startswith(("TensorBase.", "Tensor.")):
        return f"Tensor.{name}"
    if module in {"torch._C._nn", "torch.nn.functional"}:
        return f"torch.nn.functional.{name}"
    if module == "torch" or qualname.startswith("_VariableFunctionsClass."):
        return f"torch.{name}"
    return f"{module}.{qualname}" if module else qualname


class _NanMadeError(Exception):
    """An operation made a NaN from inputs without one."""

    def __init__(self, op: str) -> None:
        super().__init__(op)
        self.op = op


class _NanFinder(TorchFunctionMode):
    """Checks the result of every torch operation for a NaN its inputs did not hold."""

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        result = func(*args, **(kwargs or {}))
        if _holds_nan(result) and not _holds_nan((args, kwargs)):
            raise _NanMadeError(op_name(func))
        return result


def _holds_nan(value: Any) -> bool:
    """Whether any floating-point tensor in ``value`` (nested tuples, lists, dicts) has a NaN."""
    return any(bool(torch.isnan(tensor).any()) for tensor in _float_tensors(value))


def _float_tensors(value: Any) -> Iterator[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        if value.is_floating_point() or value.is_complex():
            yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _float_tensors(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _float_tensors(item)
