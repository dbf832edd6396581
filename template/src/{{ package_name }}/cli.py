"""Command line: train, evaluate, export, predict and config (show, validate, keys).

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
Resume = Annotated[
    str | None,
    typer.Option(
        help="Continue a stopped run: a checkpoint, checkpoints or run folder, or 'auto' for the "
        "newest run under run.output_dir. Uses the checkpoint's config; --set still applies.",
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
    resume: Resume = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Train a model and write a run folder with checkpoints and metrics.

    Ctrl-C or SIGTERM finish the current step and save a checkpoint to resume from.
    """
    setup_logging(_verbosity(quiet=quiet, verbose=verbose))
    if resume is not None and (config is not None or preset is not None):
        raise typer.BadParameter(
            "a resumed run keeps its checkpoint's config; change settings with --set",
            param_hint="--resume",
        )
    from .checkpoint import find_last_checkpoint, load_checkpoint  # noqa: PLC0415 (fast --help)
    from .progress import should_show_progress  # noqa: PLC0415
    from .training import train as run_training  # noqa: PLC0415

    checkpoint = None
    if resume is None:
        resolved = load_config(config, preset=preset, overrides=overrides)
    else:
        if resume == "auto":  # of the overrides, only run.output_dir says where to look
            where = [item for item in overrides or [] if item.startswith("run.output_dir=")]
            path = find_last_checkpoint(load_config(overrides=where).run.output_dir)
        else:
            path = Path(resume)
        checkpoint = load_checkpoint(path)
        resolved = load_config(base=checkpoint.state["config"], overrides=overrides)
    result = run_training(
        resolved, resume=checkpoint, show_progress=should_show_progress(quiet=quiet)
    )
    lines = [f"run: {result.run_dir}", f"stopped: {result.stop_reason} at step {result.step}"]
    if result.history:
        final = result.history[-1].val
        lines.append(f"final val loss {final.loss:.4f}, val accuracy {final.accuracy:.3f}")
    lines.append(f"best checkpoint: {result.best_checkpoint}")
    if result.stop_reason in {"signal", "max_steps"}:
        lines.append(f"resume with: --resume {result.last_checkpoint}")
    typer.echo("\n".join(lines))
    if result.signal_number is not None:
        raise typer.Exit(128 + result.signal_number)  # the shell's convention for signals


@app.command()
def evaluate(
    checkpoint: Annotated[
        Path, typer.Argument(help="Checkpoint folder, checkpoints folder or run folder.")
    ],
    split: Annotated[Literal["train", "val"], typer.Option(help="Which split to score.")] = "val",
    device: Annotated[str, typer.Option(help="auto, cpu, mps, cuda or cuda:N.")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Score a checkpoint on a split of the data it was trained on."""
    setup_logging(_verbosity(quiet=quiet, verbose=verbose))
    import json  # noqa: PLC0415

    from .data import build_datasets  # noqa: PLC0415 (keeps --help fast)
    from .device import resolve_device  # noqa: PLC0415
    from .evaluation import evaluate as score  # noqa: PLC0415
    from .inference import load_model  # noqa: PLC0415
    from .loaders import EpochSampler, build_loaders  # noqa: PLC0415

    loaded = load_model(checkpoint, device=resolve_device(device))
    data_config, seed = loaded.config.data, loaded.config.train.seed
    splits = build_datasets(data_config, seed=seed)
    sampler = EpochSampler(len(splits.train), seed=seed)
    train_loader, val_loader = build_loaders(splits, data_config, sampler=sampler)
    metrics = score(
        loaded.model, train_loader if split == "train" else val_loader, device=loaded.device
    )
    row = {"split": split, **metrics.as_dict()}
    if as_json:
        typer.echo(json.dumps(row, indent=2))
        return
    width = max(len(key) for key in row)
    for key, value in row.items():
        shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        typer.echo(f"{key:<{width}}  {shown}")


@app.command()
def export(
    checkpoint: Annotated[
        Path,
        typer.Argument(help="Checkpoint, checkpoints or run folder, or a last or best pointer."),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder the model package is written to.")
    ],
    name: Annotated[
        str | None, typer.Option(help="Model name in the contract [default: project name].")
    ] = None,
    version: Annotated[
        str | None, typer.Option(help="Model version in the contract [default: project version].")
    ] = None,
    labels: Annotated[
        str | None,
        typer.Option(help="Class names in output order, comma-separated [default: 0,1,...]."),
    ] = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Write a model package: safetensors weights and a contract.json to load and check them by."""
    setup_logging(_verbosity(quiet=quiet, verbose=verbose))
    from .inference import export_package  # noqa: PLC0415 (keeps --help fast)

    identity = {key: value for key, value in (("name", name), ("version", version)) if value}
    package = export_package(
        checkpoint,
        output,
        labels=None if labels is None else [label.strip() for label in labels.split(",")],
        **identity,
    )
    contract = package.contract
    typer.echo(
        f"wrote model package {package.path}: {contract.name} {contract.version}, "
        f"{contract.input.num_features} features, classes {', '.join(contract.output.labels)}"
    )


@app.command()
def predict(
    model: Annotated[
        Path,
        typer.Argument(
            help="Model package from `export`, or a checkpoint, checkpoints or run folder."
        ),
    ],
    input_path: Annotated[
        Path,
        typer.Argument(
            metavar="INPUT", help="CSV or .npz file of features; the label column is ignored."
        ),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="CSV file the predictions are written to.")
    ] = Path("predictions.csv"),
    label_column: Annotated[
        str, typer.Option(help="Column of a CSV file that holds labels, not features.")
    ] = "label",
    device: Annotated[str, typer.Option(help="auto, cpu, mps, cuda or cuda:N.")] = "auto",
    batch_size: Annotated[int, typer.Option(min=1, help="Rows per forward pass.")] = 1024,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Predict a class and class probabilities for every row of INPUT."""
    setup_logging(_verbosity(quiet=quiet, verbose=verbose))
    from .data_files import read_features  # noqa: PLC0415 (keeps --help fast)
    from .device import resolve_device  # noqa: PLC0415
    from .inference import Predictor, write_predictions  # noqa: PLC0415

    predictor = Predictor.load(model, device=resolve_device(device))
    features = read_features(input_path, label_column=label_column)
    predictions = predictor.predict(features, batch_size=batch_size)
    try:
        write_predictions(output, predictions)
    except OSError as err:
        raise typer.BadParameter(
            f"cannot write {str(output)!r}: {err.strerror}", param_hint="--output"
        ) from err
    typer.echo(f"wrote {len(predictions.labels)} predictions to {output}")


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
