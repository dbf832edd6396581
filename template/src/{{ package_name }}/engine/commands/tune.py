"""The ``tune`` commands: find a learning rate or a batch size before training.

``tune lr`` sweeps the learning rate over a few hundred steps and suggests one; ``tune
batch-size`` finds the largest batch that fits on the device. Both train a throw-away copy of the
config's model on its training data in one process: they write no run folder and read or change
no checkpoint (``trainer/probe.py``). Torch is imported inside the commands, so ``--help`` is
fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..core.log import setup_logging
from .options import Command, ConfigPath, Group, Overrides, Preset, Quiet, Verbose, verbosity

if TYPE_CHECKING:
    from ..settings.loading import Config
    from ..trainer.probe import Probe

__all__ = ["tune_app"]

tune_app = typer.Typer(
    cls=Group,
    help="Find a learning rate or a batch size; changes no run.",
    no_args_is_help=True,
)


@tune_app.command("lr", cls=Command)
def lr(  # noqa: PLR0913, PLR0917 (one parameter per command-line option)
    config: ConfigPath = None,
    preset: Preset = None,
    overrides: Overrides = None,
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            metavar="PATH.png",
            help="The curve's PNG; the sweep's numbers go beside it, in a .json of the same name.",
        ),
    ] = Path("lr_find.png"),
    min_lr: Annotated[float, typer.Option(metavar="LR", help="First rate of the sweep.")] = 1e-7,
    max_lr: Annotated[float, typer.Option(metavar="LR", help="Last rate of the sweep.")] = 10.0,
    steps: Annotated[
        int,
        typer.Option(
            min=10,
            metavar="N",
            help="Optimizer steps (one batch each); it stops early if the loss diverges.",
        ),
    ] = 200,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Sweep the learning rate from --min-lr to --max-lr exponentially and suggest optim.lr.

    The suggestion is the rate where the smoothed training loss falls fastest; a good start for
    optim.lr, often a little lower. No run folder or checkpoint is written or changed.
    """
    setup_logging(verbosity(quiet=quiet, verbose=verbose))
    if output.suffix.lower() != ".png":
        raise typer.BadParameter(f"{str(output)!r} does not end in .png", param_hint="--output")
    from ..core.files import atomic_write_text, write_error  # noqa: PLC0415 (keeps --help fast)
    from ..settings.loading import load_config  # noqa: PLC0415
    from ..trainer.lr_finder import draw_sweep, sweep_lr  # noqa: PLC0415

    numbers = output.with_suffix(".json")
    _check_outputs(output, numbers)
    probe = _probe(load_config(config, preset=preset, overrides=overrides))
    sweep = sweep_lr(probe, min_lr=min_lr, max_lr=max_lr, steps=steps)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        draw_sweep(sweep, output)
    except OSError as err:
        raise write_error(output, err) from err
    atomic_write_text(numbers, json.dumps(sweep.as_dict(), indent=2) + "\n")
    typer.echo(f"swept {len(sweep.lr)} steps (stopped: {sweep.stopped}); wrote {output}, {numbers}")
    if sweep.suggested_lr is None:
        typer.echo("no suggestion: the loss never fell; widen --min-lr/--max-lr or add --steps")
        return
    typer.echo(f"suggested: --set optim.lr={sweep.suggested_lr:.2g}")


@tune_app.command("batch-size", cls=Command)
def batch_size(
    config: ConfigPath = None,
    preset: Preset = None,
    overrides: Overrides = None,
    max_batch_size: Annotated[
        int | None,
        typer.Option(
            min=1,
            metavar="N",
            help="Largest size to try; needed on the CPU, where running out of memory ends the "
            "process instead of raising an error.",
            show_default="the training set's size",
        ),
    ] = None,
    steps: Annotated[
        int, typer.Option(min=1, metavar="N", help="Optimizer steps per size tried.")
    ] = 2,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Find the largest data.batch_size that trains on the device without running out of memory.

    Starts at data.batch_size, doubles while a batch fits and backs off when one does not.
    Leave some room below the result: memory use varies between batches and over a run.
    """
    setup_logging(verbosity(quiet=quiet, verbose=verbose))
    from ..core.exceptions import OutOfMemoryError  # noqa: PLC0415 (keeps --help fast)
    from ..settings.loading import load_config  # noqa: PLC0415
    from ..trainer.batch_finder import batch_fits, find_batch_size  # noqa: PLC0415

    probe = _probe(load_config(config, preset=preset, overrides=overrides))
    if probe.device.type == "cpu" and max_batch_size is None:
        raise typer.BadParameter(
            "on the CPU, running out of memory ends the process instead of raising an error: "
            "give the largest size to try",
            param_hint="--max-batch-size",
        )
    maximum = min(max_batch_size or probe.train_samples, probe.train_samples)
    try:
        search = find_batch_size(
            lambda size: batch_fits(probe, size, steps=steps),
            start=probe.config.data.batch_size,
            maximum=maximum,
        )
    except OutOfMemoryError as err:
        raise OutOfMemoryError(f"{probe.device}: {err}") from err
    tried = ", ".join(
        f"{size} {'fits' if fit else 'out of memory'}" for size, fit in search.tried.items()
    )
    typer.echo(f"tried on {probe.device}: {tried}")
    if search.limit == "maximum":
        bound = "--max-batch-size" if maximum == max_batch_size else "the training set's size"
        typer.echo(f"{search.largest}, the largest size tried ({bound}), fits: memory allows more")
        return
    typer.echo(
        f"largest batch that fits: {search.largest}; leaving room, train with "
        f"--set data.batch_size={search.power_of_two}"
    )


def _check_outputs(curve: Path, numbers: Path) -> None:
    """Refuse to replace a file that an earlier ``tune lr`` did not write.

    The curve and its numbers are written as a pair: a pair whose JSON holds a sweep is the
    command's own to replace; any other file at either path is the user's.
    """
    if not (curve.exists() or numbers.exists()):
        return
    try:
        earlier = json.loads(numbers.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        earlier = None
    if isinstance(earlier, dict) and {"lr", "smoothed_loss", "suggested_lr"} <= earlier.keys():
        return
    taken = numbers if numbers.exists() else curve
    raise typer.BadParameter(
        f"{str(taken)!r} exists and is not a sweep tune lr wrote: choose another --output, or "
        "move the file",
        param_hint="--output",
    )


def _probe(config: Config) -> Probe:
    """The config's task, data, model and optimizer, on its device, in this one process.

    Raises:
        DistributedError: If started by torchrun with several processes.
    """
    from ..core.device import configure_matmul, resolve_device  # noqa: PLC0415
    from ..core.exceptions import DistributedError  # noqa: PLC0415
    from ..distributed.ranks import launch_environment  # noqa: PLC0415
    from ..trainer.probe import build_probe  # noqa: PLC0415

    launched = launch_environment()
    if launched is not None and launched[1] > 1:
        raise DistributedError("tune runs in one process: start it without torchrun")
    configure_matmul(tf32=config.train.tf32)
    return build_probe(config, device=resolve_device(config.train.device))
