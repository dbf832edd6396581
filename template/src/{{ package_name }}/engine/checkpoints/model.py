"""Rebuild a trained model from a training checkpoint, in eval mode on a chosen device."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ..core.exceptions import CheckpointInvalidError
from ..seam.pretrained import restoring_weights
from ..seam.task import project_task
from ..settings.loading import Config, config_type
from .averages import load_averages_into
from .store import load_checkpoint, load_weights

if TYPE_CHECKING:
    from pathlib import Path

    import torch
    from torch import nn

    from ..seam.task import Sizes, Task
    from .layout import Checkpoint

__all__ = ["LoadedModel", "checkpoint_sizes", "load_model"]


@dataclass(frozen=True)
class LoadedModel:
    """A model in eval mode, with the config, task and data sizes it was trained with."""

    model: nn.Module
    config: Config
    task: Task[Any, Any]
    sizes: Sizes
    device: torch.device


def load_model(
    path: Path, *, device: torch.device, task: type[Task[Any, Any]] | None = None
) -> LoadedModel:
    """Rebuild the model a checkpoint was trained with and load its weights onto ``device``.

    A run that kept weight averages (``train.ema_decay``) is rebuilt with the averages.

    Args:
        path: Checkpoint, checkpoints or run folder, or a ``last``/``best`` pointer.
        device: Where the model goes.
        task: The task the checkpoint was trained for; by default the project's.

    Raises:
        CheckpointNotFoundError: If there is no checkpoint at ``path``.
        CheckpointInvalidError: If it is corrupt, of another task, or its config or weights do
            not fit.
    """
    task_type = task or project_task()
    checkpoint = load_checkpoint(path)
    trained_for = checkpoint.state.get("task", task_type.__name__)
    if trained_for != task_type.__name__:
        raise CheckpointInvalidError(
            f"{str(checkpoint.path)!r} was trained for the task {trained_for!r}, "
            f"this project's task is {task_type.__name__!r}"
        )
    try:
        config = config_type(task_type).model_validate(checkpoint.state["config"])
    except ValidationError as err:
        raise CheckpointInvalidError(
            f"{str(checkpoint.path)!r} holds a config this project cannot read: {err}"
        ) from err
    sizes = checkpoint_sizes(checkpoint)
    instance = task_type(config.task)
    with restoring_weights():  # the checkpoint's weights replace any pretrained start
        model = instance.build_model(config.model, sizes).to(device)
    load_weights(model, checkpoint, device=device)
    if config.train.ema_decay is not None:  # the averages are what the run validated and chose
        load_averages_into(model, checkpoint)
    model.eval()
    return LoadedModel(model=model, config=config, task=instance, sizes=sizes, device=device)


def checkpoint_sizes(checkpoint: Checkpoint) -> Sizes:
    """The data sizes a checkpoint's model was built for.

    Raises:
        CheckpointInvalidError: If the checkpoint does not record them.
    """
    # Checkpoints written before tasks existed call them data_shape.
    sizes = checkpoint.state.get("data_sizes", checkpoint.state.get("data_shape"))
    if not isinstance(sizes, dict) or not all(isinstance(v, int) for v in sizes.values()):
        raise CheckpointInvalidError(
            f"{str(checkpoint.path)!r} does not record the data sizes its model was built for"
        )
    return dict(sizes)
