"""Device choice: the one place that decides where tensors live."""

from __future__ import annotations

from typing import Any

import torch

from .exceptions import DeviceError

__all__ = ["configure_matmul", "resolve_device", "to_device"]


def resolve_device(name: str = "auto") -> torch.device:
    """Turn a device name from the config into a ``torch.device`` that exists here.

    Args:
        name: ``auto`` (CUDA, then MPS, then CPU), ``cpu``, ``mps``, ``cuda`` or ``cuda:N``.

    Returns:
        The device to train or predict on.

    Raises:
        DeviceError: If the name is not a device or that device is not available.
    """
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise DeviceError(f"{name!r} is not a device; use auto, cpu, mps, cuda or cuda:N") from err
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise DeviceError(f"device {name!r} asked for, but CUDA is not available here")
        if device.index is not None and device.index >= count:
            raise DeviceError(f"device {name!r} asked for, but only cuda:0..cuda:{count - 1} exist")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError(f"device {name!r} asked for, but MPS is not available here")
    elif device.type not in {"cpu", "cuda", "mps"}:
        raise DeviceError(f"device {name!r} is not supported; use auto, cpu, mps, cuda or cuda:N")
    return device


def configure_matmul(*, tf32: bool) -> None:
    """Allow (or forbid) TensorFloat-32 matrix products, which speed up float32 on recent GPUs."""
    torch.set_float32_matmul_precision("high" if tf32 else "highest")


def to_device(batch: Any, device: torch.device) -> Any:
    """Move a batch (a tensor, or tuples, lists and dicts of them) to ``device``.

    The copy is non-blocking, which overlaps it with compute when the loader pins memory.
    """
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {key: to_device(value, device) for key, value in batch.items()}
    if isinstance(batch, tuple | list):
        return type(batch)(to_device(value, device) for value in batch)
    return batch
