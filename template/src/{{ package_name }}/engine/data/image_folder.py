"""Folders of images, a folder per class: found, checked and listed before training starts.

Two layouts are read: ``root/<class>/<image>``, and a folder per split,
``root/train/<class>/<image>`` with ``root/val/...`` (and ``root/test/...``). The classes are
the class folders' names, sorted, unless the caller gives the list (a trained model's classes).
Every file is checked from its header as it is listed, by a few threads: that Pillow reads it,
its channels and its size. A file that is not an image, an image larger than the limit, channel
counts that differ (unless every image is converted), or a class folder with no image is one
``DataError`` naming the file; or, with ``skip_bad``, the file is left out, counted and logged.
Skipping also decodes each file whole, to find truncated ones; without it a truncated file is
found when a worker decodes it, and stops the run with one line naming it.
"""

from __future__ import annotations

import collections
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from ..core.exceptions import DataError
from .images import image_channels, open_image

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

__all__ = [
    "IMAGE_SUFFIXES",
    "SPLITS",
    "ImageCheck",
    "ImageFolder",
    "image_paths",
    "scan_image_folder",
    "split_folders",
]

IMAGE_SUFFIXES = frozenset({".bmp", ".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp"})
SPLITS = ("train", "val", "test")
_SHOWN = 5  # skipped files named in the log's warning; the debug log names every one

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageCheck:
    """What every listed image must satisfy, and what happens to one that does not."""

    channels: int | None = None  # convert every image to this many; None: they must agree
    max_pixels: int = 40_000_000
    skip_bad: bool = False  # leave bad files out (decoding each once) instead of stopping


@dataclass(frozen=True)
class ImageFolder:
    """The images of a folder of class folders, with their class indices."""

    root: Path
    files: list[Path]
    labels: torch.Tensor  # int64, one class index per file
    classes: list[str]
    channels: int
    skipped: list[str] = field(default_factory=list)  # "file: reason", one per file left out


def split_folders(root: Path) -> dict[str, Path] | None:
    """The split folders of ``root`` (``train``, ``val``, maybe ``test``), or ``None``.

    A root is split by folder when it holds ``train`` and ``val`` and no other folder.
    """
    names = {entry.name for entry in _folders(root)}
    if {"train", "val"} <= names <= set(SPLITS):
        return {name: root / name for name in SPLITS if name in names}
    return None


def scan_image_folder(
    root: Path, *, classes: Sequence[str] | None = None, check: ImageCheck | None = None
) -> ImageFolder:
    """List and check the images of ``root/<class>/<file>``.

    Args:
        root: The folder of class folders.
        classes: The classes, in order; by default the class folders' names, sorted. A folder
            that is not one of them is an error.
        check: What every image must satisfy (by default: readable, channels that agree, at
            most 40 million pixels; a bad file is an error).

    Raises:
        DataError: If the folder is missing or holds no class folder, a class folder is not one
            of ``classes`` or holds no image, or an image fails ``check`` (unless skipped).
    """
    check = check or ImageCheck()
    where = f"image folder {str(root)!r}"
    if not root.is_dir():
        raise DataError(f"{where} does not exist or is not a folder")
    folders = _folders(root)
    if not folders:
        raise DataError(f"{where} holds no class folder: expected {root}/<class>/<image file>")
    names = list(classes) if classes is not None else [folder.name for folder in folders]
    unknown = [folder.name for folder in folders if folder.name not in names]
    if unknown:
        raise DataError(f"{where}: class folder {unknown[0]!r} is not one of the classes {names}")
    skipped: list[str] = []
    files: list[Path] = []
    labels: list[int] = []
    for folder in folders:
        found = _image_files(folder)
        if not found:
            _bad(f"class folder {str(folder)!r} holds no image file", check, skipped)
            continue
        files += found
        labels += [names.index(folder.name)] * len(found)
    kept, channels = _checked(files, check, skipped)
    _report(root, skipped, total=len(files))
    if not kept:
        raise DataError(f"{where} holds no image that could be read")
    kept_labels = [labels[index] for index in kept]
    if classes is None:  # a class whose folder had no image is not a class of the data
        present = sorted(set(kept_labels))
        names = [names[label] for label in present]
        kept_labels = [present.index(label) for label in kept_labels]
    return ImageFolder(
        root=root,
        files=[files[index] for index in kept],
        labels=torch.tensor(kept_labels, dtype=torch.int64),
        classes=names,
        channels=channels,
        skipped=skipped,
    )


