"""What a sweep found: the best trials as a table, and plots of its history and importances.

``write_report`` writes into the study's folder ``trials.csv`` (every trial: number, state,
value, parameters, run folder), ``history.png`` (each complete trial's value and the best so
far, and each pruned trial's last reported value, hollow) and ``importance.png`` (how much of
the value each parameter explains, by Optuna's PED-ANOVA evaluator, once two trials have
finished).
"""

from __future__ import annotations

import csv
import math
import warnings
from typing import TYPE_CHECKING, Any

import optuna

if TYPE_CHECKING:
    from pathlib import Path

    from matplotlib.figure import Figure

    from ..seam.task import Monitor

__all__ = ["best_trials", "describe_study", "history_figure", "write_report"]

_COMPLETE = optuna.trial.TrialState.COMPLETE
_PRUNED = optuna.trial.TrialState.PRUNED


def best_trials(study: optuna.Study, *, top: int) -> list[optuna.trial.FrozenTrial]:
    """The ``top`` complete trials, best first in the study's direction."""
    complete = study.get_trials(deepcopy=False, states=(_COMPLETE,))
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    ranked = sorted(complete, key=lambda trial: float(trial.value or 0.0), reverse=maximize)
    return ranked[:top]


def describe_study(study: optuna.Study, *, top: int = 10) -> list[str]:
    """Lines of text: the trials' states, then the best trials as a table."""
    counts: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        counts[trial.state.name.lower()] = counts.get(trial.state.name.lower(), 0) + 1
    states = ", ".join(f"{count} {state}" for state, count in sorted(counts.items()))
    lines = [f"study {study.study_name}: {len(study.trials)} trials ({states or 'none yet'})"]
    best = best_trials(study, top=top)
    if not best:
        return lines
    names = sorted({name for trial in best for name in trial.params})
    header = ["rank", "trial", "value", *names, "run"]
    rows = [
        [str(rank), str(trial.number), f"{trial.value:.4f}"]
        + [_shown(trial.params.get(name)) for name in names]
        + [str(trial.user_attrs.get("run_dir", ""))]
        for rank, trial in enumerate(best, start=1)
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        lines.append(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return lines


def write_report(study: optuna.Study, folder: Path, *, monitor: Monitor) -> list[Path]:
    """Write ``trials.csv``, ``history.png`` and, with two finished trials, ``importance.png``.

    ``monitor`` is the metric the trials' values are of (the task's), named on the plot's axis.
    """
    folder.mkdir(parents=True, exist_ok=True)
    written = [_write_table(study, folder / "trials.csv"), folder / "history.png"]
    history_figure(study, monitor=monitor).savefig(written[-1], dpi=100)
    importances = _importances(study)
    if importances:
        written.append(_plot_importances(importances, folder / "importance.png"))
    return written


def _write_table(study: optuna.Study, path: Path) -> Path:
    trials = study.get_trials(deepcopy=False)
    names = sorted({name for trial in trials for name in trial.params})
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["trial", "state", "value", *names, "run_dir"])
        for trial in trials:
            writer.writerow(
                [trial.number, trial.state.name.lower(), "" if trial.value is None else trial.value]
                + [_shown(trial.params.get(name)) for name in names]
                + [trial.user_attrs.get("run_dir", "")]
            )
    return path


def history_figure(study: optuna.Study, *, monitor: Monitor) -> Figure:
    """Each trial's value by trial number, and the best value so far.

    A trial's value is the best validation value of ``monitor``'s metric its run reached, better
    as the study's direction says. A pruned trial has none: its last reported value is drawn as a
    hollow marker, as far as it got.
    """
    from matplotlib.figure import Figure  # noqa: PLC0415 (imported only when a figure is drawn)
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415

    complete = sorted(
        study.get_trials(deepcopy=False, states=(_COMPLETE,)), key=lambda trial: trial.number
    )
    numbers = [trial.number for trial in complete]
    values = [float(trial.value or math.nan) for trial in complete]
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    pick = max if maximize else min
    best = [pick(values[: index + 1]) for index in range(len(values))]
    pruned = [
        (trial.number, trial.intermediate_values[max(trial.intermediate_values)])
        for trial in study.get_trials(deepcopy=False, states=(_PRUNED,))
        if trial.intermediate_values  # pruned before its first epoch ended: nothing to draw
    ]
    figure = Figure(figsize=(6, 4))
    axes = figure.subplots()
    axes.scatter(numbers, values, label="trial", color="tab:blue")
    if pruned:
        axes.scatter(
            [number for number, _ in pruned],
            [value for _, value in pruned],
            label="pruned trial (last reported)",
            facecolors="none",
            edgecolors="tab:blue",
        )
    axes.step(numbers, best, where="post", label="best so far", color="tab:red")
    better = "higher" if maximize else "lower"
    axes.set(
        xlabel="trial",
        ylabel=f"val {monitor.metric} ({better} is better)",
        title=f"Sweep {study.study_name}",
    )
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # trials are numbered 0, 1, 2, ...
    if values or pruned:  # below the axes: the points can lie anywhere
        axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncols=3, frameon=False)
    figure.tight_layout()
    return figure


def _importances(study: optuna.Study) -> dict[str, float]:
    """Each parameter's share of the value's variation; empty before two trials finish."""
    if len(study.get_trials(deepcopy=False, states=(_COMPLETE,))) < 2:
        return {}
    with warnings.catch_warnings():  # older Optuna releases flag the evaluator as experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        evaluator = optuna.importance.PedAnovaImportanceEvaluator()  # it warns as it is made
        try:
            return dict(optuna.importance.get_param_importances(study, evaluator=evaluator))
        except (ValueError, RuntimeError):  # too few distinct values to compare
            return {}


def _plot_importances(importances: dict[str, float], path: Path) -> Path:
    from matplotlib.figure import Figure  # noqa: PLC0415 (imported only when a figure is drawn)

    names = list(importances)[::-1]  # the most important at the top
    figure = Figure(figsize=(6, 1.5 + 0.4 * len(names)))
    axes = figure.subplots()
    axes.barh(names, [importances[name] for name in names], color="tab:green")
    axes.set(xlabel="importance (PED-ANOVA)", title="Parameter importance")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return path


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
