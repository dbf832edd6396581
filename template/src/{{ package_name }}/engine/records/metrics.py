"""The run's learning curve: ``metrics.jsonl`` (one JSON object per epoch) and its plot.

``append_metrics`` adds a line whole or not at all, and ``drop_metrics_after`` drops the lines a
resumed run will write again; ``plot_learning_curve`` draws the loss and the monitored metric per
epoch, the best epoch marked, into ``learning_curve.png``.
"""

from __future__ import annotations

import json
import math
import os
from typing import TYPE_CHECKING, Any, Literal

from ..core.exceptions import ProjectError
from ..core.files import atomic_write_text, write_error

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

Mode = Literal["min", "max"]  # as a task's Monitor says: whether lower or higher is better

__all__ = [
    "Mode",
    "append_metrics",
    "best_epoch",
    "draw_learning_curve",
    "drop_metrics_after",
    "learning_curve_figure",
    "plot_learning_curve",
    "read_metrics",
]


def append_metrics(run_dir: Path, metrics: Mapping[str, Any]) -> None:
    """Append one JSON line of metrics to ``metrics.jsonl``.

    Raises:
        StorageError: If the line cannot be written; the file is left as it was, without a
            partial line.
    """
    path = run_dir / "metrics.jsonl"
    line = (json.dumps(dict(metrics)) + "\n").encode("utf-8")
    try:
        with path.open("ab", buffering=0) as file:  # unbuffered: one write, or none
            end = file.seek(0, os.SEEK_END)
            try:
                rest = memoryview(line)
                while rest:  # a short write is followed by one that raises, on a full disk
                    rest = rest[file.write(rest) :]
            except OSError:
                file.truncate(end)
                raise
    except OSError as err:
        raise write_error(path, err) from err


def drop_metrics_after(run_dir: Path, step: int) -> int:
    """Drop the lines of ``metrics.jsonl`` past optimizer step ``step``; return how many.

    A run killed after an epoch's line was written but before its checkpoint was, resumes from
    an earlier checkpoint and trains that epoch again: its first line is dropped here, so that
    each epoch appears once. The file is replaced atomically.

    Raises:
        StorageError: If the file cannot be rewritten; it keeps its old content.
    """
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return 0
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if not _past(line, step)]
    if len(kept) < len(lines):
        atomic_write_text(path, "".join(kept))
    return len(lines) - len(kept)


def _past(line: str, step: int) -> bool:
    """Whether a metrics line records a later step than ``step`` (a line unread is kept)."""
    try:
        recorded = json.loads(line).get("step")
    except (ValueError, AttributeError):
        return False
    return isinstance(recorded, int) and recorded > step


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """Read every line of ``metrics.jsonl`` (an empty list if there is none yet)."""
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def best_epoch(history: list[dict[str, Any]], *, metric: str, mode: Mode) -> dict[str, Any] | None:
    """The line of the epoch with the best finite ``val_<metric>``, the first of equals.

    ``None`` if no epoch has one. It is the run's ``best`` in ``summary.json``.
    """
    key = f"val_{metric}"
    scored = [row for row in history if math.isfinite(row.get(key, math.nan))]
    pick = min if mode == "min" else max
    return pick(scored, key=lambda row: row[key], default=None)


def draw_learning_curve(run_dir: Path) -> Path:
    """Draw ``learning_curve.png`` of a run from its ``metrics.jsonl``; return the file's path.

    The validation metric drawn beside the loss, and the best epoch marked on both, are the
    run's monitored metric's (from ``summary.json``); without a summary, the validation loss's.

    Raises:
        ProjectError: If the folder holds no finished epoch.
    """
    history = read_metrics(run_dir)
    if not history:
        raise ProjectError(f"{str(run_dir)!r} holds no metrics.jsonl with a finished epoch")
    summary_path = run_dir / "summary.json"
    summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.is_file() else {}
    monitor = summary.get("monitor", {})
    path = run_dir / "learning_curve.png"
    mode: Mode = "max" if monitor.get("mode") == "max" else "min"
    plot_learning_curve(history, path, metric=monitor.get("metric", "loss"), mode=mode)
    return path


def plot_learning_curve(
    history: list[dict[str, Any]], path: Path, *, metric: str, mode: Mode
) -> None:
    """Draw ``learning_curve_figure`` of ``history`` into a PNG file.

    Raises:
        StorageError: If the file cannot be written.
    """
    figure = learning_curve_figure(history, metric=metric, mode=mode)
    try:
        figure.savefig(path, dpi=100)
    except OSError as err:
        raise write_error(path, err) from err


