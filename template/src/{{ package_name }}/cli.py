"""Command line: ``train``, ``evaluate`` and ``config`` (show, validate, keys).

Torch is imported inside the commands, never at module level, so ``--help`` answers at once.
User mistakes (a bad path, key, value or flag) end with one ``error:`` line and exit status 1
(2 for a malformed command line); only bugs show a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Literal

import typer
import yaml

from .config import PRESETS, describe_fields, load_config
from .exceptions import ProjectError
from .log import Verbosity, setup_logging, verbosity_from_env

__all__ = ["app", "main"]

app = typer.Typer(
    help="Train, evaluate and inspect models of this project.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Show, check and list configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")

_KEYS_HELP = "\n\n".join(
    f"{field.key} ({field.type}): {field.description}" for field in describe_fields()
)

ConfigPath = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="YAML config file; keys mirror `config keys`."),
]
Preset = Annotated[
    str | None,
    typer.Option(help=f"Preset applied before the config file: {', '.join(sorted(PRESETS))}."),
]
Overrides = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        "-s",
        help="Override a key, for example --set optim.lr=3e-4 (repeatable); keys listed below.",
        show_default=False,
    ),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Debug output.")]


@app.command(epilog=f"Config keys:\n\n{_KEYS_HELP}")
def train(
    config: ConfigPath = None,
    preset: Preset = None,
    overrides: Overrides = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Train a model and write a run folder with checkpoints and metrics."""
    setup_logging(_verbosity(quiet=quiet, verbose=verbose))
    resolved = load_config(config, preset=preset, overrides=overrides)
    from .training import train as run_training  # noqa: PLC0415 (keeps --help fast)

    result = run_training(resolved)
    final = result.history[-1].val
    typer.echo(
        f"run: {result.run_dir}\n"
        f"best checkpoint: {result.best_checkpoint}\n"
        f"final val loss {final.loss:.4f}, val accuracy {final.accuracy:.3f}"
    )


@app.command()
def evaluate(
    checkpoint: Annotated[
        Path, typer.Argument(help="Checkpoint folder, checkpoints folder or run folder.")
    ],
    split: Annotated[Literal["train", "val"], typer.Option(help="Which split to score.")] = "val",
    device: Annotated[str, typer.Option(help="auto, cpu, mps, cuda or cuda:N.")] = "auto",
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Score a checkpoint on a split of the data it was trained on; prints JSON metrics."""
    setup_logging(_verbosity(quiet=quiet, verbose=verbose))
    import json  # noqa: PLC0415

    from .data import build_datasets, build_loaders  # noqa: PLC0415 (keeps --help fast)
    from .device import resolve_device  # noqa: PLC0415
    from .evaluation import evaluate as score  # noqa: PLC0415
    from .inference import load_model  # noqa: PLC0415

    loaded = load_model(checkpoint, device=resolve_device(device))
    data_config = loaded.config.data
    splits = build_datasets(data_config, seed=loaded.config.train.seed)
    train_loader, val_loader = build_loaders(splits, data_config, seed=loaded.config.train.seed)
    loader = train_loader if split == "train" else val_loader
    metrics = score(loaded.model, loader, device=loaded.device)
    typer.echo(json.dumps({"split": split, **metrics.as_dict()}, indent=2))


@config_app.command("show")
def config_show(
    config: ConfigPath = None, preset: Preset = None, overrides: Overrides = None
) -> None:
    """Print the resolved configuration as YAML."""
    resolved = load_config(config, preset=preset, overrides=overrides)
    typer.echo(yaml.safe_dump(resolved.model_dump(mode="json"), sort_keys=False), nl=False)


@config_app.command("validate")
def config_validate(
    config: ConfigPath = None, preset: Preset = None, overrides: Overrides = None
) -> None:
    """Check a configuration without training; exit status 1 names the first problem."""
    load_config(config, preset=preset, overrides=overrides)
    typer.echo(f"{config or 'defaults'}: valid")


@config_app.command("keys")
def config_keys() -> None:
    """List every config key with its type, default and description."""
    for field in describe_fields():
        typer.echo(f"{field.key} ({field.type}, default {field.default!r}): {field.description}")


def _verbosity(*, quiet: bool, verbose: bool) -> Verbosity:
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


def main() -> None:
    """Entry point of the console script: run the app, turning project errors into one line."""
    try:
        app()
    except ProjectError as err:
        typer.echo(f"error: {err}", err=True)
        sys.exit(1)
