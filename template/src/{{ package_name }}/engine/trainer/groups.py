"""Groups of runs: one config trained with several seeds, or on each fold of k-fold validation.

``train --seeds 0,1,2`` (or ``train.seeds``) trains the config once per seed; ``--all-folds``
trains it once per fold of ``data.folds`` (both together: once per seed and fold). Each member is
a normal run folder under ``run.output_dir``, named ``<run.name>-seed<S>`` or ``-fold<F>``, and
its config has ``run.group`` set to the group. The group's folder,
``<output_dir>/<UTC time>-<run.name>-<seeds|folds>``, holds ``group.json`` (the members and their
run folders) and, once they are done, ``summary.json``: the mean, standard deviation, minimum and
maximum of each final metric over the members. One number from one seed hides how much it
varies; the standard deviation says how far apart two configs must be to differ.
"""

from __future__ import annotations

import json
import logging
import math
import os
import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import product
from typing import TYPE_CHECKING, Any

from ..core.exceptions import ConfigError
from ..core.files import atomic_write_text
from ..records.folders import create_run_dir

if TYPE_CHECKING:
    from pathlib import Path

    from ..seam.task import Task
    from ..settings.loading import Config
    from .results import TrainResult

__all__ = ["GroupResult", "Member", "describe_summary", "group_members", "summarize", "train_group"]

logger = logging.getLogger(__name__)

_MANY_SEEDS = 100  # more runs of one config than measuring its spread needs


@dataclass(frozen=True)
class Member:
    """One run of a group: its seed (``None``: the config's) and fold (``None``: no folds)."""

    seed: int | None = None
    fold: int | None = None

    @property
    def suffix(self) -> str:
        """What the member's run name adds: ``seed0``, ``fold2``, ``seed0-fold2``."""
        parts = [f"seed{self.seed}"] if self.seed is not None else []
        return "-".join([*parts, *([f"fold{self.fold}"] if self.fold is not None else [])])

    def configure(self, config: Config, *, group: str) -> Config:
        """A copy of ``config`` for this member: its seed and fold, no group of its own."""
        member = config.model_copy(deep=True)
        if self.seed is not None:
            member.train.seed = self.seed
        member.train.seeds = None
        if self.fold is not None:
            member.data.fold = self.fold
        member.run.name = f"{config.run.name}-{self.suffix}"
        member.run.group = group
        return member


@dataclass(frozen=True)
class GroupResult:
    """The group's folder, its members' results and its summary."""

    group_dir: Path
    results: list[TrainResult] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    out_of_time: bool = False
    """Whether ``train.max_time`` stopped the group: a member stopped by it, or none left."""

    @property
    def signal_number(self) -> int | None:
        """The signal that stopped a member, and so the group; ``None`` if none did."""
        return next((r.signal_number for r in self.results if r.signal_number is not None), None)


def group_members(config: Config, *, all_folds: bool = False) -> list[Member]:
    """The members a config asks for: one per seed of ``train.seeds``, per fold if ``all_folds``.

    Returns:
        The members, or an empty list when the config trains a single run.

    Raises:
        ConfigError: If ``all_folds`` is asked without ``data.folds``, or a seed is given twice.
    """
    folds = config.data.folds
    if all_folds and folds is None:
        raise ConfigError("--all-folds needs data.folds, the number of folds (such as 5)")
    if not config.train.seeds and not all_folds:
        return []
    if config.train.seeds:
        _check_seeds(config.train.seeds)
    seeds: list[int | None] = [*config.train.seeds] if config.train.seeds else [None]
    fold_indices: list[int | None] = list(range(folds)) if all_folds and folds else [None]
    return [Member(seed, fold) for seed, fold in product(seeds, fold_indices)]


def _check_seeds(seeds: list[int]) -> None:
    """Refuse a seed given twice; warn of more seeds than a spread needs.

    Raises:
        ConfigError: If a seed is given twice: it would train the same run again, and the
            statistics would count it twice.
    """
    repeated = sorted({seed for seed in seeds if seeds.count(seed) > 1})
    if repeated:
        names = ", ".join(str(seed) for seed in repeated)
        distinct = ",".join(str(seed) for seed in dict.fromkeys(seeds))
        raise ConfigError(
            f"train.seeds gives {names} more than once: a seed trains the same run each time; "
            f"give each seed once, such as {distinct}"
        )
    if len(seeds) > _MANY_SEEDS:
        logger.warning(
            "train.seeds asks for %d runs of one config, one after another; a handful of seeds "
            "(3 to 10) measure how much its metrics vary",
            len(seeds),
        )


