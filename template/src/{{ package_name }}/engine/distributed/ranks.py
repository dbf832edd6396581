"""Distributed training on torchrun: the process group and the few collectives the trainer needs.

A run started by ``torchrun`` (which sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR`` and ``MASTER_PORT`` for each process) joins a process group and trains with
``DistributedDataParallel``; a plain ``python`` or ``train`` command stays a single process with no
distributed setup at all::

    torchrun --nproc-per-node=4 -m <package> train --config configs/default.yaml

Every collective waits at most ``distributed.timeout_s``: a rank that dies or stalls makes the
others fail with a ``DistributedError`` instead of hanging.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

import torch
from torch import distributed as dist

from ..core.exceptions import DistributedError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from torch import nn

    from ..settings.sections import DistributedConfig

__all__ = [
    "LAUNCH_VARIABLES",
    "Distributed",
    "is_collective_failure",
    "launch_environment",
    "process_group",
    "weights_digest",
]

logger = logging.getLogger(__name__)

# What torchrun (and any launcher that imitates it) sets for each process.
LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")

_T = TypeVar("_T")


@dataclass(frozen=True)
class Distributed:
    """This process's place in the job; the defaults describe a plain single-process run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None  # None: no process group
    timeout_s: float = 0.0

    @property
    def enabled(self) -> bool:
        """Whether this process belongs to a process group."""
        return self.backend is not None

    @property
    def is_main(self) -> bool:
        """Whether this is rank zero, the one process that logs and writes files."""
        return self.rank == 0

    def all_reduce(
        self, tensor: torch.Tensor, op: Literal["sum", "max", "min"] = "sum"
    ) -> torch.Tensor:
        """Combine ``tensor`` in place across ranks with ``op`` (sum, max or min); return it."""
        if self.enabled:
            reduce_op = getattr(dist.ReduceOp, op.upper())
            with self.collective("all_reduce"):
                dist.all_reduce(tensor, op=reduce_op)
        return tensor

    def all_gather_object(self, value: _T) -> list[_T]:
        """Return every rank's ``value`` (picklable), in rank order."""
        if not self.enabled:
            return [value]
        gathered: list[Any] = [None] * self.world_size
        with self.collective("all_gather_object"):
            dist.all_gather_object(gathered, value)
        return gathered

    def broadcast_object(self, value: _T | None) -> _T:
        """Return rank zero's ``value`` (picklable) on every rank; the others may pass ``None``."""
        box: list[Any] = [value]
        if self.enabled:
            with self.collective("broadcast_object_list"):
                dist.broadcast_object_list(box, src=0)
        return cast("_T", box[0])

    @contextmanager
    def collective(self, name: str) -> Iterator[None]:
        """Turn a collective's failure (a rank died or stalled) into a ``DistributedError``."""
        try:
            yield
        except RuntimeError as err:
            if not is_collective_failure(err):
                raise
            raise self.lost_contact(err, during=name) from err

    def lost_contact(self, err: BaseException, *, during: str) -> DistributedError:
        """The error to raise when a collective fails because another rank died or stalled."""
        return DistributedError(
            f"rank {self.rank} of {self.world_size} lost contact with the other ranks during "
            f"{during}: another rank died or stalled for longer than "
            f"distributed.timeout_s={self.timeout_s:g} (see its log); {_first_line(err)}"
        )


def launch_environment() -> tuple[int, int, int] | None:
    """Read ``(rank, world_size, local_rank)`` that torchrun set; ``None`` outside torchrun.

    Raises:
        DistributedError: If only some of the variables are set or one is not a valid number.
    """
    present = [name for name in LAUNCH_VARIABLES if name in os.environ]
    if not present:
        return None
    missing = [name for name in LAUNCH_VARIABLES if name not in os.environ]
    if missing:
        raise DistributedError(
            f"{', '.join(present)} set but {', '.join(missing)} not: start distributed runs "
            "with torchrun, which sets all of them, or unset them for a single process"
        )
    numbers = {}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT"):
        value = os.environ[name]
        if not value.isdigit():
            raise DistributedError(f"{name}={value!r} is not a non-negative whole number")
        numbers[name] = int(value)
    rank, world_size = numbers["RANK"], numbers["WORLD_SIZE"]
    if world_size < 1 or rank >= world_size:
        raise DistributedError(
            f"RANK={rank} is not below WORLD_SIZE={world_size}; ranks run from 0 to WORLD_SIZE-1"
        )
    return rank, world_size, numbers["LOCAL_RANK"]


