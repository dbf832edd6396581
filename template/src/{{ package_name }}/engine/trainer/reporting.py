"""What each epoch and each validation report: a line in ``metrics.jsonl`` and one log line.

An epoch's line holds its training loss, time and throughput, and its validation metrics if it
validated; a validation within an epoch (``train.val_interval``) gets a line of its own, whose
``epoch`` is a fraction (1.5: half-way through the second). The log line shows the validation
metrics, always including the one that selects the best checkpoint, so that the choice of
``best`` can be followed as it happens.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..core.exceptions import TrainingError
from ..records.metrics import append_metrics

if TYPE_CHECKING:
    from pathlib import Path

    from ..evaluation.loop import EvalMetrics
    from ..seam.task import Monitor, Task
    from .position import Position
    from .results import EpochResult

__all__ = [
    "describe_metrics",
    "epoch_metrics",
    "monitored_value",
    "report_epoch",
    "validation_metrics",
]

logger = logging.getLogger(__name__)


def monitored_value(val: EvalMetrics, task: Task[Any, Any]) -> float:
    """The value of the metric that selects the best checkpoint.

    Raises:
        TrainingError: If evaluation does not report the metric the task monitors.
    """
    try:
        return val.values[task.monitor.metric]
    except KeyError:
        raise TrainingError(
            f"the task monitors the metric {task.monitor.metric!r}, but evaluation reports "
            f"{sorted(val.values)}: fix {type(task).__name__}.monitor or its metrics()"
        ) from None


def epoch_metrics(
    position: Position, result: EpochResult | None, *, loss: float, lr: float, seconds: float
) -> dict[str, Any]:
    """The line ``metrics.jsonl`` gets for the epoch just ended (``result``: its validation)."""
    val = result.val.as_dict() if result is not None else {}
    return {
        "epoch": position.epoch,
        "step": position.step,
        "train_loss": loss,
        **{f"val_{key}": value for key, value in val.items()},
        "lr": lr,
        "seconds": round(seconds, 3),
    }


def validation_metrics(result: EpochResult, *, lr: float) -> dict[str, Any]:
    """The line ``metrics.jsonl`` gets for a validation within an epoch."""
    return {
        "epoch": result.epochs_done,
        "step": result.step,
        "train_loss": result.train_loss,
        **{f"val_{key}": value for key, value in result.val.as_dict().items()},
        "lr": lr,
    }


def report_epoch(
    run_dir: Path, metrics: dict[str, Any], result: EpochResult | None, *, monitor: Monitor
) -> None:
    """Append a line to ``metrics.jsonl`` (an epoch's, or a validation's) and log it."""
    append_metrics(run_dir, metrics)
    where = f"epoch {metrics['epoch']}"
    if result is not None and result.progress is not None:
        where = f"epoch {result.progress:.2f} (step {result.step})"
    parts = [f"train loss {metrics['train_loss']:.4f}"]
    if result is not None:
        parts.append(describe_metrics(result.val, prefix="val ", monitored=monitor.metric))
    took = f" ({metrics['seconds']:.1f}s)" if "seconds" in metrics else ""
    logger.info("%s: %s%s", where, ", ".join(parts), took)


def describe_metrics(
    metrics: EvalMetrics, *, prefix: str = "", limit: int = 3, monitored: str | None = None
) -> str:
    """``loss 0.1234, accuracy 0.9500, ...``: the first ``limit`` metrics, for one log line.

    ``monitored`` names a metric that is always shown, after the first ``limit`` if it is not
    among them.
    """
    names = list(metrics.values)[:limit]
    if monitored in metrics.values and monitored not in names:
        names.append(monitored)
    return ", ".join(f"{prefix}{name} {metrics.values[name]:.4f}" for name in names)