def learning_curve_figure(history: list[dict[str, Any]], *, metric: str, mode: Mode) -> Figure:
    """Training and validation loss, and a validation metric, per epoch; the best epoch marked.

    ``metric`` and ``mode`` are the run's monitored metric and whether lower or higher is
    better. The metric is drawn beside the loss; when it is the loss, the first other metric the
    task reports is drawn, if there is one. The best epoch by ``metric`` is a dashed line on
    every panel.
    """
    # A bare Figure needs no GUI backend and no pyplot global state.
    from matplotlib.figure import Figure  # noqa: PLC0415 (imported only when a figure is drawn)
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415

    monitored, shown = metric, metric
    if shown == "loss":
        others = [key.removeprefix("val_") for row in history for key in row if key[:4] == "val_"]
        shown = next((name for name in others if name not in {"loss", "num_samples"}), "")
    figure = Figure(figsize=(10, 4) if shown else (5, 4))
    panels = figure.subplots(1, 2 if shown else 1, squeeze=False)[0]
    # Each series over the lines that have it: an epoch that did not validate has no val_ values,
    # and a validation within an epoch (train.val_interval) has a fractional epoch.
    train_epochs, train_losses = _series(history, "train_loss")
    val_epochs, val_losses = _series(history, "val_loss")
    panels[0].plot(train_epochs, train_losses, label="train")
    panels[0].plot(val_epochs, val_losses, label="validation")
    panels[0].set(xlabel="epoch", ylabel="loss", title="Loss")
    _readable_range(panels[0], [*train_losses, *val_losses], at_most_one=False)
    if shown:
        epochs, values = _series(history, f"val_{shown}")
        panels[1].plot(epochs, values, color="tab:green", label=f"val {shown}")
        panels[1].set(xlabel="epoch", ylabel=f"val {shown}", title=f"Validation {shown}")
        # Higher is better and 1 is the best: accuracy, F1, AUC, R squared.
        _readable_range(panels[1], values, at_most_one=shown == monitored and mode == "max")
    best = best_epoch(history, metric=monitored, mode=mode)
    for axes in panels:
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        if best is not None:
            axes.axvline(
                best["epoch"],
                color="tab:gray",
                linestyle="--",
                linewidth=1,
                label=f"best: epoch {best['epoch']} (val {monitored} "
                f"{best[f'val_{monitored}']:.4g})",
            )
        axes.legend()
    figure.tight_layout()
    return figure


def _series(history: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    """The epochs of the lines that hold ``key``, and its values there."""
    rows = [row for row in history if key in row]
    return [row["epoch"] for row in rows], [row[key] for row in rows]


# The least y range of a panel: a share of the values' size, and for a score of at most 1, an
# amount of it (see _readable_range).
_LEAST_RELATIVE_SPAN = 0.1
_LEAST_SCORE_SPAN = 0.1


def _readable_range(axes: Axes, values: list[float], *, at_most_one: bool) -> None:
    """Widen the y range of values that barely differ, so that their change looks as small.

    Left to itself, matplotlib fills the axis with whatever range the values span: two epochs of
    loss 0.6931 and 0.6925 would look like a fall from top to bottom. The range is widened to at
    least a tenth of the values' size: 0.07 for that loss, whose change then fills a tenth of the
    axis. A score whose best is 1 (``at_most_one``: accuracy, F1, ...) with values in [0, 1] gets
    at least 0.1, kept inside [0, 1]: 0.50 and 0.51 are a small step however small the values.
    A range wider than that keeps matplotlib's choice.
    """
    finite = [value for value in values if math.isfinite(value)]
    if not finite:
        return
    low, high = min(finite), max(finite)
    unit = at_most_one and low >= 0.0 and high <= 1.0
    least = _LEAST_RELATIVE_SPAN * max(abs(low), abs(high))
    if unit:
        least = max(least, _LEAST_SCORE_SPAN)
    if high - low >= least or least == 0.0:
        return
    middle = (low + high) / 2
    bottom, top = middle - least / 2, middle + least / 2
    if unit:  # slide the window inside [0, 1] rather than show impossible values
        shift = max(0.0 - bottom, 0.0) - max(top - 1.0, 0.0)
        bottom, top = bottom + shift, top + shift
    axes.set_ylim(bottom, top)
