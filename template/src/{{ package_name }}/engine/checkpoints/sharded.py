"""Sharded checkpoints: every rank writes and reads its own shards (torch.distributed.checkpoint).

Written by sharded training (``distributed.strategy: fsdp``) in place of ``model.safetensors``;
such a checkpoint loads into any number of processes, one included.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path  # noqa: TC003 (pydantic reads the annotation at run time)
from typing import TYPE_CHECKING, Any

from ..core.exceptions import CheckpointInvalidError
from .layout import SHARDED_DIR

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .layout import Checkpoint

__all__ = ["load_sharded", "save_sharded"]


def save_sharded(staging: Path, tensors: dict[str, Any], *, distributed: bool) -> None:
    """Write each rank's shards of ``tensors`` into ``staging/sharded`` (every rank calls this).

    ``tensors`` maps names (``model``, ``optimizer``, ...) to state dicts of sharded tensors, as
    ``torch.distributed.checkpoint.state_dict.get_state_dict`` returns them. The files are
    flushed to disk as they are written; rank zero commits the staging folder once every rank
    has returned.
    """
    from torch.distributed.checkpoint.state_dict_saver import save  # noqa: PLC0415 (sharded only)

    with _single_process_is_intended(distributed):
        save(tensors, checkpoint_id=staging / SHARDED_DIR)


def load_sharded(checkpoint: Checkpoint, tensors: dict[str, Any], *, distributed: bool) -> None:
    """Fill ``tensors`` (state dicts shaped like the ones saved) from a sharded checkpoint.

    Any number of processes can load what any number saved: the shards are redistributed.

    Raises:
        CheckpointInvalidError: If the sharded folder is unreadable or does not fit.
    """
    from torch.distributed.checkpoint.state_dict_loader import load  # noqa: PLC0415 (sharded only)

    try:
        with _single_process_is_intended(distributed):
            load(tensors, checkpoint_id=checkpoint.path / SHARDED_DIR)
    except (RuntimeError, ValueError, KeyError, OSError) as err:
        raise CheckpointInvalidError(
            f"cannot load the sharded weights of {str(checkpoint.path)!r}: {err}"
        ) from err


@contextlib.contextmanager
def _single_process_is_intended(distributed: bool) -> Iterator[None]:
    """Silence the checkpoint library's guess that one process is intended: here it is known."""
    with warnings.catch_warnings():
        if not distributed:
            warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        yield
