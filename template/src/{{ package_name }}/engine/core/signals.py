"""Graceful stops: SIGINT (Ctrl-C), SIGTERM, SIGHUP and SIGUSR1 finish the current step, then save.

Cluster schedulers send SIGTERM before they kill a job, to every process of the job, and SLURM
sends the signal its ``--signal`` option names (SIGUSR1 in ``slurm/train.sbatch``) before a time
limit or a preemption; a closed terminal or a dropped ssh connection sends SIGHUP. The training
loop checks ``requested`` after every optimizer step, saves a resumable checkpoint and returns.
The command line then exits with 128 plus the signal's number, which tells a batch script that
the run stopped to be resumed (and to requeue the job). DataLoader worker processes ignore these
signals (``ignore_stop_signals``): the stop is their parent's to handle, and a worker that died
of it would fail the step the parent is finishing.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import FrameType, TracebackType

__all__ = ["STOP_SIGNALS", "StopSignal", "ignore_stop_signals"]

logger = logging.getLogger(__name__)

# SIGHUP and SIGUSR1 do not exist on Windows.
STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name)
    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1")
    if hasattr(signal, name)
)


def ignore_stop_signals() -> None:
    """Ignore every stop signal in this process (a DataLoader worker: see the module doc)."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


class StopSignal:
    """Context manager that turns the stop signals into a flag instead of an exception.

    A second signal while the first is being handled stops the process at once, the way that
    signal does by default, so pressing Ctrl-C twice still stops a process that hangs. A SIGHUP
    that is ignored already (a process started with ``nohup``) stays ignored.
    """

    def __init__(self, *, repeat_stops_now: bool = True) -> None:
        """Create the flag; handlers are installed on ``__enter__``.

        Args:
            repeat_stops_now: Whether a second signal stops the process at once. Pass False
                under torchrun: on Ctrl-C a worker gets SIGINT from the terminal and again from
                the launcher, which itself kills workers that outlive its shutdown timeout.
        """
        self.received: int | None = None
        self.repeat_stops_now = repeat_stops_now
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        """Whether a stop signal has arrived."""
        return self.received is not None

    def __enter__(self) -> StopSignal:
        """Install the handlers (only possible in the main thread; elsewhere a no-op)."""
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                if signum.name == "SIGHUP" and signal.getsignal(signum) == signal.SIG_IGN:
                    continue  # nohup: the user asked to outlive the terminal
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Restore the handlers that were installed before."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        del frame
        if self.received is not None and not self.repeat_stops_now:
            return  # the same stop, passed on by the launcher
        if self.received is not None:  # the user insists: stop now, without saving
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)
            return
        self.received = signum
        logger.warning(
            "received %s: finishing the current step, then saving a checkpoint",
            signal.Signals(signum).name,
        )
