"""What each epoch reports: a line in ``metrics.jsonl`` and one log line.

The log line shows the training loss and the validation metrics, always including the metric
that selects the best checkpoint, so that the choice of ``best`` can be followed as it happens.
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
    from .results import EpochResult

__all__ = ["describe_metrics", "epoch_metrics", "monitored_value", "report_epoch"]

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


def epoch_metrics(result: EpochResult, *, lr: float, seconds: float) -> dict[str, float]:
    """The line ``metrics.jsonl`` gets for an epoch."""
    return {
        "epoch": result.epoch,
        "step": result.step,
        "train_loss": result.train_loss,
        **{f"val_{key}": value for key, value in result.val.as_dict().items()},
        "lr": lr,
        "seconds": round(seconds, 3),
    }


def report_epoch(
    run_dir: Path, metrics: dict[str, float], val: EvalMetrics, *, monitor: Monitor
) -> None:
    """Append the epoch's metrics to ``metrics.jsonl`` and log its line."""
    append_metrics(run_dir, metrics)
    logger.info(
        "epoch %d: train loss %.4f, %s (%.1fs)",
        metrics["epoch"],
        metrics["train_loss"],
        describe_metrics(val, prefix="val ", monitored=monitor.metric),
        metrics["seconds"],
    )


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
