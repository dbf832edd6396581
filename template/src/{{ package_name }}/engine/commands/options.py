"""The options several commands share, and the verbosity they choose.

Each is an ``Annotated`` type: a command takes it as a parameter, and typer reads the option's
name, help and default from it. Every option names its value the way a person would in
``--help`` (``--set KEY=VALUE``, ``--config PATH``), and a flag names none: typer would show the
Python type (``<list[str]>``, ``<bool>``). ``Command`` and ``Group`` do the same for ``--help``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import typer.core

from ..core.log import Verbosity, verbosity_from_env

__all__ = [
    "AllFolds",
    "Command",
    "ConfigPath",
    "Device",
    "Fold",
    "Group",
    "Overrides",
    "Preset",
    "Profile",
    "Quiet",
    "Resume",
    "RunDir",
    "Seeds",
    "Verbose",
    "verbosity",
]

ConfigPath = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", metavar="PATH", help="YAML config file; keys mirror `config keys`."
    ),
]


Preset = Annotated[
    str | None,
    typer.Option(
        metavar="NAME", help="Preset applied before the config file, such as smoke (a short run)."
    ),
]


Overrides = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        "-s",
        metavar="KEY=VALUE",
        help="Override a key, for example --set optim.lr=3e-4 (repeatable); `config keys` lists "
        "every key.",
        show_default=False,
    ),
]


Resume = Annotated[
    str | None,
    typer.Option(
        metavar="PATH|auto",
        help="Continue a stopped run: a checkpoint, checkpoints or run folder, or 'auto' for the "
        "newest run under run.output_dir. Uses the checkpoint's config; --set still applies.",
        show_default=False,
    ),
]


RunDir = Annotated[
    Path | None,
    typer.Option(
        metavar="PATH",
        help="Train in this run folder: continue it from its last checkpoint if it has one, "
        "start it there if not. For jobs that may be requeued (see slurm/train.sbatch).",
        show_default=False,
    ),
]


Profile = Annotated[
    bool,
    typer.Option(
        "--profile",
        metavar="",
        help="Record a profiler trace of a few steps into the run folder's profile/.",
    ),
]


Seeds = Annotated[
    str | None,
    typer.Option(
        metavar="SEED,...",
        help="Train once per seed, such as 0,1,2, and report the mean and standard deviation "
        "of each final metric (sets train.seeds).",
        show_default=False,
    ),
]


Fold = Annotated[
    int | None,
    typer.Option(
        min=0,
        metavar="N",
        help="Validate on this fold of data.folds (sets data.fold).",
        show_default=False,
    ),
]


AllFolds = Annotated[
    bool,
    typer.Option("--all-folds", metavar="", help="Train once per fold of data.folds, as a group."),
]


Quiet = Annotated[bool, typer.Option("--quiet", "-q", metavar="", help="Only warnings and errors.")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", metavar="", help="Debug output.")]
Device = Annotated[str, typer.Option(metavar="DEVICE", help="auto, cpu, mps, cuda or cuda:N.")]


class Command(typer.core.TyperCommand):
    """A command whose ``--help`` shows no value after it (typer 0.29 shows ``<bool>``)."""

    def get_help_option(self, ctx: Any) -> Any:
        """The help option typer makes, without a metavar."""
        return _without_metavar(super().get_help_option(ctx))


class Group(typer.core.TyperGroup):
    """A group of commands whose ``--help`` shows no value after it, as ``Command``'s."""

    def get_help_option(self, ctx: Any) -> Any:
        """The help option typer makes, without a metavar."""
        return _without_metavar(super().get_help_option(ctx))


def _without_metavar(option: Any) -> Any:
    if option is not None:
        option.metavar = ""
    return option


def verbosity(*, quiet: bool, verbose: bool) -> Verbosity:
    """The verbosity the flags ask for, else the environment's (``setup_logging`` takes it)."""
    if quiet and verbose:
        raise typer.BadParameter("use --quiet or --verbose, not both")
    if quiet:
        return "quiet"
    if verbose:
        return "verbose"
    try:
        return verbosity_from_env()
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err
