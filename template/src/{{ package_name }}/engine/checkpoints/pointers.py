"""Pointers to checkpoints: ``last`` and ``best``, and finding the checkpoint a path means.

The small files ``last`` and ``best`` in a folder of checkpoints name the newest and the best
checkpoint; each is replaced atomically, only once the folder it names is on disk. A process
killed between a checkpoint's rename into place and the move of its pointers leaves ``last``
naming the one before, so ``last`` is read as "the newest whole checkpoint" (the folder
``step-*`` with the highest step that holds its weights and its state) and the pointer file is
only a hint. ``repair_pointers`` moves both pointers back in line when a run resumes.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..core.exceptions import CheckpointInvalidError, CheckpointNotFoundError
from ..core.files import fsync_path, write_error, write_flushed
from .layout import MODEL_FILE, SHARDED_DIR, STATE_FILE

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

__all__ = [
    "find_last_checkpoint",
    "newest_checkpoint",
    "pointer_target",
    "repair_pointers",
    "resolve_checkpoint",
    "set_pointer",
    "set_pointers",
]

logger = logging.getLogger(__name__)


def set_pointer(directory: Path, name: str, checkpoint: Path) -> None:
    """Atomically make the pointer file ``directory/name`` refer to ``checkpoint``."""
    set_pointers(directory, {name: checkpoint})


def set_pointers(directory: Path, targets: Mapping[str, Path]) -> None:
    """Atomically point each pointer file ``directory/<name>`` at its checkpoint folder.

    Each pointer is replaced whole; the folder is flushed once for all of them.
    """
    temporaries: dict[str, Path] = {}
    for name, checkpoint in targets.items():
        temporaries[name] = directory / f".{name}.tmp"
        try:
            write_flushed(temporaries[name], checkpoint.name + "\n")
        except OSError as err:
            for temporary in temporaries.values():
                temporary.unlink(missing_ok=True)
            raise write_error(directory / name, err, what="pointer") from err
    for name, temporary in temporaries.items():
        temporary.replace(directory / name)
    fsync_path(directory)


def newest_checkpoint(directory: Path) -> Path | None:
    """The whole checkpoint of ``directory`` with the highest step; ``None`` if it has none.

    Whole: its folder holds the weights and the state (a folder being deleted may not).
    """
    steps = []
    for folder in directory.glob("step-*"):
        number = folder.name.removeprefix("step-")
        if number.isdigit():
            steps.append((int(number), folder))
    for _, folder in sorted(steps, reverse=True):
        if (folder / STATE_FILE).is_file() and holds_weights(folder):
            return folder
    return None


def find_last_checkpoint(output_dir: Path) -> Path:
    """The newest whole checkpoint of the newest run under ``output_dir`` (``--resume auto``).

    Runs are ordered by their folder names, which start with the time they were created.

    Raises:
        CheckpointNotFoundError: If no run there has a checkpoint.
    """
    runs = output_dir.glob("*/checkpoints")
    for checkpoints in sorted(runs, key=lambda path: path.parent.name, reverse=True):
        newest = newest_checkpoint(checkpoints)
        if newest is not None:
            return newest
    raise CheckpointNotFoundError(f"no run with a checkpoint under {str(output_dir)!r}")


def resolve_checkpoint(path: Path) -> Path:
    """Return the checkpoint folder that ``path`` means.

    ``path`` may be a checkpoint folder, a folder of checkpoints or a run folder holding
    ``checkpoints/`` (its newest whole checkpoint), or a pointer file: ``last`` means the newest
    whole checkpoint beside it, any other (``best``) the folder it names.

    Raises:
        CheckpointNotFoundError: If no checkpoint is found there.
        CheckpointInvalidError: If a pointer file cannot be read.
    """
    if path.is_file():
        if path.name in {MODEL_FILE, STATE_FILE}:
            return path.parent
        return _newest_beside(path) if path.name == "last" else _follow(path)
    if holds_weights(path):
        return path
    for folder in (path, path / "checkpoints"):
        newest = newest_checkpoint(folder)
        if newest is not None:
            _warn_if_stale(folder / "last", newest)
            return newest
    raise CheckpointNotFoundError(f"no checkpoint at {str(path)!r}")


def repair_pointers(checkpoint: Path, *, best: bool) -> None:
    """Point ``last`` (and with ``best``, ``best``) at ``checkpoint`` where they name another.

    A run resumed from its newest whole checkpoint calls this, so that pointers a killed save
    left behind name it again before training goes on.
    """
    directory = checkpoint.parent
    names = ("last", "best") if best else ("last",)
    stale = [name for name in names if pointer_target(directory / name) != checkpoint.name]
    if stale:
        set_pointers(directory, dict.fromkeys(stale, checkpoint))
        logger.info("pointed %s at %s", " and ".join(stale), checkpoint.name)


def pointer_target(pointer: Path) -> str | None:
    """The folder name a pointer file holds; ``None`` if there is no readable pointer."""
    try:
        return pointer.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None


def holds_weights(folder: Path) -> bool:
    """Whether ``folder`` holds a checkpoint's weights (safetensors, or shards)."""
    return (folder / MODEL_FILE).exists() or (folder / SHARDED_DIR).is_dir()


def _newest_beside(pointer: Path) -> Path:
    """The newest whole checkpoint in the folder of a ``last`` pointer, or the one it names."""
    newest = newest_checkpoint(pointer.parent)
    if newest is None:
        return _follow(pointer)
    _warn_if_stale(pointer, newest)
    return newest


def _warn_if_stale(pointer: Path, newest: Path) -> None:
    """Say so when ``last`` names another checkpoint than the newest whole one."""
    named = pointer_target(pointer)
    if named is not None and named != newest.name:
        logger.warning(
            "%s names %s, but %s is newer and whole (a save was cut short before the pointer "
            "moved): using %s",
            pointer,
            named,
            newest.name,
            newest.name,
        )


def _follow(pointer: Path) -> Path:
    try:
        target = pointer.parent / pointer.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as err:
        raise CheckpointInvalidError(f"{str(pointer)!r} is not a checkpoint pointer") from err
    if not holds_weights(target):
        raise CheckpointNotFoundError(
            f"pointer {str(pointer)!r} names {target.name!r}, which is not a checkpoint"
        )
    return target