def image_paths(paths: Sequence[Path]) -> list[Path] | None:
    """The image files ``paths`` name (folders searched through, by name); ``None`` if none is.

    Raises:
        DataError: If a folder given holds no image file, or images come with other files.
    """
    found: list[Path] = []
    others = []
    for path in paths:
        if path.is_dir():
            images = sorted(
                entry
                for entry in path.rglob("*")
                if entry.suffix.lower() in IMAGE_SUFFIXES and not entry.name.startswith(".")
            )
            if not images:
                raise DataError(f"folder {str(path)!r} holds no image file")
            found += images
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            found.append(path)
        else:
            others.append(path)
    if found and others:
        raise DataError(f"{str(others[0])!r} is not an image file, and other inputs are images")
    return found or None


def _folders(root: Path) -> list[Path]:
    """The folders directly in ``root``, hidden ones left out, sorted by name."""
    return sorted(
        (entry for entry in root.iterdir() if entry.is_dir() and not entry.name.startswith(".")),
        key=lambda entry: entry.name,
    )


def _image_files(folder: Path) -> list[Path]:
    """The image files directly in ``folder``, by name; other files are logged and ignored."""
    files: list[Path] = []
    others: list[Path] = []
    for entry in sorted(folder.iterdir(), key=lambda entry: entry.name):
        if entry.name.startswith(".") or not entry.is_file():
            continue
        (files if entry.suffix.lower() in IMAGE_SUFFIXES else others).append(entry)
    if others:
        logger.debug("ignored %d files of %s that are not images: %s", len(others), folder, others)
    return files


def _bad(problem: str, check: ImageCheck, skipped: list[str]) -> None:
    """Stop with ``problem``, or count it as a skip."""
    if not check.skip_bad:
        raise DataError(problem)
    skipped.append(problem)


def _checked(files: list[Path], check: ImageCheck, skipped: list[str]) -> tuple[list[int], int]:
    """The indices of the files that pass ``check``, and the channels they decode to."""
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        probes = list(pool.map(lambda path: _probe(path, check), files))
    for problem in probes:
        if isinstance(problem, str):
            _bad(problem, check, skipped)
    counts = [probe for probe in probes if isinstance(probe, int)]
    channels = check.channels or (collections.Counter(counts).most_common(1) or [(3, 0)])[0][0]
    kept = []
    for index, probe in enumerate(probes):
        if isinstance(probe, str):
            continue
        if check.channels is None and probe != channels:
            first = files[probes.index(channels)]
            _bad(
                f"image file {str(files[index])!r} has {probe} channels and {str(first)!r} has "
                f"{channels}: convert every image to one count (1 or 3) with the channels setting",
                check,
                skipped,
            )
            continue
        kept.append(index)
    return kept, channels


def _probe(path: Path, check: ImageCheck) -> int | str:
    """The channels of the image at ``path``, or what is wrong with it."""
    name = f"image file {str(path)!r}"
    try:
        with open_image(path, name=name) as image:
            width, height = image.size
            if width * height > check.max_pixels:
                return (
                    f"{name} is {width}x{height}, {width * height} pixels, more than the limit "
                    f"of {check.max_pixels} (max_pixels): shrink it or raise the limit"
                )
            channels = image_channels(image)
            if check.skip_bad:
                image.load()  # decodes it whole: a truncated file fails here, not in training
    except DataError as err:
        return str(err)
    except (OSError, ValueError, SyntaxError) as err:
        return f"{name} cannot be decoded: {str(err).strip() or type(err).__name__}"
    return channels


def _report(root: Path, skipped: list[str], *, total: int) -> None:
    """Log the files left out: a count and the first few in a warning, every one at debug."""
    if not skipped:
        return
    shown = "; ".join(skipped[:_SHOWN]) + ("; ..." if len(skipped) > _SHOWN else "")
    logger.warning(
        "left out %d of %d image files of %s that could not be used: %s",
        len(skipped),
        total,
        root,
        shown,
    )
    for problem in skipped:
        logger.debug("left out: %s", problem)
