"""The engine's own config sections: ``optim``, ``train``, ``distributed`` and ``run``.

Every field has a default, constraints and a description; the command-line help and the
configuration reference are generated from the descriptions (see ``keys.py``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator

from ..seam.sections import Section

__all__ = ["DistributedConfig", "FsdpConfig", "OptimConfig", "RunConfig", "TrainConfig"]

_DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class OptimConfig(Section):
    """Optimizer and its hyperparameters."""

    name: Literal["adamw", "sgd"] = Field(default="adamw", description="Optimizer.")
    lr: float = Field(default=3e-3, gt=0.0, le=10.0, description="Peak learning rate.")
    weight_decay: float = Field(default=0.01, ge=0.0, le=1.0, description="Weight decay.")
    momentum: float = Field(default=0.9, ge=0.0, lt=1.0, description="Momentum (sgd only).")
    beta1: float = Field(default=0.9, ge=0.0, lt=1.0, description="First Adam beta (adamw only).")
    beta2: float = Field(
        default=0.999, ge=0.0, lt=1.0, description="Second Adam beta (adamw only)."
    )
    schedule: Literal["constant", "cosine", "linear"] = Field(
        default="cosine", description="Learning-rate decay after warm-up, per optimizer step."
    )
    warmup_steps: int = Field(
        default=0, ge=0, description="Optimizer steps of linear warm-up from 0 to optim.lr."
    )


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


class FsdpConfig(Section):
    """Sharded training's settings (``distributed.strategy: fsdp``)."""

    param_dtype: Literal["fp32", "bf16", "fp16"] = Field(
        default="fp32",
        description="Element type of the gathered parameters in forward and backward; the "
        "sharded master weights stay fp32.",
    )
    reduce_dtype: Literal["fp32", "bf16", "fp16"] = Field(
        default="fp32", description="Element type in which gradients are reduced across ranks."
    )
    cpu_offload: bool = Field(
        default=False,
        description="Keep the sharded parameters, gradients and optimizer state in CPU memory.",
    )


class DistributedConfig(Section):
    """How training scales out: the strategy, and the process group's settings under torchrun."""

    strategy: Literal["ddp", "fsdp"] = Field(
        default="ddp",
        description="ddp: a full replica of the model per process; fsdp: parameters, gradients "
        "and optimizer state sharded across processes (FSDP2), checkpoints sharded too.",
    )
    fsdp: FsdpConfig = Field(default_factory=FsdpConfig)
    backend: Literal["auto", "gloo", "nccl"] = Field(
        default="auto", description="auto (nccl on CUDA, gloo on CPU), gloo or nccl."
    )
    timeout_s: float = Field(
        default=600.0,
        gt=0.0,
        le=86_400.0,
        description="Seconds a rank waits for the others before the run fails.",
    )


class RunConfig(Section):
    """Where run records and checkpoints go."""

    output_dir: Path = Field(default=Path("runs"), description="Folder that holds one run each.")
    name: str = Field(
        default="default",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="Run name, used in the run folder name.",
    )
    group: str | None = Field(
        default=None,
        description="The group (seeds, folds or sweep) the run belongs to; set by the engine.",
    )
    learning_curve: bool = Field(
        default=False,
        description="Draw learning_curve.png when the run ends (about a second of matplotlib); "
        "the plot command draws it for any run, at any time.",
    )
    figures: bool = Field(
        default=False,
        description="Write the final validation's figures and tables when the run ends (such as "
        "val_confusion_matrix.png and .csv); evaluate --output-dir writes them for any run.",
    )
