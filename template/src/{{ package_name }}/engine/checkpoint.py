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
disk. A write that fails raises ``StorageError``, which says when the disk is full.

``CheckpointWriter`` saves replicated checkpoints on a background thread: it copies the weights
and state at once, and training goes on while the copy is written, flushed and pointed to.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import pickle
import re
import shutil
import threading
import warnings
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

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
    from collections.abc import Iterator, Mapping
    from pathlib import Path

    from torch import nn

__all__ = [
    "MODEL_FILE",
    "REQUIRED_STATE_KEYS",
    "SHARDED_DIR",
    "STATE_FILE",
    "Checkpoint",
    "CheckpointWriter",
    "atomic_write_text",
    "commit_checkpoint",
    "file_sha256",
    "find_last_checkpoint",
    "fsync_folder",
    "fsync_path",
    "load_checkpoint",
    "load_sharded",
    "load_weights",
    "prepare_staging",
    "prune_checkpoints",
    "resolve_checkpoint",
    "save_checkpoint",
    "save_sharded",
    "set_pointer",
    "set_pointers",
    "write_error",
]

MODEL_FILE = "model.safetensors"
SHARDED_DIR = "sharded"
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

    @property
    def is_sharded(self) -> bool:
        """Whether the weights are a sharded ``torch.distributed.checkpoint`` folder."""
        return (self.path / SHARDED_DIR).is_dir()


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


class CheckpointWriter:
    """Saves checkpoints on a background thread while training goes on.

    ``save`` copies the weights and the state into CPU memory before it returns (tensors that
    share memory keep sharing it), so training may change the model at once; a thread then saves
    each copy in turn as ``save_checkpoint`` does and deletes old checkpoints as
    ``prune_checkpoints`` does. The pointers move only once a checkpoint is on disk: a process
    killed at any moment leaves ``last`` naming a whole checkpoint. At most ``max_pending``
    copies wait (each as large as the weights and optimizer state); ``save`` waits for room.
    ``wait`` waits until every copy is saved; both raise the error a save raised.

    A copy saved with ``hold=True`` stays in memory instead (counted among the waiting ones), one
    at a time: a newer held copy replaces it, and a newer best copy replaces a held best one.
    Otherwise the next copy saved without ``hold``, or ``wait``, queues it first. The training
    loop holds a checkpoint that it wants (its epoch improved the monitored metric) but that
    comes too soon after the last one written (``train.checkpoint_min_interval``).
    """

    def __init__(self, directory: Path, *, keep: int, max_pending: int = 2) -> None:
        """Write into ``directory``, keeping its ``keep`` newest checkpoints (and the pointed)."""
        self.directory = directory
        self.keep = keep
        self.max_pending = max_pending
        self._pending: deque[_Job] = deque()
        self._held: _Job | None = None
        self._changed = threading.Condition()
        self._running = False
        self._error: BaseException | None = None

    def save(
        self,
        model: nn.Module,
        *,
        state: Mapping[str, Any],
        step: int,
        best: bool,
        extra_tensors: Mapping[str, dict[str, torch.Tensor]] | None = None,
        hold: bool = False,
    ) -> Path:
        """Copy the weights, ``state`` and ``extra_tensors``, queue them; return the new folder.

        With ``hold`` the copy waits in memory for the next save without ``hold`` (or ``wait``).
        """
        with self._changed:
            # Room for this copy, and for a held one that it sends on its way (not one it replaces).
            sends_held = not hold and not self._replaces_held(best=best)
            room = max(self.max_pending - (self._held is not None and sends_held), 1)
            self._changed.wait_for(lambda: len(self._pending) < room)
            self._raise_error()
        memo: dict[tuple[str, int], torch.UntypedStorage] = {}
        job = _Job(
            weights=_Weights(_copy_tensors(model.state_dict(), memo)),
            state=_copy_tensors(dict(state), memo),
            extra_tensors=_copy_tensors(dict(extra_tensors or {}), memo),
            step=step,
            best=best,
        )
        with self._changed:
            self._raise_error()  # a save that failed while the copy was made
            if self._replaces_held(best=best):  # only now: a failed copy keeps the held one
                self._held = None
            if hold:
                self._held = job
            else:
                self._queue(job)
        return self.directory / f"step-{step:08d}"

    def wait(self) -> None:
        """Wait until every checkpoint saved, held ones too, is written; raise a save's error."""
        with self._changed:
            self._queue(None)
            self._changed.wait_for(lambda: not self._running)
            self._raise_error()

    def _replaces_held(self, *, best: bool) -> bool:
        """Whether a new best copy makes the held one, an older best, unneeded."""
        return best and self._held is not None and self._held.best

    def _queue(self, job: _Job | None) -> None:
        """Queue the held copy, then ``job``; start the writing thread (holding the lock)."""
        jobs = [held for held in (self._held, job) if held is not None]
        self._held = None
        self._pending.extend(jobs)
        if jobs and not self._running:
            self._running = True
            threading.Thread(target=self._drain, name="checkpoint-writer").start()

    def _raise_error(self) -> None:
        error, self._error = self._error, None
        if error is not None:
            raise error

    def _drain(self) -> None:
        while True:
            with self._changed:
                if not self._pending:
                    self._running = False
                    self._changed.notify_all()
                    return
                job = self._pending[0]
            try:
                self._write(job)
            except BaseException as err:  # noqa: BLE001 (raised on the training thread)
                with self._changed:
                    self._error = err
                    self._pending.clear()  # the saves queued after it are dropped with it
                continue
            with self._changed:
                self._pending.popleft()
                self._changed.notify_all()

    def _write(self, job: _Job) -> None:
        model = cast("nn.Module", job.weights)  # save_model asks it for its state_dict only
        save_checkpoint(
            self.directory,
            model=model,
            state=job.state,
            step=job.step,
            extra_tensors=job.extra_tensors,
            best=job.best,
        )
        prune_checkpoints(self.directory, keep=self.keep)


