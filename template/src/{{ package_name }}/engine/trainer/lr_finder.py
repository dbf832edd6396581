"""The learning-rate finder: a short run whose learning rate grows exponentially at each step.

One optimizer step per batch, from ``min_lr`` to ``max_lr`` over ``steps`` steps, on a fresh
model (``probe.py``: nothing of any run changes). The loss is smoothed by an exponential moving
average (bias-corrected); the sweep stops early once the smoothed loss exceeds ``diverge`` times
its lowest value, or a loss is not finite. The suggested rate is where the smoothed loss falls
fastest against log(lr), before its minimum (the "steepest descent" rule of Smith's range test
and fastai's ``lr_find``): a start for ``optim.lr``, not a guarantee.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal

from ..core.exceptions import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

    from .probe import Probe

__all__ = ["LrSweep", "draw_sweep", "suggest_lr", "sweep_lr"]

SKIP_START = 5  # the first smoothed values lean on too few losses to rank slopes by


@dataclass(frozen=True)
class LrSweep:
    """The learning rates tried, their losses, and the suggested rate (``None``: no descent)."""

    lr: list[float]
    loss: list[float]
    smoothed_loss: list[float]
    suggested_lr: float | None
    min_loss_lr: float | None
    stopped: Literal["max_lr", "diverged", "not_finite"]
    batch_size: int

    def as_dict(self) -> dict[str, object]:
        """Everything, for JSON."""
        return asdict(self)


def sweep_lr(
    probe: Probe,
    *,
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    steps: int = 200,
    smoothing: float = 0.98,
    diverge: float = 4.0,
) -> LrSweep:
    """Train ``probe`` for up to ``steps`` steps at learning rates from ``min_lr`` to ``max_lr``.

    Parameter groups with a rate of their own keep its ratio to ``optim.lr``.

    Raises:
        ConfigError: If the range or the number of steps makes no sweep.
    """
    if not 0 < min_lr < max_lr:
        raise ConfigError(f"the sweep needs 0 < min_lr < max_lr, got {min_lr:g} and {max_lr:g}")
    if steps < 2 * SKIP_START:
        raise ConfigError(f"the sweep needs at least {2 * SKIP_START} steps, got {steps}")
    ratios = [group["lr"] / probe.config.optim.lr for group in probe.optimizer.param_groups]
    rates, losses, smoothed = [], [], []
    average, lowest = 0.0, math.inf
    stopped: Literal["max_lr", "diverged", "not_finite"] = "max_lr"
    batches = probe.batches()
    for step in range(steps):
        lr = min_lr * (max_lr / min_lr) ** (step / (steps - 1))
        for group, ratio in zip(probe.optimizer.param_groups, ratios, strict=True):
            group["lr"] = lr * ratio
        loss = float(probe.step(next(batches)))
        if not math.isfinite(loss):
            stopped = "not_finite"
            break
        average = smoothing * average + (1 - smoothing) * loss
        value = average / (1 - smoothing ** (step + 1))  # without the bias toward the start
        rates.append(lr)
        losses.append(loss)
        smoothed.append(value)
        lowest = min(lowest, value)
        if value > diverge * lowest:
            stopped = "diverged"
            break
    suggested, at_min = suggest_lr(rates, smoothed)
    return LrSweep(
        lr=rates,
        loss=losses,
        smoothed_loss=smoothed,
        suggested_lr=suggested,
        min_loss_lr=at_min,
        stopped=stopped,
        batch_size=probe.config.data.batch_size,
    )


def suggest_lr(rates: list[float], smoothed: list[float]) -> tuple[float | None, float | None]:
    """The rate of steepest descent before the lowest smoothed loss, and the rate at that low.

    The slope is taken against log(lr) by central differences, from the ``SKIP_START``-th
    point to the lowest one. ``None`` where the loss never fell over at least three points.
    """
    if not smoothed:
        return None, None
    low = min(range(len(smoothed)), key=smoothed.__getitem__)
    at_min = rates[low]
    points = range(max(SKIP_START, 1), low)  # each with a neighbour on both sides
    slopes = {
        i: (smoothed[i + 1] - smoothed[i - 1]) / math.log(rates[i + 1] / rates[i - 1])
        for i in points
    }
    falling = {i: slope for i, slope in slopes.items() if slope < 0}
    if not falling:
        return None, at_min
    steepest = min(falling, key=falling.__getitem__)
    return rates[steepest], at_min


def draw_sweep(sweep: LrSweep, path: Path) -> None:
    """Draw the loss against the learning rate (log scale) into ``path``, the suggestion marked."""
    # A bare Figure needs no GUI backend and no pyplot global state.
    from matplotlib.figure import Figure  # noqa: PLC0415 (imported only when a figure is drawn)

    figure = Figure(figsize=(7, 4.5))
    axes = figure.subplots()
    axes.plot(sweep.lr, sweep.loss, color="0.75", linewidth=0.8, label="loss")
    axes.plot(sweep.lr, sweep.smoothed_loss, color="C0", label="smoothed loss")
    if sweep.suggested_lr is not None:
        label = f"suggested {sweep.suggested_lr:.2g}"
        axes.axvline(sweep.suggested_lr, color="C3", linestyle="--", label=label)
    if sweep.smoothed_loss:  # the diverging tail would flatten the rest: keep the start in view
        low = min(sweep.smoothed_loss + sweep.loss)
        start = max(sweep.smoothed_loss[: SKIP_START + 1])
        axes.set_ylim(low - 0.05 * (start - low), start + 0.25 * (start - low) + 1e-12)
    axes.set_xscale("log")
    axes.set(
        xlabel="learning rate",
        ylabel="training loss",
        title=f"Learning-rate sweep (batch size {sweep.batch_size}, stopped: {sweep.stopped})",
    )
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
