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
# As SLURM writes time limits: [HH:]MM:SS or D-HH[:MM[:SS]] (YAML reads HH:MM:SS as seconds).
_CLOCK_PATTERN = re.compile(r"^((?P<days>\d+)-)?(?P<clock>\d+(:\d+){0,2})$")
_NUMBER_PATTERN = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


class TrainConfig(Section):
    """How long and where to train."""

    epochs: int = Field(default=10, ge=1, le=100_000, description="Passes over the training set.")
    max_steps: int | None = Field(
        default=None, ge=1, description="Stop after this many optimizer steps (resumable)."
    )
    max_time: float | None = Field(
        default=None,
        gt=0.0,
        description="Wall-clock budget of one training process, in seconds or as SLURM writes "
        "it (HH:MM:SS, D-HH:MM:SS), counted from when it starts loading the data (a group of "
        "seeds or folds shares it): once it has passed, training stops after the current step, "
        "saves a resumable checkpoint, and train exits with status 75. null: no budget.",
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
        description="Stop after this many validations in a row without a better monitored "
        "metric (epochs, when each epoch validates once).",
    )
    val_every_epochs: int = Field(
        default=1,
        ge=1,
        description="Validate at the end of every this many epochs, and of the last; the best "
        "checkpoint and early stopping follow the validations that run.",
    )
    val_interval: float | None = Field(
        default=None,
        gt=0.0,
        description="Also validate within epochs: every this many optimizer steps (a whole "
        "number), or every this fraction of an epoch (below 1, such as 0.25). null: at epoch "
        "ends only.",
    )
    checkpoint_every: int = Field(
        default=1,
        ge=1,
        description="Save a checkpoint every this many train.checkpoint_unit; an epoch that "
        "improves the monitored metric, and the end of training, are saved whatever this says. "
        "train.checkpoint_min_interval (10 s) skips or holds one due sooner after the last, so "
        "a short run writes fewer.",
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
    save_top_k: int = Field(
        default=1,
        ge=1,
        description="Also keep the checkpoints of the k best validations by the monitored "
        "metric, listed best first in checkpoints/top.json; 1: the best alone, which the best "
        "pointer names.",
    )
    save_on_error: bool = Field(
        default=True,
        description="When training raises (out of memory, a data error), save a checkpoint of "
        "the last finished step before the error is reported, to resume from. One process "
        "only; never after a non-finite loss.",
    )
    grad_clip: float | None = Field(
        default=1.0, gt=0.0, description="Clip the gradient norm to this value; null disables."
    )
    grad_clip_value: float | None = Field(
        default=None,
        gt=0.0,
        description="Clip every gradient element to [-value, value], before the norm is clipped "
        "(train.grad_clip); null disables.",
    )
    limit_train_batches: float | None = Field(
        default=None,
        gt=0.0,
        description="Debugging: train on only this many batches of each epoch (a whole number), "
        "or this fraction of them (below 1). null: all.",
    )
    limit_val_batches: float | None = Field(
        default=None,
        gt=0.0,
        description="Debugging: validate on only this many batches (a whole number), or this "
        "fraction of them (below 1). null: all.",
    )
    overfit_batches: int | None = Field(
        default=None,
        ge=1,
        description="Debugging: train and validate on the same this many batches of training "
        "samples, to check that the model can learn them (the training loss falls towards 0). "
        "null: off.",
    )
    detect_anomaly: bool = Field(
        default=False,
        description="Debugging: stop at the first operation that makes a NaN, in the forward or "
        "the backward pass, and name it. Much slower.",
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

    @field_validator("max_time", mode="before")
    @classmethod
    def _seconds(cls, value: object) -> object:
        if not isinstance(value, str) or _NUMBER_PATTERN.match(value.strip()):
            return value  # seconds, which pydantic reads
        clock = _CLOCK_PATTERN.match(value.strip())
        if clock is None:
            raise ValueError(f"{value!r} is neither seconds nor HH:MM:SS nor D-HH:MM:SS")
        parts = [int(part) for part in clock["clock"].split(":")]
        if clock["days"] is None:  # hours, minutes and seconds, or the last two
            return sum(part * 60**power for power, part in enumerate(reversed(parts)))
        # Days, then hours, and maybe minutes and seconds.
        return 86_400 * int(clock["days"]) + sum(
            part * 3600 // 60**power for power, part in enumerate(parts)
        )

    @field_validator("val_interval", "limit_train_batches", "limit_val_batches")
    @classmethod
    def _count_or_fraction(cls, value: float | None) -> float | None:
        if value is not None and value >= 1 and not value.is_integer():
            raise ValueError(f"{value} is neither a whole number nor a fraction below 1")
        return value
