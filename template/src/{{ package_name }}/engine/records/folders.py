"""Run folders: one per run, created under ``run.output_dir`` and written by one process at a time.

The process that trains in a run folder holds an exclusive lock on its ``.lock`` file
(``lock_run_dir``), which the operating system releases when the process ends, however it ends,
so a crashed run never stays locked.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import IO, TYPE_CHECKING

from ..core.exceptions import ConfigError, RunInUseError
from ..core.files import write_error

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from ..settings.loading import Config

__all__ = ["LOCK_FILE", "create_run_dir", "lock_run_dir"]

LOCK_FILE = ".lock"


_WINDOWS_LOCK_OFFSET = 1 << 20  # a byte past the pid, which the other process then still reads


def create_run_dir(config: Config, *, folder: Path | None = None) -> Path:
    """Create and return a new run folder: ``folder``, or ``<output_dir>/<UTC time>-<run name>``.

    Raises:
        ConfigError: If ``run.output_dir`` (or ``folder``) is a file or lies under one.
        StorageError: If the folder cannot be created, such as without permission.
    """
    output_dir = config.run.output_dir if folder is None else folder
    above = output_dir
    while not above.exists() and above != above.parent:
        above = above.parent
    if not above.is_dir():
        raise ConfigError(
            f"run.output_dir={str(output_dir)!r} cannot hold runs: {str(above)!r} is a file, "
            "not a folder"
        )
    if folder is not None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise write_error(folder, err, what="run folder") from err
        return folder
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    base = output_dir / f"{stamp}-{config.run.name}"
    candidate, suffix = base, 1
    while candidate.exists():  # two runs started within the same second
        suffix += 1
        candidate = base.with_name(f"{base.name}-{suffix}")
    try:
        candidate.mkdir(parents=True)
    except OSError as err:
        raise write_error(candidate, err, what="run folder") from err
    return candidate


@contextmanager
def lock_run_dir(run_dir: Path) -> Iterator[None]:
    """Hold the exclusive lock of ``run_dir`` while this process writes the run.

    The lock is the operating system's, on the file ``LOCK_FILE`` in the folder, which holds
    the pid of the process that has it. It is released on exit from the block, or when the
    process ends in any way: a crashed run never stays locked.

    Raises:
        RunInUseError: If another process holds the lock; the message names its pid.
    """
    with (run_dir / LOCK_FILE).open("a+b") as file:
        if not _try_lock(file):
            file.seek(0)
            holder = file.read(32).decode("ascii", errors="replace").strip()
            who = f"process {holder}" if holder.isdigit() else "another process"
            raise RunInUseError(
                f"run folder {str(run_dir)!r} is in use: {who} is training it; wait for it to "
                "end or stop it, or resume another run"
            )
        try:
            file.seek(0)
            file.truncate()
            file.write(f"{os.getpid()}\n".encode("ascii"))
            file.flush()
            yield
        finally:
            file.seek(0)
            file.truncate()
            _unlock(file)


def _try_lock(file: IO[bytes]) -> bool:
    """Take the lock on ``file`` without waiting; whether it was free."""
    try:
        if sys.platform == "win32":  # pragma: no cover (the tests run on Linux and macOS)
            import msvcrt  # noqa: PLC0415

            file.seek(_WINDOWS_LOCK_OFFSET)
            msvcrt.locking(file.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl  # noqa: PLC0415

            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _unlock(file: IO[bytes]) -> None:
    if sys.platform == "win32":  # pragma: no cover (the tests run on Linux and macOS)
        import msvcrt  # noqa: PLC0415

        file.seek(_WINDOWS_LOCK_OFFSET)
        msvcrt.locking(file.fileno(), msvcrt.LK_UNLCK, 1)
    else:
        import fcntl  # noqa: PLC0415

        fcntl.flock(file.fileno(), fcntl.LOCK_UN)
