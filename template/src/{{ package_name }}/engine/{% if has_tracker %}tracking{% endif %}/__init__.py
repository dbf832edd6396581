"""Experiment tracking: one small interface, the tracker this project uses behind it.

Training reports to the tracker through ``Tracker``: the parameters once, the metrics of each
epoch, the final checkpoint, and the end of the run. ``factory.start_tracking`` opens the tracker
behind ``GuardedTracker``, which turns any failure of the tracker library into one warning and
carries on without it: every run folder keeps its own ``metrics.jsonl`` whatever the tracker
does. The config imports this package, so nothing here loads torch or a tracker library.
"""

from __future__ import annotations

from .base import Scalar, Tracker, TrackerInfo, flatten_params
from .guard import GuardedTracker

__all__ = ["GuardedTracker", "Scalar", "Tracker", "TrackerInfo", "flatten_params"]
