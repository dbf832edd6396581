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
    from collections.abc import Callable, Mapping

    from torch import nn

    from .ranking import TopCheckpoints

__all__ = ["CheckpointWriter", "finish_save"]


class CheckpointWriter:
    """Saves checkpoints on a background thread while training goes on.

    ``save`` copies the weights and the state into CPU memory before it returns (tensors that
    share memory keep sharing it), so training may change the model at once; a thread then saves
    each copy in turn as ``save_checkpoint`` does and deletes old checkpoints as
    ``prune_checkpoints`` does. The pointers move only once a checkpoint is on disk: a process
    killed at any moment leaves ``last`` naming a whole checkpoint. At most ``max_pending``
    copies wait (each as large as the weights and optimizer state); ``save`` waits for room.
    ``wait`` waits until every copy is saved; both raise the error a save raised.

    A copy saved with ``hold_for`` seconds stays in memory instead (counted among the waiting
    ones), one at a time: a newer held copy replaces it, and a newer best copy replaces a held best
    one. The next copy saved without ``hold_for``, or ``wait``, queues it first; if none comes
    within ``hold_for`` seconds, a timer queues it then (and calls ``on_release``), so that no
    held copy waits longer. The training loop holds a checkpoint that it wants (its epoch improved
    the monitored metric) but that comes too soon after the last one written
    (``train.checkpoint_min_interval``), until that interval has passed.
    """

    def __init__(
        self,
        directory: Path,
        *,
        keep: int,
        max_pending: int = 2,
        on_release: Callable[[], None] | None = None,
        top: TopCheckpoints | None = None,
    ) -> None:
        """Write into ``directory``, keeping its ``keep`` newest checkpoints (and the pointed).

        ``on_release`` is called (on the timer's thread) when a held copy is queued because its
        time ran out. ``top`` ranks each checkpoint saved with a ``score`` once it is written,
        and those it keeps are never pruned.
        """
        self.directory = directory
        self.keep = keep
        self.top = top
        self.max_pending = max_pending
        self.on_release = on_release
        self._pending: deque[_Job] = deque()
        self._held: _Job | None = None
        self._timer: threading.Timer | None = None  # queues the held copy when its time is up
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
        hold_for: float | None = None,
        score: float | None = None,
    ) -> Path:
        """Copy the weights, ``state`` and ``extra_tensors``, queue them; return the new folder.

        With ``hold_for`` the copy waits in memory for the next save without it (or ``wait``),
        ``hold_for`` seconds at most. ``score`` is the monitored metric's value, for ``top``.
        """
        hold = hold_for is not None
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
            score=score,
        )
        with self._changed:
            self._raise_error()  # a save that failed while the copy was made
            if self._replaces_held(best=best):  # only now: a failed copy keeps the held one
                self._held = None
            if hold_for is not None:
                self._hold(job, seconds=hold_for)
            else:
                self._queue(job)
        return self.directory / f"step-{step:08d}"

    def wait(self, *, held: bool = True) -> None:
        """Wait until every checkpoint saved is written; raise a save's error.

        ``held=False`` leaves a held copy in memory, waiting for its time.
        """
        with self._changed:
            if held:
                self._queue(None)
            self._changed.wait_for(lambda: not self._running)
            self._raise_error()

    def _hold(self, job: _Job, *, seconds: float) -> None:
        """Keep ``job`` in memory for ``seconds`` at most, in place of any held one (locked)."""
        self._held = job
        if self._timer is not None:
            self._timer.cancel()
        self._timer = threading.Timer(seconds, self._release, args=(job,))
        self._timer.daemon = True  # a process that ends never waits for it: wait() queues first
        self._timer.start()

    def _release(self, job: _Job) -> None:
        """Queue ``job`` if it is still the held copy: its time in memory is up."""
        with self._changed:
            if self._held is not job:
                return  # sent on, or replaced, in the meantime
            self._queue(None)
        if self.on_release is not None:
            self.on_release()

    def _replaces_held(self, *, best: bool) -> bool:
        """Whether a new best copy makes the held one, an older best, unneeded."""
        return best and self._held is not None and self._held.best

    def _queue(self, job: _Job | None) -> None:
        """Queue the held copy, then ``job``; start the writing thread (holding the lock)."""
        jobs = [held for held in (self._held, job) if held is not None]
        self._held = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
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
        folder = save_checkpoint(
            self.directory,
            model=model,
            state=job.state,
            step=job.step,
            extra_tensors=job.extra_tensors,
            best=job.best,
        )
        finish_save(folder, keep=self.keep, top=self.top, score=job.score)


def finish_save(
    folder: Path, *, keep: int, top: TopCheckpoints | None, score: float | None
) -> None:
    """After checkpoint ``folder`` is written: rank it among the best, prune the old ones."""
    if top is not None and score is not None:
        top.add(folder.name, score)
    protect = top.names if top is not None else frozenset()
    prune_checkpoints(folder.parent, keep=keep, protect=protect)


@dataclass(frozen=True)
class _Job:
    weights: _Weights
    state: dict[str, Any]
    extra_tensors: dict[str, dict[str, torch.Tensor]]
    step: int
    best: bool
    score: float | None


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