def train_group(
    config: Config,
    members: list[Member],
    *,
    task: type[Task[Any, Any]] | None = None,
    argv: list[str] | None = None,
    show_progress: bool = False,
) -> GroupResult:
    """Train every member of the group in turn, then write the group's ``summary.json``.

    A member stopped by a signal stops the group: the summary covers the members that finished.
    So does ``train.max_time``, which is the whole group's budget (one process under one limit):
    a member that runs out of it saves a checkpoint to resume, and the members after it wait.

    Raises:
        ConfigError: If started by torchrun (a group runs its members in one process).
    """
    from .run import train  # noqa: PLC0415 (imports torch)

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError(
            "a group of runs trains its members one after another in one process: start it "
            "without torchrun, or start one torchrun job per seed or fold"
        )
    kind = _kind(members)
    named = config.model_copy(deep=True)
    named.run.name = f"{config.run.name}-{kind}"
    group_dir = create_run_dir(named)
    started, budget = time.monotonic(), config.train.max_time
    results: list[TrainResult] = []
    out_of_time = False
    for index, member in enumerate(members, start=1):
        if budget is not None and results and time.monotonic() >= started + budget:
            out_of_time = True  # the last member finished as the budget ran out
            break
        member_config = member.configure(config, group=group_dir.name)
        logger.info(
            "group %s: run %d of %d (%s)", group_dir.name, index, len(members), member.suffix
        )
        result = train(
            member_config,
            task=task,
            argv=argv,
            show_progress=show_progress,
            budget_started=started,
        )
        results.append(result)
        _write_members(group_dir, config, members, results)
        out_of_time = result.stop_reason == "max_time"
        if result.signal_number is not None or out_of_time:
            break
    summary = summarize(group_dir, members[: len(results)], results, kind=kind)
    atomic_write_text(group_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    return GroupResult(
        group_dir=group_dir, results=results, summary=summary, out_of_time=out_of_time
    )


def summarize(
    group_dir: Path, members: list[Member], results: list[TrainResult], *, kind: str
) -> dict[str, Any]:
    """The group summary: each member's final metrics, and their statistics per metric.

    The final metrics are those of each run's last epoch (``summary.json``'s ``final``): the
    training loss and every validation metric.
    """
    rows: list[dict[str, Any]] = []
    for member, result in zip(members, results, strict=True):
        final = _final_metrics(result.run_dir)
        rows.append(
            {
                "seed": member.seed,
                "fold": member.fold,
                "run_dir": os.path.relpath(result.run_dir, group_dir),
                "stop_reason": result.stop_reason,
                "final": final,
            }
        )
    first: dict[str, float] = rows[0]["final"] if rows else {}
    names = [name for name in first if all(name in row["final"] for row in rows)]
    return {
        "group": group_dir.name,
        "kind": kind,
        "members": rows,
        "metrics": {name: _statistics([row["final"][name] for row in rows]) for name in names},
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def describe_summary(summary: dict[str, Any]) -> list[str]:
    """The summary as lines of text: one per metric, ``name  mean ± std  (min .. max, n)``."""
    metrics: dict[str, dict[str, float]] = summary["metrics"]
    width = max((len(name) for name in metrics), default=0)
    return [
        f"{name:<{width}}  {stats['mean']:.4f} ± {stats['std']:.4f}  "
        f"(min {stats['min']:.4f}, max {stats['max']:.4f}, n={int(stats['n'])})"
        for name, stats in metrics.items()
    ]


def _kind(members: list[Member]) -> str:
    """``seeds``, ``folds`` or ``seeds-folds``: what varies across the members."""
    has_seeds = any(member.seed is not None for member in members)
    has_folds = any(member.fold is not None for member in members)
    return "-".join(name for name, has in (("seeds", has_seeds), ("folds", has_folds)) if has)


def _final_metrics(run_dir: Path) -> dict[str, float]:
    """The training loss and validation metrics of a run's last epoch (none if it had none)."""
    summary_path = run_dir / "summary.json"
    if not summary_path.is_file():
        return {}
    final = json.loads(summary_path.read_text(encoding="utf-8")).get("final") or {}
    return {
        key: float(value)
        for key, value in final.items()
        if (key == "train_loss" or key.startswith("val_")) and key != "val_num_samples"
    }


def _statistics(values: list[float]) -> dict[str, float]:
    """Mean, sample standard deviation (0 for one value), minimum, maximum and count."""
    finite = [value for value in values if math.isfinite(value)]
    if not finite:
        return {"mean": math.nan, "std": math.nan, "min": math.nan, "max": math.nan, "n": 0}
    return {
        "mean": statistics.fmean(finite),
        "std": statistics.stdev(finite) if len(finite) > 1 else 0.0,
        "min": min(finite),
        "max": max(finite),
        "n": len(finite),
    }


def _write_members(
    group_dir: Path, config: Config, members: list[Member], results: list[TrainResult]
) -> None:
    """Record the group's members and the run folders of those started so far."""
    document = {
        "group": group_dir.name,
        "config": config.model_dump(mode="json"),
        "members": [
            {
                "seed": member.seed,
                "fold": member.fold,
                "run_dir": os.path.relpath(result.run_dir, group_dir) if result else None,
            }
            for member, result in zip(members, [*results, *[None] * len(members)], strict=False)
        ],
    }
    atomic_write_text(group_dir / "group.json", json.dumps(document, indent=2) + "\n")