@dataclass(frozen=True)
class _Job:
    weights: _Weights
    state: dict[str, Any]
    extra_tensors: dict[str, dict[str, torch.Tensor]]
    step: int
    best: bool


class _Weights:
    """Copied weights standing in for the model they came from, for ``save_model``."""

    def __init__(self, tensors: dict[str, torch.Tensor]) -> None:
        self.tensors = tensors

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.tensors)


def _copy_tensors(value: Any, memo: dict[tuple[str, int], torch.UntypedStorage]) -> Any:
    """``value`` with every tensor copied into CPU memory; shared memory stays shared."""
    if isinstance(value, dict):
        return {key: _copy_tensors(item, memo) for key, item in value.items()}
    if type(value) in {list, tuple}:
        return type(value)(_copy_tensors(item, memo) for item in value)
    if not isinstance(value, torch.Tensor):
        return value
    if value.layout != torch.strided:
        return value.detach().to("cpu", copy=True)
    storage = value.untyped_storage()
    key = (str(storage.device), storage.data_ptr())
    if key not in memo:
        memo[key] = storage.clone() if storage.device.type == "cpu" else storage.cpu()
    copy = torch.empty(0, dtype=value.dtype)
    return copy.set_(memo[key], value.storage_offset(), value.size(), value.stride())


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
    set_pointers(directory, {name: checkpoint})


def set_pointers(directory: Path, targets: Mapping[str, Path]) -> None:
    """Atomically point each pointer file ``directory/<name>`` at its checkpoint folder.

    Each pointer is replaced whole; the folder is flushed once for all of them.
    """
    temporaries: dict[str, Path] = {}
    for name, checkpoint in targets.items():
        temporaries[name] = directory / f".{name}.tmp"
        try:
            _write_flushed(temporaries[name], checkpoint.name + "\n")
        except OSError as err:
            for temporary in temporaries.values():
                temporary.unlink(missing_ok=True)
            raise write_error(directory / name, err, what="pointer") from err
    for name, temporary in temporaries.items():
        temporary.replace(directory / name)
    fsync_path(directory)


def resolve_checkpoint(path: Path) -> Path:
    """Return the checkpoint folder that ``path`` means.

    ``path`` may be a checkpoint folder, a folder of checkpoints (its ``last`` pointer is
    followed), a run folder holding ``checkpoints/``, or a pointer file such as ``best``.

    Raises:
        CheckpointNotFoundError: If no checkpoint is found there.
    """
    if path.is_file():
        return path.parent if path.name in {MODEL_FILE, STATE_FILE} else _follow(path)
    if _holds_weights(path):
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


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old or the new content, never a mix.

    Raises:
        StorageError: If the file cannot be written; ``path`` keeps its old content.
    """
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        _write_flushed(temporary, text)
        temporary.replace(path)
    except OSError as err:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        raise write_error(path, err) from err
    fsync_path(path.parent)


def _write_flushed(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())


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


def _final(staging: Path) -> Path:
    """The folder a staging folder becomes: ``.step-00000120.tmp`` -> ``step-00000120``."""
    return staging.with_name(staging.name.removeprefix(".").removesuffix(".tmp"))


def _follow(pointer: Path) -> Path:
    try:
        target = pointer.parent / pointer.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as err:
        raise CheckpointInvalidError(f"{str(pointer)!r} is not a checkpoint pointer") from err
    if not _holds_weights(target):
        raise CheckpointNotFoundError(
            f"pointer {str(pointer)!r} names {target.name!r}, which is not a checkpoint"
        )
    return target


def _holds_weights(folder: Path) -> bool:
    return (folder / MODEL_FILE).exists() or (folder / SHARDED_DIR).is_dir()


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
