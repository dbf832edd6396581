"""The batch-size finder: the largest training batch that fits on the device.

A size fits if a few optimizer steps on one batch of it run without the device running out of
memory (the optimizer's state included, allocated at its first step). From the config's
``data.batch_size`` the size doubles while it fits, then a binary search between the last size
that fit and the first that did not finds the largest; a first size that does not fit is halved
until one does. Sizes stop at ``maximum`` and at the training set's size. Like the
learning-rate finder, it trains a throw-away model (``probe.py``): no run changes.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch

from ..core.exceptions import OutOfMemoryError

if TYPE_CHECKING:
    from collections.abc import Callable

    from .probe import Probe

__all__ = ["BatchSearch", "batch_fits", "find_batch_size", "is_out_of_memory"]

Limit = Literal["memory", "maximum"]


@dataclass(frozen=True)
class BatchSearch:
    """The largest size that fit, every size tried (and whether it fit), and what limited it."""

    largest: int
    tried: dict[int, bool]
    limit: Limit

    @property
    def power_of_two(self) -> int:
        """The largest power of two that fit (kernels often run best at one)."""
        return 1 << (self.largest.bit_length() - 1)


def find_batch_size(fits: Callable[[int], bool], *, start: int, maximum: int) -> BatchSearch:
    """Double from ``start`` while ``fits``, then search between the last fit and the first miss.

    Args:
        fits: Whether a batch of the given size fits.
        start: The first size tried (at most ``maximum``).
        maximum: The largest size to try.

    Raises:
        OutOfMemoryError: If not even a batch of one fits.
    """
    tried: dict[int, bool] = {}

    def attempt(size: int) -> bool:
        tried[size] = fits(size)
        return tried[size]

    size = max(1, min(start, maximum))
    while not attempt(size):  # back off: halve until a size fits
        if size == 1:
            raise OutOfMemoryError("not even a batch of 1 fits in the device's memory")
        size //= 2
    good, bad = size, next((s for s in sorted(tried) if not tried[s]), None)
    while bad is None and good < maximum:  # grow: double while it fits
        size = min(2 * good, maximum)
        if attempt(size):
            good = size
        else:
            bad = size
    while bad is not None and bad - good > 1:  # narrow down between the two
        middle = (good + bad) // 2
        if attempt(middle):
            good = middle
        else:
            bad = middle
    return BatchSearch(largest=good, tried=tried, limit="maximum" if bad is None else "memory")


def batch_fits(probe: Probe, size: int, *, steps: int = 2) -> bool:
    """Whether ``steps`` optimizer steps on a batch of ``size`` run without running out of memory.

    The batch, the gradients and (after a failure) the cached blocks are released afterwards,
    so that the next size starts from the same state.

    Raises:
        RuntimeError: Any error but running out of memory.
    """
    batch = None
    try:
        batch = next(probe.batches(size))
        for _ in range(steps):
            probe.step(batch).item()  # waits for the device: a late OOM surfaces here
    except RuntimeError as err:
        if not is_out_of_memory(err):
            raise
        fits = False
    else:
        fits = True
    del batch
    probe.optimizer.zero_grad(set_to_none=True)
    if not fits:  # the failed step's tensors may sit in reference cycles: free them now
        gc.collect()
        if probe.device.type == "cuda":
            torch.cuda.empty_cache()
        elif probe.device.type == "mps":
            torch.mps.empty_cache()
    return fits


def is_out_of_memory(err: BaseException) -> bool:
    """Whether ``err`` says the device ran out of memory (CUDA's type, or MPS's message)."""
    return isinstance(err, torch.OutOfMemoryError) or "out of memory" in str(err)
