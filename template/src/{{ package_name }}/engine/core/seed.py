"""Seeding: the one place that seeds Python, NumPy and torch.

Call ``seed_everything`` once at the start of a run. For bitwise-repeatable runs on CUDA, also pass
``deterministic=True`` and export ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` before the process starts:
cuBLAS reads it when it initialises, so setting it later has no effect.
"""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import torch

__all__ = [
    "capture_rng_state",
    "make_generator",
    "restore_rng_state",
    "seed_everything",
    "seed_worker",
]


def seed_everything(seed: int, *, deterministic: bool = False) -> None:
    """Seed every random number generator the training code uses.

    Args:
        seed: Non-negative seed below 2**32.
        deterministic: Also make torch use deterministic algorithms and turn off cuDNN
            autotuning. Operations without a deterministic implementation then raise.
    """
    os.environ["PYTHONHASHSEED"] = str(seed)  # inherited by worker and child processes
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA and MPS device
    if deterministic or torch.are_deterministic_algorithms_enabled():
        # Only when it changes something: the call imports torch._inductor, which takes seconds.
        torch.use_deterministic_algorithms(deterministic)
    torch.backends.cudnn.benchmark = not deterministic
    torch.backends.cudnn.deterministic = deterministic


def seed_worker(worker_id: int) -> None:
    """Seed Python and NumPy in a DataLoader worker from the seed torch gave that worker.

    Pass as ``worker_init_fn``; torch seeds its own generator per worker but not the others.
    """
    del worker_id  # torch.initial_seed() already differs per worker
    worker_seed = torch.initial_seed() % 2**32
    random.seed(worker_seed)
    np.random.seed(worker_seed)


def make_generator(seed: int) -> torch.Generator:
    """Return a CPU generator seeded with ``seed``, for samplers and data generation."""
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def capture_rng_state() -> dict[str, Any]:
    """Return the state of every random number generator, storable with ``weights_only=True``.

    NumPy's state is kept as a tensor plus plain values: the tuple ``np.random.get_state()``
    returns holds an ndarray that the safe unpickler refuses. Python's 625 numbers are a tensor
    too, which makes a checkpoint quick to copy and to pickle.
    """
    kind, keys, position, has_gauss, cached_gaussian = np.random.get_state(legacy=True)
    version, internal, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "python": {
            "version": version,
            "state": torch.tensor(internal, dtype=torch.int64),
            "gauss_next": gauss_next,
        },
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Restore the generators from a ``capture_rng_state`` result."""
    python = state["python"]
    if isinstance(python, dict):
        random.setstate((python["version"], tuple(python["state"].tolist()), python["gauss_next"]))
    else:  # written before the state became a tensor
        random.setstate(python)
    saved = state["numpy"]
    np.random.set_state(
        (
            saved["kind"],
            saved["keys"].numpy().astype(np.uint32),
            saved["position"],
            saved["has_gauss"],
            saved["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
