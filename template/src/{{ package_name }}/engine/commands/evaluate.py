"""The ``evaluate`` and ``plot`` commands: score a trained model, draw a run's learning curve."""

from __future__ import annotations

from pathlib import Path  # noqa: TC003 (pydantic reads the annotation at run time)
from typing import Annotated

import typer

from ..core.log import setup_logging
from .options import Device, Quiet, Verbose, verbosity

__all__ = ["evaluate", "plot"]


def evaluate(  # noqa: PLR0913, PLR0917 (one parameter per command-line option)
    checkpoint: Annotated[
        Path,
        typer.Argument(
            metavar="CHECKPOINT", help="Checkpoint folder, checkpoints folder or run folder."
        ),
    ],
    split: Annotated[
        str | None,
        typer.Option(
            metavar="SPLIT",
            help="train, val or test, as the run split its data, or all of it.",
            show_default="val; all with --data or --set",
        ),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            metavar="PATH",
            help="A labelled file to score, read by the task's data code (sets data.path, and "
            "data.source to the file's suffix).",
            show_default=False,
        ),
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            "-s",
            metavar="KEY=VALUE",
            help="Override a data key of the checkpoint's config, such as --set "
            "data.path=new.csv (repeatable).",
            show_default=False,
        ),
    ] = None,
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir",
            "-o",
            metavar="FOLDER",
            help="Folder for <split>_metrics.json and the task's figures, such as a confusion "
            "matrix.",
            show_default=False,
        ),
    ] = None,
    device: Device = "auto",
    as_json: Annotated[
        bool, typer.Option("--json", metavar="", help="Print JSON instead of a table.")
    ] = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Score a checkpoint with its task's loss and metrics on a split of its data, or a file.

    Validation metrics are optimistic (the validation loss picked the checkpoint): report the
    test split (data.test_fraction) or a file held out from training.
    """
    setup_logging(verbosity(quiet=quiet, verbose=verbose))
    import json  # noqa: PLC0415

    from ..core.device import resolve_device  # noqa: PLC0415
    from ..core.files import atomic_write_text  # noqa: PLC0415 (keeps --help fast)
    from ..evaluation.loop import save_artifacts  # noqa: PLC0415
    from ..evaluation.scoring import SPLITS, data_file_overrides, score_checkpoint  # noqa: PLC0415
    from ..seam.task import project_task  # noqa: PLC0415

    data_overrides = list(overrides or [])
    if data is not None:
        data_overrides += data_file_overrides(project_task().data_type, data)
    split = split or ("all" if data_overrides else "val")
    chosen = next((name for name in SPLITS if name == split), None)
    if chosen is None:
        raise typer.BadParameter(
            f"{split!r} is not one of {', '.join(SPLITS)}", param_hint="--split"
        )
    score = score_checkpoint(
        checkpoint, split=chosen, device=resolve_device(device), data_overrides=data_overrides
    )
    row = score.as_dict()
    if output_dir is not None:
        save_artifacts(score.metrics, output_dir, prefix=f"{split}_")
        atomic_write_text(output_dir / f"{split}_metrics.json", json.dumps(row, indent=2) + "\n")
    if as_json:
        typer.echo(json.dumps(row, indent=2))
        return
    width = max(len(key) for key in row)
    for key, value in row.items():
        shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        typer.echo(f"{key:<{width}}  {shown}")


def plot(
    run: Annotated[
        Path, typer.Argument(metavar="RUN", help="Run folder, the one that holds metrics.jsonl.")
    ],
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Draw learning_curve.png in a run folder: loss and the monitored metric per epoch."""
    setup_logging(verbosity(quiet=quiet, verbose=verbose))
    from ..records.metrics import draw_learning_curve  # noqa: PLC0415 (keeps --help fast)

    typer.echo(f"wrote {draw_learning_curve(run)}")
