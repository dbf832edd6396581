"""The tracker interface every implementation follows, and the values it accepts."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

__all__ = ["Scalar", "Tracker", "TrackerInfo", "flatten_params"]

Scalar = str | int | float | bool


@dataclass(frozen=True)
class TrackerInfo:
    """Which tracker holds a run, and the run's id and address there (``None``: it has none)."""

    name: str
    run_id: str | None = None
    url: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        """The fields as a JSON-ready mapping, for the run record."""
        return asdict(self)


class Tracker(Protocol):
    """What training reports to an experiment tracker.

    Implementations may raise anything their library raises; ``GuardedTracker`` contains it.
    """

    @property
    def info(self) -> TrackerInfo:
        """The tracker's name, and the id and address of the run it records."""
        ...

    def log_params(self, params: Mapping[str, Scalar]) -> None:
        """Record the run's parameters (the flattened config), once at the start."""
        ...

    def log_metrics(self, metrics: Mapping[str, float], *, step: int) -> None:
        """Record metrics measured after optimizer step ``step``."""
        ...

    def log_artifact(self, path: Path) -> None:
        """Record a file or a folder (the final checkpoint) with the run."""
        ...

    def finish(self, status: str) -> None:
        """Close the run; ``status`` is the stop reason, or ``failed``."""
        ...


def flatten_params(values: Mapping[str, Any], *, prefix: str = "") -> dict[str, Scalar]:
    """Flatten nested settings to dotted keys with scalar values.

    ``None`` becomes ``"null"`` and lists become their JSON text, since trackers accept only
    strings, numbers and booleans as parameters.

    Args:
        values: Nested settings, such as ``config.model_dump(mode="json")``.
        prefix: Text put before every key.

    Returns:
        One entry per leaf, such as ``{"optim.lr": 0.003, "model.hidden_sizes": "[64, 64]"}``.
    """
    flat: dict[str, Scalar] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten_params(value, prefix=f"{name}."))
        elif isinstance(value, str | int | float | bool):
            flat[name] = value
        else:
            flat[name] = json.dumps(value)
    return flat
