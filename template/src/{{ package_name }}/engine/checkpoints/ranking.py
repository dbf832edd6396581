"""The checkpoints of the best validations (``train.save_top_k``), listed in ``top.json``.

Each checkpoint saved at a validation carries the value of the monitored metric. Once one is
written, ``TopCheckpoints`` ranks it among those written before and keeps the best ``k``,
best first, in ``checkpoints/top.json`` (replaced atomically); pruning leaves them alone. A run
resumed in its folder reads the list back. With ``k`` of 1 nothing of this runs: the ``best``
pointer names the one checkpoint to keep.
"""

from __future__ import annotations

import json
import math
import threading
from typing import TYPE_CHECKING, Literal

from ..core.files import atomic_write_text

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["TOP_FILE", "TopCheckpoints"]

TOP_FILE = "top.json"


class TopCheckpoints:
    """The ``k`` best checkpoints written to ``directory`` by the monitored metric.

    Args:
        directory: The run's folder of checkpoints.
        k: How many to keep.
        mode: ``min`` or ``max``: whether a lower or a higher value is better.
    """

    def __init__(self, directory: Path, *, k: int, mode: Literal["min", "max"]) -> None:
        """Start from the list a run resumed in ``directory`` left, if any."""
        self.directory = directory
        self.k = k
        self.mode = mode
        self._lock = threading.Lock()  # the writer's thread adds, the training thread asks
        self.entries: list[tuple[str, float]] = self._read()

    @property
    def names(self) -> frozenset[str]:
        """The folder names of the kept checkpoints."""
        with self._lock:
            return frozenset(name for name, _ in self.entries)

    def admits(self, value: float) -> bool:
        """Whether a checkpoint of ``value`` would be among the ``k`` best written so far."""
        with self._lock:
            if not math.isfinite(value):
                return False
            return len(self.entries) < self.k or self._better(value, self.entries[-1][1])

    def add(self, name: str, value: float) -> None:
        """Rank the checkpoint ``name`` just written, of ``value``; rewrite ``top.json``.

        Raises:
            StorageError: If ``top.json`` cannot be written.
        """
        with self._lock:
            if not math.isfinite(value):
                return
            ranked = [entry for entry in self.entries if entry[0] != name]
            place = next(
                (i for i, (_, other) in enumerate(ranked) if self._better(value, other)),
                len(ranked),
            )  # after its equals: the first of equals stays ahead
            ranked.insert(place, (name, value))
            self.entries = ranked[: self.k]
            listing = [{"checkpoint": name, "value": value} for name, value in self.entries]
        atomic_write_text(self.directory / TOP_FILE, json.dumps(listing, indent=2) + "\n")

    def _better(self, value: float, other: float) -> bool:
        return value < other if self.mode == "min" else value > other

    def _read(self) -> list[tuple[str, float]]:
        """The list in ``top.json``, less checkpoints no longer there; empty without one."""
        try:
            listing = json.loads((self.directory / TOP_FILE).read_text(encoding="utf-8"))
            entries = [(str(item["checkpoint"]), float(item["value"])) for item in listing]
        except (OSError, ValueError, TypeError, KeyError):
            return []
        return [entry for entry in entries if (self.directory / entry[0]).is_dir()][: self.k]