@contextmanager
def process_group(
    config: DistributedConfig, device: torch.device
) -> Iterator[tuple[Distributed, torch.device]]:
    """Join the job's process group if torchrun started this process, and leave it on exit.

    Yields this process's ``Distributed`` description and the device it trains on: under
    torchrun a CUDA run uses ``cuda:LOCAL_RANK``, one GPU per process.

    Raises:
        DistributedError: If the launch variables are malformed, the backend does not fit the
            device, or the other ranks do not join within ``config.timeout_s``.
    """
    launch = launch_environment()
    if launch is None:
        if config.strategy == "fsdp":  # ddp, the default, asks for nothing more than one process
            logger.warning(
                "distributed.strategy=fsdp, but torchrun did not start this process: it trains "
                "alone, nothing sharded; start it with torchrun --nproc-per-node=N to shard"
            )
        yield Distributed(), device
        return
    rank, world_size, local_rank = launch
    if str(device) == "cuda":  # no index given: one GPU per process
        device = torch.device("cuda", local_rank)
    backend = config.backend
    if backend == "auto":
        backend = "nccl" if device.type == "cuda" else "gloo"
    elif backend == "nccl" and device.type != "cuda":
        raise DistributedError(
            f"distributed.backend='nccl' needs CUDA, but this run trains on {device}; "
            "use distributed.backend=auto or gloo"
        )
    if device.type == "cuda":
        torch.cuda.set_device(device)
    try:
        dist.init_process_group(
            backend,
            rank=rank,
            world_size=world_size,
            timeout=timedelta(seconds=config.timeout_s),
            device_id=device if device.type == "cuda" else None,
        )
    except (RuntimeError, ValueError) as err:
        where = f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}"
        raise DistributedError(
            f"rank {rank} of {world_size} could not join the process group at {where} "
            f"with backend {backend!r}: {_first_line(err)}"
        ) from err
    context = Distributed(rank, world_size, local_rank, backend, config.timeout_s)
    if context.is_main:
        logger.info("%d processes joined the process group (%s on %s)", world_size, backend, device)
    try:
        yield context, device
    except BaseException:
        dist.destroy_process_group()  # no barrier: the other ranks may be gone
        raise
    # The run's objects can hold the group in reference cycles (an FSDP model does, through its
    # device mesh): free them now, while the group is alive, not at some later collection or
    # at interpreter exit, where a rank sometimes aborted ("terminate called without an active
    # exception", exit status -6) after a finished run.
    gc.collect()
    _leave(context)


def _leave(context: Distributed) -> None:
    """Leave the process group once every rank is done with it, and no thread of it is busy.

    gloo's worker threads free a finished collective's tensors after the caller has its result,
    holding the lock of their work queue, and freeing a tensor takes the GIL. A rank that went on
    to exit while a worker was still doing so aborted ("terminate called without an active
    exception", exit status -6) in a few percent of two-rank runs. The barrier is queued under
    the same lock, after those frees, and holds no tensor of its own, so when it returns the
    workers have let go of the earlier collectives' tensors. It also lets the ranks leave
    together.
    """
    with context.collective("barrier"):
        dist.barrier()
    dist.destroy_process_group()
    logger.debug("rank %d left the process group", context.rank)


def weights_digest(model: nn.Module) -> str:
    """SHA-256 of every parameter and buffer, in name order: equal digests mean equal replicas."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def is_collective_failure(err: BaseException) -> bool:
    """Whether ``err`` comes from a collective that failed (a peer died, stalled or hung up)."""
    if isinstance(err, dist.DistError):
        return True
    message = str(err)
    return "gloo" in message or "NCCL" in message or "Timed out" in message


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__
