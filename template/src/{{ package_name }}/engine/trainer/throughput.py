"""Where the time goes: samples per second, step time, peak memory, TFLOP/s and MFU.

The training loop counts samples and optimizer steps between two points in time; every epoch's
metrics line (and the tracker) gets ``samples_per_s``, ``step_s`` and ``peak_memory_mb`` (the
device's peak allocation on CUDA, the process's peak resident memory elsewhere). The FLOPs of one
training step are counted once, with torch's FLOP counter, on the first step of a run; with a
known peak for the device (a table of common GPUs, or ``train.peak_tflops``) the lines also get
the achieved ``tflops`` and ``mfu``, the model FLOP utilisation.
"""

from __future__ import annotations

import resource
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractContextManager

    from torch.utils.flop_counter import FlopCounterMode

__all__ = [
    "PEAK_TFLOPS",
    "TIMING_KEYS",
    "Throughput",
    "count_flops",
    "flop_counter",
    "peak_memory_mb",
    "peak_tflops",
]

# The metrics that measure time and memory rather than the model: they differ between two runs
# that are otherwise bitwise equal.
TIMING_KEYS = frozenset({"seconds", "samples_per_s", "step_s", "peak_memory_mb", "tflops", "mfu"})

# Dense bf16/fp16 tensor-core peak of one device, TFLOP/s, from the vendors' data sheets. Matched
# against torch.cuda.get_device_name() in this order (the first name found in it wins).
PEAK_TFLOPS: dict[str, float] = {
    "H200": 989.0,
    "H100": 989.0,
    "A100": 312.0,
    "L40S": 362.0,
    "L4": 121.0,
    "A10G": 70.0,
    "A10": 125.0,
    "RTX 4090": 165.0,
    "V100": 125.0,
    "T4": 65.0,
}


def peak_tflops(device: torch.device, *, override: float | None) -> float | None:
    """The device's peak TFLOP/s: ``override``, else the table's for a known GPU, else None."""
    if override is not None:
        return override
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in PEAK_TFLOPS.items() if key in name), None)


def flop_counter(*, enabled: bool) -> AbstractContextManager[FlopCounterMode | None]:
    """A context that counts the FLOPs run inside it (``get_total_flops``), or does nothing."""
    from torch.utils.flop_counter import FlopCounterMode  # noqa: PLC0415 (rarely needed)

    return FlopCounterMode(display=False) if enabled else nullcontext()


def count_flops(step: Callable[[], object]) -> int:
    """FLOPs that ``step`` (a forward and backward pass, say) performs, counted as it runs."""
    with flop_counter(enabled=True) as counter:
        step()
    assert counter is not None
    return int(counter.get_total_flops())


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory so far: allocated on a CUDA device, else the process's peak resident set."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB else


@dataclass
class Throughput:
    """Samples and steps since ``restart``, and what they add up to per second."""

    device: torch.device
    peak: float | None = None  # TFLOP/s of one device; None: no MFU
    flops_per_step: int | None = None
    clock: Callable[[], float] = time.perf_counter
    started: float = field(init=False)
    samples: int = field(init=False)
    steps: int = field(init=False)

    def __post_init__(self) -> None:
        """Start counting."""
        self.restart()

    @property
    def wants_flops(self) -> bool:
        """Whether the FLOPs of a step are still to be counted (only when MFU can be reported)."""
        return self.peak is not None and self.flops_per_step is None

    def restart(self) -> None:
        """Start counting afresh (at the start of an epoch)."""
        self.started, self.samples, self.steps = self.clock(), 0, 0

    def leave_out(self, seconds: float) -> None:
        """Leave ``seconds`` out of the time counted, such as a validation within the epoch."""
        self.started += seconds

    def add(self, *, samples: int, steps: int = 0) -> None:
        """Count processed samples, and optimizer steps taken."""
        self.samples += samples
        self.steps += steps

    def figures(self) -> dict[str, float]:
        """Samples/s, seconds per step and peak memory; TFLOP/s and MFU when they are known."""
        seconds = max(self.clock() - self.started, 1e-9)
        figures = {
            "samples_per_s": round(self.samples / seconds, 1),
            "step_s": round(seconds / max(self.steps, 1), 6),
            "peak_memory_mb": round(peak_memory_mb(self.device), 1),
        }
        if self.flops_per_step is not None:
            achieved = self.flops_per_step * self.steps / seconds / 1e12
            figures["tflops"] = _significant(achieved)
            if self.peak is not None:
                figures["mfu"] = _significant(achieved / self.peak)
        return figures


def _significant(value: float, digits: int = 4) -> float:
    """``value`` rounded to ``digits`` significant digits (small models run at tiny TFLOP/s)."""
    return float(f"{value:.{digits}g}")
