"""The ``train`` command: one run, or a group of runs over seeds or folds.

Torch is imported inside the command, never at module level, so ``--help`` answers at once; the
command says what it is loading before it imports torch and the project, which takes seconds,
and up to a minute on a busy machine, so that something answers at once.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ..core.log import setup_logging
from .options import (
    AllFolds,
    ConfigPath,
    Fold,
    Overrides,
    Preset,
    Profile,
    Quiet,
    Resume,
    RunDir,
    Seeds,
    Verbose,
    verbosity,
)

if TYPE_CHECKING:
    from ..settings.loading import Config
    from ..trainer.results import TrainResult

__all__ = ["train"]

logger = logging.getLogger(__name__)


def train(  # noqa: PLR0913, PLR0917 (one parameter per command-line option)
    config: ConfigPath = None,
    preset: Preset = None,
    overrides: Overrides = None,
    resume: Resume = None,
    run_dir: RunDir = None,
    profile: Profile = False,
    seeds: Seeds = None,
    fold: Fold = None,
    all_folds: AllFolds = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Train a model and write a run folder with checkpoints and metrics.

    With several seeds or --all-folds, train a group of runs and summarise their final metrics.
    Ctrl-C, SIGTERM or SIGUSR1 finish the current step and save a checkpoint to resume from;
    so does train.max_time once it has passed (a group's members share it), and train then
    exits with status 75.
    """
    setup_logging(verbosity(quiet=quiet, verbose=verbose))
    if resume is not None and (config is not None or preset is not None):
        raise typer.BadParameter(
            "a resumed run keeps its checkpoint's config; change settings with --set",
            param_hint="--resume",
        )
    if resume is not None and run_dir is not None:
        raise typer.BadParameter(
            "--run-dir continues its run by itself: leave out --resume", param_hint="--resume"
        )
    if os.environ.get("RANK", "0") == "0":  # under torchrun, rank zero speaks for the job
        # Said before torch and the project are imported, which can take a minute.
        starting = _starting(config, preset, resume, run_dir)
        logger.info("%s: loading the data and the model...", starting)
    from ..checkpoints.store import find_last_checkpoint, load_checkpoint  # noqa: PLC0415
    from ..core.progress import should_show_progress  # noqa: PLC0415
    from ..settings.loading import load_config  # noqa: PLC0415
    from ..trainer.run import train as run_training  # noqa: PLC0415

    overrides = [
        *(overrides or []),
        *_group_overrides(seeds=seeds, fold=fold),
        *(["train.profile=true"] if profile else []),
    ]
    checkpoint = None
    if run_dir is not None and _has_checkpoint(run_dir):
        resume = str(run_dir)  # a requeued job: the run's own config wins over --config
    if resume is None:
        resolved = load_config(config, preset=preset, overrides=overrides)
    else:
        if resume == "auto":  # of the overrides, only run.output_dir says where to look
            where = [item for item in overrides if item.startswith("run.output_dir=")]
            path = find_last_checkpoint(load_config(overrides=where).run.output_dir)
        else:
            path = Path(resume)
        checkpoint = load_checkpoint(path)
        resolved = load_config(base=checkpoint.state["config"], overrides=overrides)
    if _train_group(
        resolved, all_folds=all_folds, resumed=checkpoint is not None, run_dir=run_dir, quiet=quiet
    ):
        return
    result = run_training(
        resolved,
        resume=checkpoint,
        run_dir=run_dir,
        show_progress=should_show_progress(quiet=quiet),
    )
    if result.rank == 0:  # under torchrun, rank zero speaks for the job
        typer.echo(_describe_result(result))
    if result.signal_number is not None and result.stop_reason == "signal":
        # The shell's convention for signals; one that came as the run ended stopped nothing.
        raise typer.Exit(128 + result.signal_number)
    if result.stop_reason == "max_time":
        from ..trainer.results import TIME_BUDGET_EXIT  # noqa: PLC0415 (keeps --help fast)

        raise typer.Exit(TIME_BUDGET_EXIT)  # a job script requeues on it


