"""What a checkpoint folder holds, and the ``Checkpoint`` that names one and its state.

A checkpoint is a folder ``step-00000120/`` holding ``model.safetensors`` (the weights) or, for
sharded training, ``sharded/`` (a ``torch.distributed.checkpoint`` folder), and ``state.pt`` (the
training state). ``store.py`` writes and reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "FORMAT_VERSION",
    "MODEL_FILE",
    "REQUIRED_STATE_KEYS",
    "SHARDED_DIR",
    "STATE_FILE",
    "Checkpoint",
]

MODEL_FILE = "model.safetensors"


SHARDED_DIR = "sharded"


STATE_FILE = "state.pt"


REQUIRED_STATE_KEYS = frozenset({"format_version", "step", "epoch", "config", "optimizer"})


FORMAT_VERSION = 1


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint folder and its training state (weights stay on disk until loaded)."""

    path: Path
    state: dict[str, Any]

    @property
    def weights_path(self) -> Path:
        """The safetensors file holding the model weights."""
        return self.path / MODEL_FILE

    @property
    def is_sharded(self) -> bool:
        """Whether the weights are a sharded ``torch.distributed.checkpoint`` folder."""
        return (self.path / SHARDED_DIR).is_dir()
