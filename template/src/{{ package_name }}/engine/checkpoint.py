"""Checkpoints: safetensors weights plus training state, written atomically.

A checkpoint is a folder ``step-00000120/`` holding ``model.safetensors`` (the weights, loadable
without running any code) and ``state.pt`` (optimizer, step, config, RNG states; loaded with
``weights_only=True`` only). It is written into a hidden staging folder, flushed to disk, then
renamed into place, so a crash mid-save never damages an earlier checkpoint. The small pointer
files ``last`` and ``best`` name the newest and the best checkpoint and are replaced atomically.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import shutil
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import safetensors
import safetensors.torch
import torch

from .exceptions import CheckpointInvalidError, CheckpointNotFoundError

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from torch import nn

__all__ = [
    "MODEL_FILE",
    "REQUIRED_STATE_KEYS",
    "STATE_FILE",
    "Checkpoint",
    "atomic_write_text",
    "find_last_checkpoint",
    "fsync_folder",
    "fsync_path",
    "load_checkpoint",
    "load_weights",
    "prune_checkpoints",
    "resolve_checkpoint",
    "save_checkpoint",
    "set_pointer",
]

MODEL_FILE = "model.safetensors"
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


def save_checkpoint(
    directory: Path, *, model: nn.Module, state: Mapping[str, Any], step: int
) -> Path:
    """Save ``model``'s weights and ``state`` as ``directory/step-<step>``; point ``last`` there.

    Args:
        directory: Folder holding all checkpoints of a run; created if missing.
        model: The network whose weights are saved (unwrapped, not DDP or compiled).
        state: Training state; must hold ``REQUIRED_STATE_KEYS`` apart from ``format_version``.
        step: Optimizer steps taken so far; names the folder.

    Returns:
        The folder of the new checkpoint.
    """
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"step-{step:08d}"
    for leftover in directory.glob(".step-*.tmp"):  # from a crash during an earlier save
        shutil.rmtree(leftover, ignore_errors=True)
    staging = directory / f".{final.name}.tmp"
    staging.mkdir()
    safetensors.torch.save_model(model, str(staging / MODEL_FILE))
    torch.save({"format_version": FORMAT_VERSION, **state}, staging / STATE_FILE)
    fsync_folder(staging)
    if final.exists():  # saving the same step again replaces the old copy
        shutil.rmtree(final)
    staging.rename(final)
    fsync_path(directory)
    set_pointer(directory, "last", final)
    return final


def prune_checkpoints(directory: Path, *, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest checkpoints, never one a pointer names; return them."""
    pointed = {_pointer_target(directory / name) for name in ("last", "best")}
    folders = sorted(directory.glob("step-*"))
    doomed = [folder for folder in folders[:-keep] if folder.name not in pointed]
    for folder in doomed:
        shutil.rmtree(folder)
    return doomed


def find_last_checkpoint(output_dir: Path) -> Path:
    """Return the newest run's ``last`` checkpoint under ``output_dir`` (``--resume auto``).

    Raises:
        CheckpointNotFoundError: If no run there has a checkpoint.
    """
    runs = sorted(output_dir.glob("*/checkpoints/last"), key=lambda path: path.parent.parent.name)
    if not runs:
        raise CheckpointNotFoundError(f"no run with a checkpoint under {str(output_dir)!r}")
    return _follow(runs[-1])


def set_pointer(directory: Path, name: str, checkpoint: Path) -> None:
    """Atomically make the pointer file ``directory/name`` refer to ``checkpoint``."""
    atomic_write_text(directory / name, checkpoint.name + "\n")


def resolve_checkpoint(path: Path) -> Path:
    """Return the checkpoint folder that ``path`` means.

    ``path`` may be a checkpoint folder, a folder of checkpoints (its ``last`` pointer is
    followed), a run folder holding ``checkpoints/``, or a pointer file such as ``best``.

    Raises:
        CheckpointNotFoundError: If no checkpoint is found there.
    """
    if path.is_file():
        return path.parent if path.name in {MODEL_FILE, STATE_FILE} else _follow(path)
    if (path / MODEL_FILE).exists():
        return path
    for pointer in (path / "last", path / "checkpoints" / "last"):
        if pointer.is_file():
            return _follow(pointer)
    raise CheckpointNotFoundError(f"no checkpoint at {str(path)!r}")


def load_checkpoint(path: Path) -> Checkpoint:
    """Load a checkpoint's training state safely (``weights_only=True``, never a fallback).

    Raises:
        CheckpointNotFoundError: If there is no checkpoint at ``path``.
        CheckpointInvalidError: If the state file is corrupt or misses required keys.
    """
    folder = resolve_checkpoint(path)
    state_file = folder / STATE_FILE
    if not state_file.is_file():
        raise CheckpointNotFoundError(f"checkpoint {str(folder)!r} has no {STATE_FILE}")
    try:
        state = torch.load(state_file, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, OSError, ValueError) as err:
        raise CheckpointInvalidError(f"cannot read {str(state_file)!r}: {err}") from err
    if not isinstance(state, dict):
        raise CheckpointInvalidError(f"{str(state_file)!r} does not hold a state dictionary")
    missing = REQUIRED_STATE_KEYS - state.keys()
    if missing:
        raise CheckpointInvalidError(f"{str(state_file)!r} lacks keys {sorted(missing)}")
    return Checkpoint(path=folder, state=state)


def load_weights(model: nn.Module, checkpoint: Checkpoint, *, device: torch.device) -> None:
    """Load a checkpoint's safetensors weights into ``model`` in place.

    Raises:
        CheckpointNotFoundError: If the weights file is missing.
        CheckpointInvalidError: If it is corrupt or its tensors do not fit ``model``.
    """
    weights = checkpoint.weights_path
    if not weights.is_file():
        raise CheckpointNotFoundError(f"checkpoint {str(checkpoint.path)!r} has no {MODEL_FILE}")
    try:
        safetensors.torch.load_model(model, str(weights), strict=True, device=str(device))
    except (safetensors.SafetensorError, RuntimeError, OSError, ValueError) as err:
        raise CheckpointInvalidError(f"cannot load weights from {str(weights)!r}: {err}") from err


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old or the new content, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("w", encoding="utf-8") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    temporary.replace(path)
    fsync_path(path.parent)


def _follow(pointer: Path) -> Path:
    try:
        target = pointer.parent / pointer.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as err:
        raise CheckpointInvalidError(f"{str(pointer)!r} is not a checkpoint pointer") from err
    if not (target / MODEL_FILE).exists():
        raise CheckpointNotFoundError(
            f"pointer {str(pointer)!r} names {target.name!r}, which is not a checkpoint"
        )
    return target


def _pointer_target(pointer: Path) -> str | None:
    try:
        return pointer.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None


def fsync_folder(folder: Path) -> None:
    """Flush every file in ``folder``, then the folder itself, before it is renamed into place."""
    for file in folder.iterdir():
        fsync_path(file)
    fsync_path(folder)


def fsync_path(path: Path) -> None:
    """Flush a file or folder to disk (folders: so that a rename inside it is durable)."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) if path.is_dir() else os.O_RDONLY
    with contextlib.suppress(OSError):  # some file systems cannot fsync folders
        descriptor = os.open(path, flags)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
