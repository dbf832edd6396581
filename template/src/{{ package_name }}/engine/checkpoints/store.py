"""Checkpoints: safetensors weights plus training state, written atomically.

A checkpoint is a folder ``step-00000120/`` holding ``model.safetensors`` (the weights, loadable
without running any code) and ``state.pt`` (optimizer, step, config, RNG states, and the SHA-256
of the weights, checked whenever they are loaded; loaded with ``weights_only=True`` only).
Sharded training (``distributed.strategy: fsdp``) writes the weights and the optimizer state as
a ``torch.distributed.checkpoint`` folder, ``sharded/``, each rank its own shards, in place of
``model.safetensors``; such a checkpoint loads into any number of processes, one included.
Either way the checkpoint is written into a hidden staging folder, flushed to disk, then renamed
into place, so a crash or a full disk mid-save never damages an earlier checkpoint, and an
existing checkpoint is never overwritten. The small pointer files ``last`` and ``best`` name the
newest and the best checkpoint and are replaced atomically, only once the folder they name is on
disk (``pointers.py``, which also finds the checkpoint a path means). A write that fails raises
``StorageError``, which says when the disk is full.

``writer.py`` saves replicated checkpoints on a background thread; ``sharded.py`` writes and reads
the shards of sharded ones.
"""

from __future__ import annotations

import pickle
import re
import shutil
from typing import TYPE_CHECKING, Any

import safetensors
import safetensors.torch
import torch

from ..core.exceptions import CheckpointError, CheckpointInvalidError, CheckpointNotFoundError
from ..core.files import file_sha256, fsync_folder, fsync_path, write_error
from .layout import (
    FORMAT_VERSION,
    MODEL_FILE,
    REQUIRED_STATE_KEYS,
    STATE_FILE,
    Checkpoint,
)
from .pointers import (
    find_last_checkpoint,
    pointer_target,
    resolve_checkpoint,
    set_pointer,
    set_pointers,
)
from .sharded import load_sharded

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from torch import nn

__all__ = [
    "commit_checkpoint",
    "find_last_checkpoint",
    "load_checkpoint",
    "load_weights",
    "prepare_staging",
    "prune_checkpoints",
    "resolve_checkpoint",
    "save_checkpoint",
    "set_pointer",
    "set_pointers",
]


def save_checkpoint(
    directory: Path,
    *,
    model: nn.Module,
    state: Mapping[str, Any],
    step: int,
    extra_tensors: Mapping[str, dict[str, torch.Tensor]] | None = None,
    best: bool = False,
) -> Path:
    """Save ``model``'s weights and ``state`` as ``directory/step-<step>``; point ``last`` there.

    Args:
        directory: Folder holding all checkpoints of a run; created if missing.
        model: The network whose weights are saved (unwrapped, not DDP or compiled).
        state: Training state; must hold ``REQUIRED_STATE_KEYS`` apart from ``format_version``.
        step: Optimizer steps taken so far; names the folder.
        extra_tensors: More safetensors files to write, by file name (the weight averages).
        best: Also point ``best`` at the new checkpoint.

    Returns:
        The folder of the new checkpoint.

    Raises:
        CheckpointError: If a checkpoint of ``step`` exists already: it is never overwritten.
        StorageError: If the checkpoint cannot be written (the earlier ones stay intact).
    """
    staging = prepare_staging(directory, step=step)
    try:
        safetensors.torch.save_model(model, str(staging / MODEL_FILE))
        for name, tensors in (extra_tensors or {}).items():
            safetensors.torch.save_file(tensors, str(staging / name))
        digest = file_sha256(staging / MODEL_FILE)  # read back from the page cache: cheap
    except (OSError, RuntimeError, safetensors.SafetensorError) as err:
        shutil.rmtree(staging, ignore_errors=True)
        raise write_error(_final(staging), err, what="checkpoint") from err
    return commit_checkpoint(staging, state={**state, "weights_sha256": digest}, best=best)


def prepare_staging(directory: Path, *, step: int) -> Path:
    """Create the empty staging folder of the checkpoint of ``step``, clearing crashed saves.

    Raises:
        CheckpointError: If a checkpoint of ``step`` exists already: it is never overwritten.
        StorageError: If the folder cannot be created.
    """
    final = directory / f"step-{step:08d}"
    if final.exists():
        raise CheckpointError(
            f"checkpoint {str(final)!r} exists already; a checkpoint is never overwritten"
        )
    staging = directory / f".{final.name}.tmp"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for leftover in directory.glob(".step-*.tmp"):  # from a crash during an earlier save
            shutil.rmtree(leftover, ignore_errors=True)
        staging.mkdir()
    except OSError as err:
        raise write_error(final, err, what="checkpoint") from err
    return staging


