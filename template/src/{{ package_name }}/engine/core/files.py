"""Files written so that a crash never leaves half of one: atomic replace, flushed to disk.

``atomic_write_text`` writes a temporary file, flushes it, renames it over the target and flushes
the folder; a write that fails raises ``StorageError``, which says when the disk is full.
Checkpoints, pointers, run records and model packages are all written this way.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
from typing import TYPE_CHECKING

from .exceptions import StorageError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "atomic_write_text",
    "file_sha256",
    "fsync_folder",
    "fsync_path",
    "write_error",
    "write_flushed",
]

# Free bytes below which a failed write is put down to a full disk (see ``write_error``).
_NEARLY_FULL_BYTES = 1 << 20


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old or the new content, never a mix.

    Raises:
        StorageError: If the file cannot be written; ``path`` keeps its old content.
    """
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        write_flushed(temporary, text)
        temporary.replace(path)
    except OSError as err:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        raise write_error(path, err) from err
    fsync_path(path.parent)


def write_flushed(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` and flush it to disk (not atomic: see ``atomic_write_text``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())


def write_error(path: Path, err: BaseException, *, what: str = "") -> StorageError:
    """The error to raise when writing ``path`` failed with ``err``, in the user's terms.

    A full disk is named as such (``no space left on device``), however the library that
    wrote reported it; any other failure gives its reason.

    Args:
        path: The file or folder that could not be written.
        err: What the writing raised.
        what: What ``path`` is, such as ``checkpoint``, to begin the message with.
    """
    if _is_disk_full(path, err):
        reason = "no space left on device"
    elif isinstance(err, OSError) and err.strerror:
        reason = err.strerror
    else:
        lines = str(err).strip().splitlines()
        reason = lines[0] if lines else type(err).__name__
    kind = f"{what} " if what else ""
    return StorageError(f"cannot write {kind}{str(path)!r}: {reason}")


def _is_disk_full(path: Path, err: BaseException) -> bool:
    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        return True
    if "No space left on device" in str(err):  # safetensors wraps the OS error in its own
        return True
    # torch's writer reports a short write ("unexpected pos") without the OS error: ask the disk.
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return shutil.disk_usage(folder).free < _NEARLY_FULL_BYTES
    except OSError:
        return False


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, as 64 hexadecimal digits, read in one streaming pass."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fsync_folder(folder: Path) -> None:
    """Flush every file in ``folder``, then the folder itself, before it is renamed into place."""
    for file in folder.iterdir():
        fsync_path(file)
    fsync_path(folder)


def fsync_path(path: Path) -> None:
    """Flush a file or folder to disk (folders: so that a rename inside it is durable).

    Raises:
        OSError: If a file cannot be flushed, such as when the disk filled up before its data
            reached it. Folders that cannot be flushed are passed over: some file systems
            cannot fsync folders.
    """
    is_folder = path.is_dir()
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) if is_folder else os.O_RDONLY
    with contextlib.suppress(OSError) if is_folder else contextlib.nullcontext():
        descriptor = os.open(path, flags)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
