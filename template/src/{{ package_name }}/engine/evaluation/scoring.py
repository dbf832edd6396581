"""Score a trained model: its task's loss and metrics on a split of its data, or on other data.

The split is rebuilt exactly as the run built it, from the checkpoint's config and seed, so
``test`` is the held-out set that training and model selection never saw (``data.test_fraction``).
Overrides of the ``data`` section point the checkpoint's task at other data, read by the task's
own data code: ``--data file.csv`` or ``--set data.path=...`` score any labelled file the task
can read, every sample of it (split ``all``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..checkpoints.model import load_model
from ..core.exceptions import ConfigError, DataError
from ..data.datasets import split_data
from ..data.loaders import eval_batches
from ..settings.loading import load_config
from .loop import evaluate

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    import torch
    from torch.utils.data import Dataset

    from ..seam.sections import DataSection
    from ..seam.task import Data, Sizes, Task
    from .loop import EvalMetrics

__all__ = ["SPLITS", "Score", "SplitName", "data_file_overrides", "score_checkpoint"]

SplitName = Literal["train", "val", "test", "all"]
SPLITS: tuple[SplitName, ...] = ("train", "val", "test", "all")


@dataclass(frozen=True)
class Score:
    """The metrics of a model on one split of some data, and that data's settings."""

    split: SplitName
    metrics: EvalMetrics
    data: DataSection

    def as_dict(self) -> dict[str, Any]:
        """The split and the metrics as a plain dictionary, for JSON."""
        return {"split": self.split, **self.metrics.as_dict()}


def data_file_overrides(data_type: type[DataSection], path: Path) -> list[str]:
    """The ``data`` overrides that make a task read the file at ``path``.

    They set ``data.path``, and ``data.source`` to the file's suffix (``csv``, ``npz``), or to
    ``folder`` for a folder, when the task's data section has a ``source``. The task's
    ``DataConfig`` checks them like any other override.

    Raises:
        ConfigError: If the task's data section has no ``path`` to read a file from.
    """
    fields = data_type.model_fields
    if "path" not in fields:
        raise ConfigError(
            f"the task's data section ({data_type.__name__}) has no key 'path' to read "
            f"{str(path)!r} from: point it at the data with --set data.<key>=..."
        )
    overrides = [f"data.path={path}"]
    if "source" in fields:
        kind = "folder" if path.is_dir() else path.suffix.removeprefix(".").lower()
        overrides.append(f"data.source={kind}")
    return overrides


def score_checkpoint(
    path: Path,
    *,
    split: SplitName,
    device: torch.device,
    data_overrides: list[str] | None = None,
    task: type[Task[Any, Any]] | None = None,
) -> Score:
    """Score the model of a checkpoint on ``split`` of its data, or of the data overrides give.

    Args:
        path: Checkpoint, checkpoints or run folder, or a ``last``/``best`` pointer.
        split: ``train``, ``val`` or ``test`` as the run split its data, or ``all`` of it.
        device: Where the model runs.
        data_overrides: ``data.<key>=value`` strings applied to the checkpoint's data section.
        task: The task the checkpoint was trained for; by default the project's.

    Raises:
        ConfigError: If an override is not of a ``data`` key or its value does not validate.
        DataError: If the split does not exist (no test set) or the data does not fit the model.
        CheckpointNotFoundError: If there is no checkpoint at ``path``.
        CheckpointInvalidError: If the checkpoint does not load.
    """
    loaded = load_model(path, device=device, task=task)
    config = loaded.config
    if data_overrides:
        outside = [item for item in data_overrides if not item.startswith("data.")]
        if outside:
            raise ConfigError(
                f"evaluate changes only the data section; {outside} are not data.<key>=value"
            )
        base = config.model_dump(mode="json")
        config = load_config(base=base, overrides=data_overrides, task=type(loaded.task))
    data = loaded.task.load_data(config.data, seed=config.train.seed)
    _check_sizes(data.sizes, loaded.sizes, source=_data_name(config.data))
    dataset = _pick(data, split, config=config.data, seed=config.train.seed)
    batches = eval_batches(dataset, config.data)
    _check_inputs(batches, loaded.task, loaded.sizes, source=_data_name(config.data))
    metrics = evaluate(
        loaded.model,
        batches,
        task=loaded.task,
        sizes=loaded.sizes,
        device=loaded.device,
    )
    return Score(split=split, metrics=metrics, data=config.data)


def _pick(data: Data, split: SplitName, *, config: DataSection, seed: int) -> Dataset[Any]:
    if split == "all":
        return data.samples
    splits = split_data(data, config, seed=seed)
    if split == "test":
        if splits.test is None:
            raise DataError(
                "the run has no test set: train with data.test_fraction above 0 to hold one "
                "out, or score a labelled file with --data"
            )
        return splits.test
    return splits.train if split == "train" else splits.val


def _data_name(config: DataSection) -> str:
    """What the data was read from, for messages: its file where the data section has one."""
    path = getattr(config, "path", None)
    return "the data" if path is None else f"data file {str(path)!r}"


def _check_sizes(data_sizes: Sizes, model_sizes: Sizes, *, source: str) -> None:
    """Refuse data that needs a larger model (more classes); a file may lack the last classes."""
    larger = {
        key: value
        for key, value in data_sizes.items()
        if key in model_sizes and value > model_sizes[key]
    }
    if larger:
        wanted = {key: model_sizes[key] for key in larger}
        raise DataError(f"{source}: sizes {larger}, but the model was built for {wanted}")


def _check_inputs(
    batches: Iterable[Any], task: Task[Any, Any], sizes: Sizes, *, source: str
) -> None:
    """Compare the first batch's inputs with the model's input specs, naming what differs.

    ``source`` names the data in the message (``data file 'x.csv'``, or ``the data``).
    """
    batch = next(iter(batches), None)
    if batch is None:
        return
    inputs, _ = task.split_batch(batch)
    specs = task.input_specs(sizes)
    named = inputs if isinstance(inputs, dict) else {specs[0].name: inputs}
    for spec in specs:
        if spec.name not in named or spec.is_text:  # text comes encoded, its shape the task's
            continue
        shape = tuple(named[spec.name].shape)
        fits = len(shape) == len(spec.shape) and all(
            want is None or want == got for want, got in zip(spec.shape[1:], shape[1:], strict=True)
        )
        if not fits:
            wanted = ", ".join("N" if size is None else str(size) for size in spec.shape)
            got = ", ".join(["N", *(str(size) for size in shape[1:])])  # N: a batch's rows
            raise DataError(
                f"{source}: input {spec.name!r} has shape ({got}), the model takes ({wanted})"
            )
