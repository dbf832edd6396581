"""Checkpoints written on a background thread while training goes on.

``CheckpointWriter`` copies the weights and state at once, then writes, flushes and points to
the copy on its own thread; at most ``max_pending`` copies wait in memory.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path  # noqa: TC003 (pydantic reads the annotation at run time)
from typing import TYPE_CHECKING, Any, cast

import torch

from .store import prune_checkpoints, save_checkpoint

if TYPE_CHECKING:
    from collections.abc import Mapping

    from torch import nn

__all__ = ["CheckpointWriter"]


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
