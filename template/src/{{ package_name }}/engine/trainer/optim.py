"""Optimizers and learning-rate schedules, built from the ``optim`` config section.

Parts of the model named in ``optim.lr_groups`` or ``optim.freeze_epochs`` (a backbone, say)
are parameter groups of their own, each with its learning rate; a frozen part's factor is 0 for
its first epochs, so the optimizer leaves its weights exactly as they were.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from torch.optim.lr_scheduler import LambdaLR

from ..core.exceptions import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from torch import nn

    from ..settings.sections import OptimConfig

__all__ = ["build_optimizer", "build_scheduler", "lr_factor", "parameter_groups"]

ParamGroups = list[dict[str, Any]]


def parameter_groups(config: OptimConfig, model: nn.Module) -> ParamGroups:
    """The model's parameters in groups: those of no named part first, then each named part.

    A part is named as its parameters' names begin (``backbone`` holds ``backbone.0.weight``);
    a parameter belongs to the longest name that fits it. Each group records its name.

    Raises:
        ConfigError: If a name in ``optim.lr_groups`` or ``optim.freeze_epochs`` fits no
            parameter.
    """
    names = sorted(set(config.lr_groups) | set(config.freeze_epochs), key=len, reverse=True)
    parts: dict[str, list[torch.nn.Parameter]] = {name: [] for name in sorted(names)}
    rest: list[torch.nn.Parameter] = []
    for param_name, param in model.named_parameters():
        part = next((n for n in names if param_name == n or param_name.startswith(n + ".")), None)
        (rest if part is None else parts[part]).append(param)
    empty = [name for name, params in parts.items() if not params]
    if empty:
        tops = sorted({name.partition(".")[0] for name, _ in model.named_parameters()})
        raise ConfigError(
            f"optim.lr_groups/optim.freeze_epochs name {empty[0]!r}, which holds no parameter "
            f"of the model; its parts are {tops}"
        )
    groups: ParamGroups = [{"params": rest, "group": ""}] if rest else []
    for name, params in parts.items():
        groups.append(
            {"params": params, "lr": config.lr_groups.get(name, config.lr), "group": name}
        )
    return groups


def build_optimizer(
    config: OptimConfig,
    params: Iterable[torch.nn.Parameter] | ParamGroups,
    *,
    device: torch.device,
) -> torch.optim.Optimizer:
    """Create the optimizer the config names, with a fused or multi-tensor kernel.

    The fused AdamW kernel runs on CPU, CUDA and MPS and is markedly faster than the per-tensor
    loop; SGD uses the multi-tensor (``foreach``) path where the device supports it.
    """
    if config.name == "adamw":
        return torch.optim.AdamW(
            params,
            lr=config.lr,
            weight_decay=config.weight_decay,
            betas=(config.beta1, config.beta2),
            fused=device.type in {"cpu", "cuda", "mps"},
        )
    return torch.optim.SGD(
        params,
        lr=config.lr,
        weight_decay=config.weight_decay,
        momentum=config.momentum,
        foreach=device.type == "cuda",
    )


def lr_factor(step: int, *, schedule: str, warmup_steps: int, total_steps: int) -> float:
    """Multiplier of the base learning rate at optimizer step ``step`` (0-based).

    A linear warm-up over ``warmup_steps`` is followed by a constant rate, a cosine decay or a
    linear decay to zero at ``total_steps``.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    decay_steps = max(total_steps - warmup_steps, 1)
    progress = min((step - warmup_steps) / decay_steps, 1.0)
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return 1.0 - progress


def build_scheduler(
    config: OptimConfig,
    optimizer: torch.optim.Optimizer,
    *,
    total_steps: int,
    steps_per_epoch: int = 1,
) -> LambdaLR:
    """Wrap ``lr_factor`` in a scheduler that is stepped once per optimizer step.

    A group frozen for ``optim.freeze_epochs`` epochs has factor 0 for that many epochs of
    ``steps_per_epoch`` steps.
    """

    def factor(step: int) -> float:
        return lr_factor(
            step,
            schedule=config.schedule,
            warmup_steps=config.warmup_steps,
            total_steps=total_steps,
        )

    def frozen_for(steps: int) -> Callable[[int], float]:
        return lambda step: 0.0 if step < steps else factor(step)

    frozen = [
        config.freeze_epochs.get(group.get("group", ""), 0) * steps_per_epoch
        for group in optimizer.param_groups
    ]
    if not any(frozen):
        return LambdaLR(optimizer, factor)
    return LambdaLR(optimizer, [frozen_for(steps) for steps in frozen])