def commit_checkpoint(staging: Path, *, state: Mapping[str, Any], best: bool = False) -> Path:
    """Write the state into ``staging``, flush everything, rename it into place, point at it.

    ``last`` then names the new checkpoint, and ``best`` too when ``best`` is set.

    Raises:
        StorageError: If a file cannot be written; the staging folder is removed.
    """
    final = _final(staging)
    try:
        torch.save({"format_version": FORMAT_VERSION, **state}, staging / STATE_FILE)
        fsync_folder(staging)  # the files and their names reach the disk before the new name
        staging.rename(final)
    except (OSError, RuntimeError) as err:
        shutil.rmtree(staging, ignore_errors=True)
        raise write_error(final, err, what="checkpoint") from err
    fsync_path(final.parent)  # the new name reaches the disk before a pointer names it
    set_pointers(final.parent, dict.fromkeys(("last", "best") if best else ("last",), final))
    return final


def prune_checkpoints(
    directory: Path, *, keep: int, protect: frozenset[str] = frozenset()
) -> list[Path]:
    """Delete all but the ``keep`` newest checkpoints; return them.

    Never one a pointer names, nor one whose folder name is in ``protect`` (the best few).
    """
    pointed = {pointer_target(directory / name) for name in ("last", "best")} | protect
    folders = sorted(directory.glob("step-*"))
    doomed = [folder for folder in folders[:-keep] if folder.name not in pointed]
    for folder in doomed:
        shutil.rmtree(folder)
    return doomed


def load_checkpoint(path: Path) -> Checkpoint:
    """Load a checkpoint's training state safely (``weights_only=True``, never a fallback).

    Raises:
        CheckpointNotFoundError: If there is no checkpoint at ``path``.
        CheckpointInvalidError: If the state file is corrupt or misses required keys.
    """
    folder = resolve_checkpoint(path)
    state_file = folder / STATE_FILE
    if not state_file.is_file():
        raise CheckpointNotFoundError(
            f"{str(folder)!r} holds model weights but has no {STATE_FILE}: it is neither a "
            f"complete training checkpoint (weights and {STATE_FILE}) nor a model package "
            "(weights and contract.json, written by export)"
        )
    try:
        state = torch.load(state_file, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, OSError, ValueError) as err:
        raise CheckpointInvalidError(_unreadable(state_file, err)) from err
    if not isinstance(state, dict):
        raise CheckpointInvalidError(f"{str(state_file)!r} does not hold a state dictionary")
    missing = REQUIRED_STATE_KEYS - state.keys()
    if missing:
        raise CheckpointInvalidError(f"{str(state_file)!r} lacks keys {sorted(missing)}")
    return Checkpoint(path=folder, state=state)


def load_weights(model: nn.Module, checkpoint: Checkpoint, *, device: torch.device) -> None:
    """Load a checkpoint's weights into ``model`` (one process, not sharded) in place.

    The weights of a sharded checkpoint are gathered from every shard. Those of a replicated
    one are checked against the SHA-256 their checkpoint recorded when it was saved (checkpoints
    written before the template recorded it are loaded unchecked).

    Raises:
        CheckpointNotFoundError: If the weights file is missing.
        CheckpointInvalidError: If it is corrupt, changed since it was saved, or its tensors do
            not fit ``model``.
    """
    if checkpoint.is_sharded:
        tensors = {"model": model.state_dict()}  # the model's own tensors, filled in place
        load_sharded(checkpoint, tensors, distributed=False)
        return
    weights = checkpoint.weights_path
    if not weights.is_file():
        raise CheckpointNotFoundError(f"checkpoint {str(checkpoint.path)!r} has no {MODEL_FILE}")
    expected = checkpoint.state.get("weights_sha256")
    if expected is not None and file_sha256(weights) != expected:
        raise CheckpointInvalidError(
            f"{str(weights)!r} does not match the SHA-256 its checkpoint recorded when it was "
            "saved: the weights were changed or damaged since"
        )
    try:
        safetensors.torch.load_model(model, str(weights), strict=True, device=str(device))
    except (safetensors.SafetensorError, RuntimeError, OSError, ValueError) as err:
        raise CheckpointInvalidError(f"cannot load weights from {str(weights)!r}: {err}") from err


def _unreadable(state_file: Path, err: BaseException) -> str:
    """Why a state file did not load, in the user's terms (torch's message is about pickles)."""
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(err))
    if found:
        return (
            f"cannot read {str(state_file)!r}: it holds a Python object of {found[1]}, which "
            "only runs as code; checkpoint state holds tensors and plain values, so it is "
            "refused without running it"
        )
    return (
        f"cannot read {str(state_file)!r}: the file is damaged, truncated or not a checkpoint's "
        "training state"
    )


def _final(staging: Path) -> Path:
    """The folder a staging folder becomes: ``.step-00000120.tmp`` -> ``step-00000120``."""
    return staging.with_name(staging.name.removeprefix(".").removesuffix(".tmp"))
