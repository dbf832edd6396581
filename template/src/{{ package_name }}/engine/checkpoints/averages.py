"""Weight averages in a checkpoint: ``ema.safetensors`` beside the weights, or in the shards.

Written when ``train.ema_decay`` is set; a model rebuilt from such a checkpoint for evaluation,
export or prediction gets the averages, which are what the run validated and chose.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import safetensors
import safetensors.torch

from ..core.exceptions import CheckpointInvalidError
from .sharded import load_sharded

if TYPE_CHECKING:
    import torch
    from torch import nn

    from .layout import Checkpoint

__all__ = ["EMA_FILE", "load_averages_into", "read_averages"]

EMA_FILE = "ema.safetensors"


def read_averages(checkpoint: Checkpoint) -> dict[str, torch.Tensor]:
    """The weight averages of a replicated checkpoint, by parameter name.

    Raises:
        CheckpointInvalidError: If they are missing or unreadable.
    """
    path = checkpoint.path / EMA_FILE
    try:
        return safetensors.torch.load_file(str(path))
    except (safetensors.SafetensorError, OSError) as err:
        raise CheckpointInvalidError(
            f"{str(checkpoint.path)!r} has no readable weight averages ({EMA_FILE}), though "
            f"train.ema_decay is set: {err}"
        ) from err


def load_averages_into(model: nn.Module, checkpoint: Checkpoint) -> bool:
    """Put a checkpoint's weight averages, if it has any, into ``model`` (one process).

    Returns:
        Whether the checkpoint held averages.

    Raises:
        CheckpointInvalidError: If they are unreadable or do not fit the model.
    """
    import torch  # noqa: PLC0415 (keeps --help fast)

    if checkpoint.is_sharded:
        if not checkpoint.state.get("config", {}).get("train", {}).get("ema_decay"):
            return False
        averages = {name: p.detach().clone() for name, p in model.named_parameters()}
        tensors = {"ema": averages}
        load_sharded(checkpoint, tensors, distributed=False)
    elif (checkpoint.path / EMA_FILE).is_file():
        averages = read_averages(checkpoint)
    else:
        return False
    parameters = dict(model.named_parameters())
    if averages.keys() != parameters.keys():
        raise CheckpointInvalidError(
            f"the weight averages of {str(checkpoint.path)!r} do not fit the model's parameters"
        )
    with torch.no_grad():
        for name, parameter in parameters.items():
            parameter.copy_(averages[name])
    return True
