"""A progress bar with loss, throughput and time left, shown only on an interactive terminal.

The bar is drawn on stderr, and while it is, the console's log records go through the bar's own
console (``log.logs_through``), which prints them above the bar: one writer for both, so no log
line is ever drawn onto the bar's line. stdout keeps the command's results.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import TYPE_CHECKING

from .log import logs_through

if TYPE_CHECKING:
    from types import TracebackType

    from rich.progress import Progress, TaskID

__all__ = ["ProgressBar", "should_show_progress"]


def should_show_progress(*, quiet: bool) -> bool:
    """Show bars only when stderr is a terminal and the user did not ask for quiet output."""
    return not quiet and sys.stderr.isatty()


class ProgressBar:
    """Counts steps of a known total; a disabled bar costs one attribute check per update.

    Args:
        total: Steps expected in all.
        description: Label shown before the bar.
        enabled: Draw the bar; when false every method does nothing.
        completed: Steps already done (a resumed run starts part-way).
    """

    def __init__(self, *, total: int, description: str, enabled: bool, completed: int = 0) -> None:
        """Prepare the bar; it is drawn between ``__enter__`` and ``__exit__``."""
        self._enabled = enabled
        self._total = total
        self._description = description
        self._completed = completed
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._drawing = contextlib.ExitStack()
        self._samples = 0
        self._started = time.perf_counter()

    def __enter__(self) -> ProgressBar:
        """Start drawing (imports rich only when the bar is shown)."""
        if self._enabled:
            from rich.console import Console  # noqa: PLC0415
            from rich.progress import (  # noqa: PLC0415
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[stats]}"),
                transient=True,
                # Redrawn from update() only: a refresh thread would compete with the training
                # loop for the interpreter lock.
                auto_refresh=False,
                console=Console(stderr=True),  # where should_show_progress looked
            )
            self._progress = self._drawing.enter_context(progress)
            self._drawing.enter_context(logs_through(progress.console))
            self._task = progress.add_task(
                self._description, total=self._total, completed=self._completed, stats=""
            )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop drawing and leave the terminal as it was."""
        self._progress = None
        self._drawing.close()  # log records go to stderr again, then the bar is erased

    def update(self, *, steps: int, samples: int, loss: float | None = None) -> None:
        """Advance by ``steps`` that processed ``samples`` samples; show ``loss`` if given."""
        if self._progress is None or self._task is None:
            return
        self._samples += samples
        elapsed = max(time.perf_counter() - self._started, 1e-9)
        stats = f"{self._samples / elapsed:,.0f} samples/s"
        if loss is not None:
            stats = f"loss {loss:.4f}  {stats}"
        self._progress.update(self._task, advance=steps, stats=stats)
        self._progress.refresh()
