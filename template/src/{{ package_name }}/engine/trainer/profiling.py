"""A torch.profiler trace of a few training steps (``train --profile`` or ``train.profile``).

The trace goes to ``<run folder>/profile/``: open it with TensorBoard's profiler plugin
(``tensorboard --logdir <run folder>/profile``) or drop the ``.pt.trace.json`` file on
https://ui.perfetto.dev. The profiler skips one step, warms up on one and records
``train.profile_steps``; it records CPU activity, and CUDA kernels on a GPU.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    import torch

__all__ = ["PROFILE_DIR", "step_profiler"]

PROFILE_DIR = "profile"


@contextmanager
def step_profiler(
    run_dir: Path, *, enabled: bool, steps: int, device: torch.device, rank: int = 0
) -> Iterator[Callable[[], None]]:
    """Yield the function the loop calls after every optimizer step; a no-op when disabled."""
    if not enabled:
        yield lambda: None
        return
    from torch.profiler import (  # noqa: PLC0415
        ProfilerActivity,
        profile,
        schedule,
        tensorboard_trace_handler,
    )

    activities = [ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    handler = tensorboard_trace_handler(str(run_dir / PROFILE_DIR), worker_name=f"rank{rank}")
    with profile(
        activities=activities,
        schedule=schedule(wait=1, warmup=1, active=steps, repeat=1),
        on_trace_ready=handler,
        record_shapes=True,
        profile_memory=True,
    ) as profiler:
        yield profiler.step
