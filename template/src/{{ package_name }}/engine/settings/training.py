"""The ``train`` config section: how long, where and how to train, validate and save.

Every field has a default, constraints and a description; the command-line help and the
configuration reference are generated from the descriptions (see ``keys.py``).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator

from ..seam.sections import Section

__all__ = ["TrainConfig"]

_DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class TrainConfig(Section):
    """How long and where to train."""

    epochs: int = Field(default=10, ge=1, le=100_000, description="Passes over the training set.")
    max_steps: int | None = Field(
        default=None, ge=1, description="Stop after this many optimizer steps (resumable)."
    )
    grad_accum_steps: int = Field(
        default=1, ge=1, le=1024, description="Batches whose gradients add up to one step."
    )
    precision: Literal["fp32", "bf16", "fp16"] = Field(
        default="fp32", description="fp32, or mixed precision: bf16, or fp16 with a grad scaler."
    )
    tf32: bool = Field(default=False, description="Allow TF32 matrix products on CUDA.")
    compile: bool = Field(
        default=False, description="Run the model through torch.compile (slow first step)."
    )
    early_stopping_patience: int | None = Field(
        default=None,
        ge=1,
        description="Stop after this many epochs without a better monitored metric.",
    )
    checkpoint_every: int = Field(
        default=1,
        ge=1,
        description="Save a checkpoint every this many train.checkpoint_unit; an epoch that "
        "improves the monitored metric, and the end of training, are saved whatever this says.",
    )
    checkpoint_unit: Literal["epochs", "steps"] = Field(
        default="epochs",
        description="What train.checkpoint_every counts: epochs, or optimizer steps (which saves "
        "in the middle of an epoch, resumable there).",
    )
    checkpoint_min_interval: float = Field(
        default=10.0,
        ge=0.0,
        description="Seconds between two checkpoints written, at least: one due sooner is "
        "skipped, or, if its epoch improved the monitored metric, held in memory until the next "
        "save or until the interval has passed; the first checkpoint and the end of training are "
        "always saved. 0 saves whenever one is due.",
    )
    keep_checkpoints: int = Field(
        default=3, ge=1, description="Checkpoints kept (the best one is always kept)."
    )
    grad_clip: float | None = Field(
        default=1.0, gt=0.0, description="Clip the gradient norm to this value; null disables."
    )
    log_every: int = Field(default=10, ge=1, description="Steps between progress log lines.")
    device: str = Field(
        default="auto", description="auto, cpu, mps, cuda or cuda:N; auto picks CUDA, MPS, CPU."
    )
    seed: int = Field(default=42, ge=0, le=2**32 - 1, description="Seed for every random source.")
    seeds: list[Annotated[int, Field(ge=0, le=2**32 - 1)]] | None = Field(
        default=None,
        min_length=1,
        description="Train once per seed (a group with mean and std of the final metrics); "
        "null: one run with train.seed.",
    )
    deterministic: bool = Field(
        default=False, description="Use deterministic algorithms (slower; see seed.py)."
    )
    activation_checkpointing: bool = Field(
        default=False,
        description="Recompute each model block's activations in the backward pass instead of "
        "keeping them: less memory, about a third more compute. Needs a model that declares "
        "its blocks().",
    )
    ema_decay: float | None = Field(
        default=None,
        gt=0.0,
        lt=1.0,
        description="Keep an exponential moving average of the weights with this decay (such as "
        "0.999); validation, the best checkpoint and export then use the averaged weights.",
    )
    profile: bool = Field(
        default=False,
        description="Record a torch.profiler trace of a few steps into the run folder's profile/.",
    )
    profile_steps: int = Field(
        default=3, ge=1, le=100, description="Steps the profiler records (after two warm-up)."
    )
    peak_tflops: float | None = Field(
        default=None,
        gt=0.0,
        description="Peak TFLOP/s of one device, for the MFU figure; null: from a table of "
        "common GPUs (none on CPUs).",
    )

    @field_validator("device")
    @classmethod
    def _known_device(cls, device: str) -> str:
        if not _DEVICE_PATTERN.match(device):
            raise ValueError(f"device {device!r} is not one of auto, cpu, mps, cuda, cuda:N")
        return device
