"""A tracker wrapper whose failures never stop training.

A tracker can fail at any moment: a server that is down, credentials that are wrong, a full disk.
``GuardedTracker`` logs the first failure as one warning, naming the tracker and the error, then
stops calling the tracker for the rest of the run. Training and its local records go on.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, TypeVar

from .base import TrackerInfo

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

    from .base import Scalar, Tracker

__all__ = ["GuardedTracker"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

_REDACTED = "***"


class GuardedTracker:
    """Forwards to a tracker until its first failure, then does nothing.

    Error messages are logged with the values of ``secret_variables`` (such as an API key
    in the environment) replaced by ``***``.
    """

    def __init__(
        self, tracker: Tracker | None, *, name: str, secret_variables: tuple[str, ...] = ()
    ) -> None:
        """Guard ``tracker``; ``None`` stands for a tracker that could not be started."""
        self._tracker = tracker
        self._name = name
        self._secret_variables = secret_variables
        self._info = tracker.info if tracker is not None else TrackerInfo(name)

    @classmethod
    def start(
        cls, name: str, open_tracker: Callable[[], Tracker], *, secret_variables: tuple[str, ...]
    ) -> GuardedTracker:
        """Open a tracker with ``open_tracker``; on failure, warn and return an inactive guard."""
        inactive = cls(None, name=name, secret_variables=secret_variables)
        tracker = inactive._attempt("start", open_tracker)
        if tracker is None:
            return inactive
        return cls(tracker, name=name, secret_variables=secret_variables)

    @property
    def info(self) -> TrackerInfo:
        """The tracker's name and, once started, the id and address of its run."""
        return self._info

    @property
    def is_active(self) -> bool:
        """Whether calls still reach the tracker (it started and has not failed or finished)."""
        return self._tracker is not None

    def log_params(self, params: Mapping[str, Scalar]) -> None:
        """Record the run's parameters."""
        tracker = self._tracker
        if tracker is not None:
            self._attempt("log parameters", lambda: tracker.log_params(params))

    def log_metrics(self, metrics: Mapping[str, float], *, step: int) -> None:
        """Record metrics at ``step``."""
        tracker = self._tracker
        if tracker is not None:
            self._attempt("log metrics", lambda: tracker.log_metrics(metrics, step=step))

    def log_artifact(self, path: Path) -> None:
        """Record a file or folder with the run."""
        tracker = self._tracker
        if tracker is not None:
            self._attempt("log an artifact", lambda: tracker.log_artifact(path))

    def finish(self, status: str) -> None:
        """Close the run with ``status``; later calls do nothing."""
        tracker, self._tracker = self._tracker, None
        if tracker is not None:
            self._attempt("finish", lambda: tracker.finish(status))

    def _attempt(self, action: str, call: Callable[[], _T]) -> _T | None:
        try:
            return call()
        except Exception as err:  # noqa: BLE001 (no tracker failure may stop training)
            self._tracker = None
            logger.warning(
                "%s tracker failed to %s, training goes on without it "
                "(metrics stay in metrics.jsonl): %s: %s",
                self._name,
                action,
                type(err).__name__,
                self._redact(str(err)),
            )
            return None

    def _redact(self, text: str) -> str:
        for variable in self._secret_variables:
            secret = os.environ.get(variable)
            if secret:
                text = text.replace(secret, _REDACTED)
        return text
