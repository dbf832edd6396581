"""Time the template's test suite: ``python tests/timing.py [pytest arguments]``.

Runs ``python -m pytest --durations=30`` with the arguments given (the whole suite, slow tests
included, when there are none), as ``.ci/run`` does, and prints the wall time of the run against
the 900-second budget after pytest's own report: the slowest tests and the step durations per
answer set (install, ruff, mypy, pytest, train, ...). Its exit status is pytest's.

    python tests/timing.py                      # the whole suite, as .ci/run runs it
    python tests/timing.py -m "not slow"        # the fast tests only
    python tests/timing.py -k defaults          # one answer set
"""

from __future__ import annotations

import subprocess
import sys
import time

BUDGET_S = 900  # what the whole suite may take on an uncontended machine


def main() -> int:
    """Run pytest, print its wall time and return its exit status."""
    started = time.perf_counter()
    status = subprocess.call([sys.executable, "-m", "pytest", "--durations=30", *sys.argv[1:]])
    seconds = time.perf_counter() - started
    sys.stdout.write(f"suite wall time: {seconds:.0f} s (whole-suite budget {BUDGET_S} s)\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
