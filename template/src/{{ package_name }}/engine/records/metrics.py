"""The run's learning curve: ``metrics.jsonl`` (one JSON object per epoch) and its plot.

``append_metrics`` adds a line whole or not at all; ``plot_learning_curve`` draws the loss and
the monitored metric per epoch into ``learning_curve.png``.
"""

from __future__ import annotations

import json
import math
import os
from typing import TYPE_CHECKING, Any

from ..core.exceptions import ProjectError
from ..core.files import write_error

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

__all__ = ["append_metrics", "draw_learning_curve", "plot_learning_curve", "read_metrics"]


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


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """Read every line of ``metrics.jsonl`` (an empty list if there is none yet)."""
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def draw_learning_curve(run_dir: Path) -> Path:
    """Draw ``learning_curve.png`` of a run from its ``metrics.jsonl``; return the file's path.

    The validation metric drawn beside the loss is the one the run monitored (from
    ``summary.json``), or the first the task reports.

    Raises:
        ProjectError: If the folder holds no finished epoch.
    """
    history = read_metrics(run_dir)
    if not history:
        raise ProjectError(f"{str(run_dir)!r} holds no metrics.jsonl with a finished epoch")
    summary_path = run_dir / "summary.json"
    summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.is_file() else {}
    metric = summary.get("monitor", {}).get("metric", "loss")
    path = run_dir / "learning_curve.png"
    plot_learning_curve(history, path, metric=metric)
    return path


def plot_learning_curve(history: list[dict[str, Any]], path: Path, *, metric: str) -> None:
    """Draw training and validation loss, and a validation metric, per epoch into a PNG.

    ``metric`` is the one the task monitors; when that is the loss, the first other metric the
    task reports is drawn, if there is one.
    """
    # A bare Figure needs no GUI backend and no pyplot global state.
    from matplotlib.figure import Figure  # noqa: PLC0415 (imported only when a figure is drawn)

    if metric == "loss":
        others = [key.removeprefix("val_") for key in history[-1] if key.startswith("val_")]
        metric = next((name for name in others if name not in {"loss", "num_samples"}), "")
    epochs = [row["epoch"] for row in history]
    figure = Figure(figsize=(10, 4) if metric else (5, 4))
    panels = figure.subplots(1, 2 if metric else 1, squeeze=False)[0]
    panels[0].plot(epochs, [row["train_loss"] for row in history], label="train")
    panels[0].plot(epochs, [row["val_loss"] for row in history], label="validation")
    panels[0].set(xlabel="epoch", ylabel="loss", title="Loss")
    panels[0].legend()
    if metric:
        values = [row.get(f"val_{metric}", math.nan) for row in history]
        panels[1].plot(epochs, values, color="tab:green")
        panels[1].set(xlabel="epoch", ylabel=metric, title=f"Validation {metric}")
    figure.tight_layout()
    try:
        figure.savefig(path, dpi=100)
    except OSError as err:
        raise write_error(path, err) from err