def _starting(
    config: Path | None, preset: str | None, resume: str | None, run_dir: Path | None
) -> str:
    """What the command is about to train, for its first line: ``training with configs/x.yaml``."""
    if resume == "auto":
        return "resuming the newest run under run.output_dir"
    if resume is not None:
        return f"resuming {resume}"
    if run_dir is not None and _has_checkpoint(run_dir):
        return f"resuming {run_dir}"
    if config is not None:
        return f"training with {config}" + ("" if preset is None else f" (preset {preset})")
    return "training with " + ("the default config" if preset is None else f"preset {preset}")


def _has_checkpoint(run_dir: Path) -> bool:
    """Whether the run folder holds a whole checkpoint (its ``last`` pointer may lag behind)."""
    from ..checkpoints.pointers import newest_checkpoint  # noqa: PLC0415 (keeps --help fast)

    return newest_checkpoint(run_dir / "checkpoints") is not None


def _group_overrides(*, seeds: str | None, fold: int | None) -> list[str]:
    """The config overrides that ``--seeds`` and ``--fold`` stand for."""
    overrides = [] if fold is None else [f"data.fold={fold}"]
    if seeds is None:
        return overrides
    try:
        values = [int(seed) for seed in seeds.split(",")]
    except ValueError:
        raise typer.BadParameter(
            f"{seeds!r} is not a comma-separated list of whole numbers, such as 0,1,2",
            param_hint="--seeds",
        ) from None
    return [*overrides, f"train.seeds={values}"]


def _train_group(
    resolved: Config, *, all_folds: bool, resumed: bool, run_dir: Path | None, quiet: bool
) -> bool:
    """Train the group of runs the config asks for; ``False`` if it asks for a single run."""
    from ..core.progress import should_show_progress  # noqa: PLC0415
    from ..trainer.groups import describe_summary, group_members, train_group  # noqa: PLC0415

    members = group_members(resolved, all_folds=all_folds)
    if not members:
        return False
    if resumed:
        raise typer.BadParameter(
            "a group of runs cannot be resumed as a whole: resume each stopped member's run "
            "folder on its own",
            param_hint="--resume",
        )
    if run_dir is not None:
        raise typer.BadParameter(
            "--run-dir names the folder of one run; a group of runs writes its members' folders "
            "under run.output_dir",
            param_hint="--run-dir",
        )
    group = train_group(resolved, members, show_progress=should_show_progress(quiet=quiet))
    lines = [f"group: {group.group_dir} ({len(group.results)} of {len(members)} runs)"]
    typer.echo("\n".join([*lines, *describe_summary(group.summary)]))
    interrupted = len(group.results) < len(members) or group.results[-1].stop_reason == "signal"
    if group.signal_number is not None and interrupted:
        raise typer.Exit(128 + group.signal_number)
    if group.out_of_time:
        from ..trainer.results import TIME_BUDGET_EXIT  # noqa: PLC0415 (keeps --help fast)

        last = group.results[-1]
        left = [member.suffix for member in members[len(group.results) :]]
        if last.stop_reason == "max_time":
            typer.echo(f"resume with: --resume {last.last_checkpoint}")
        if left:
            typer.echo(f"not started: {', '.join(left)}")
        raise typer.Exit(TIME_BUDGET_EXIT)  # a job script requeues on it
    return True


def _describe_result(result: TrainResult) -> str:
    from ..trainer.reporting import describe_metrics  # noqa: PLC0415 (keeps --help fast)

    lines = [f"run: {result.run_dir}", f"stopped: {result.stop_reason} at step {result.step}"]
    if result.history:
        lines.append(f"final {describe_metrics(result.history[-1].val, prefix='val ')}")
    lines.append(f"best checkpoint: {result.best_checkpoint}")
    if result.stop_reason in {"signal", "max_steps", "max_time"}:
        lines.append(f"resume with: --resume {result.last_checkpoint}")
    return "\n".join(lines)
