"""Checkpoints: safetensors weights plus training state, written atomically.

A checkpoint is a folder ``step-00000120/`` holding ``model.safetensors`` (the weights, loadable
without running any code) and ``state.pt`` (optimizer, step, config, RNG states, and the SHA-256
of the weights, checked whenever they are loaded; loaded with ``weights_only=True`` only). It is
written into a hidden staging folder, flushed to disk, then renamed into place, so a crash or a
full disk mid-save never damages an earlier checkpoint, and an existing checkpoint is never
overwritten. The small pointer files ``last`` and ``best`` name the newest and the best
checkpoint and are replaced atomically. A write that fails raises ``StorageError``, which says
when the disk is full.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import pickle
import re
import shutil
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import safetensors
import safetensors.torch
import torch

from .exceptions import (
    CheckpointError,
    CheckpointInvalidError,
    CheckpointNotFoundError,
    StorageError,
)

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
    "file_sha256",
    "find_last_checkpoint",
    "fsync_folder",
    "fsync_path",
    "load_checkpoint",
    "load_weights",
    "prune_checkpoints",
    "resolve_checkpoint",
    "save_checkpoint",
    "set_pointer",
    "write_error",
]

MODEL_FILE = "model.safetensors"
STATE_FILE = "state.pt"
REQUIRED_STATE_KEYS = frozenset({"format_version", "step", "epoch", "config", "optimizer"})
FORMAT_VERSION = 1
# Free bytes below which a failed write is put down to a full disk (see ``write_error``).
_NEARLY_FULL_BYTES = 1 << 20


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

    Raises:
        CheckpointError: If a checkpoint of ``step`` exists already: it is never overwritten.
        StorageError: If the checkpoint cannot be written (the earlier ones stay intact).
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
        safetensors.torch.save_model(model, str(staging / MODEL_FILE))
        digest = file_sha256(staging / MODEL_FILE)  # read back from the page cache: cheap
        payload = {"format_version": FORMAT_VERSION, **state, "weights_sha256": digest}
        torch.save(payload, staging / STATE_FILE)
        fsync_folder(staging)
        staging.rename(final)
    except (OSError, RuntimeError, safetensors.SafetensorError) as err:
        shutil.rmtree(staging, ignore_errors=True)
        raise write_error(final, err, what="checkpoint") from err
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
    """Load a checkpoint's safetensors weights into ``model`` in place.

    The weights are checked against the SHA-256 their checkpoint recorded when it was saved
    (checkpoints written before the template recorded it are loaded unchecked).

    Raises:
        CheckpointNotFoundError: If the weights file is missing.
        CheckpointInvalidError: If it is corrupt, changed since it was saved, or its tensors do
            not fit ``model``.
    """
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


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old or the new content, never a mix.

    Raises:
        StorageError: If the file cannot be written; ``path`` keeps its old content.
    """
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with temporary.open("w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(path)
    except OSError as err:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        raise write_error(path, err) from err
    fsync_path(path.parent)


def write_error(path: Path, err: BaseException, *, what: str = "") -> StorageError:
    """The error to raise when writing ``path`` failed with ``err``, in the user's terms.

    A full disk is named as such (``no space left on device``), however the library that
    wrote reported it; any other failure gives its reason.

    Args:
        path: The file or folder that could not be written.
        err: What the writing raised.
        what: What ``path`` is, such as ``checkpoint``, to begin the message with.
    """
    if _is_disk_full(path, err):
        reason = "no space left on device"
    elif isinstance(err, OSError) and err.strerror:
        reason = err.strerror
    else:
        lines = str(err).strip().splitlines()
        reason = lines[0] if lines else type(err).__name__
    kind = f"{what} " if what else ""
    return StorageError(f"cannot write {kind}{str(path)!r}: {reason}")


def _is_disk_full(path: Path, err: BaseException) -> bool:
    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        return True
    if "No space left on device" in str(err):  # safetensors wraps the OS error in its own
        return True
    # torch's writer reports a short write ("unexpected pos") without the OS error: ask the disk.
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return shutil.disk_usage(folder).free < _NEARLY_FULL_BYTES
    except OSError:
        return False


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, as 64 hexadecimal digits, read in one streaming pass."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
    """Flush a file or folder to disk (folders: so that a rename inside it is durable).

    Raises:
        OSError: If a file cannot be flushed, such as when the disk filled up before its data
            reached it. Folders that cannot be flushed are passed over: some file systems
            cannot fsync folders.
    """
    is_folder = path.is_dir()
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) if is_folder else os.O_RDONLY
    with contextlib.suppress(OSError) if is_folder else contextlib.nullcontext():
        descriptor = os.open(path, flags)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
