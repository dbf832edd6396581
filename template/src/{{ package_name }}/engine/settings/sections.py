"""The engine's own config sections: ``optim``, ``train``, ``distributed`` and ``run``.

Every field has a default, constraints and a description; the command-line help and the
configuration reference are generated from the descriptions (see ``keys.py``). The ``train``
section, the largest, lives in ``training.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from ..seam.sections import Section
from .training import TrainConfig

__all__ = ["DistributedConfig", "FsdpConfig", "OptimConfig", "RunConfig", "TrainConfig"]


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
    lr_groups: dict[str, Annotated[float, Field(gt=0.0, le=10.0)]] = Field(
        default_factory=dict,
        description="Peak learning rates of parts of the model, by name (backbone: the "
        "parameters whose names start with backbone.); the rest train at optim.lr.",
    )
    freeze_epochs: dict[str, Annotated[int, Field(ge=0)]] = Field(
        default_factory=dict,
        description="Epochs a part of the model, by name as in optim.lr_groups, stays frozen at "
        "the start: its learning rate is 0, so its weights stay as they were.",
    )


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
