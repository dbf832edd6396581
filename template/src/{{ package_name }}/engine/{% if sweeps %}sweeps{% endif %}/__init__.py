"""Hyperparameter sweeps with Optuna: a search space, a persistent study, pruning, a report.

``sweep --space configs/sweep.yaml`` samples the keys the space names (``space.py``), trains one
normal run per trial and reports the task's monitored validation metric after every epoch, so
that trials falling behind are pruned (``study.py``). The study lives in SQLite under
``run.output_dir/sweeps/<study>/`` or in a shared database, so a stopped sweep continues and
several processes can work on one study. ``sweep --show`` prints the best trials and draws the
history and the parameters' importance (``report.py``).
"""

from __future__ import annotations

from .report import describe_study, write_report
from .space import Parameter, SearchSpace
from .study import SweepResult, SweepSettings, open_study, run_sweep, sweep_dir

__all__ = [
    "Parameter",
    "SearchSpace",
    "SweepResult",
    "SweepSettings",
    "describe_study",
    "open_study",
    "run_sweep",
    "sweep_dir",
    "write_report",
]
