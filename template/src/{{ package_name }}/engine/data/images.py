"""Image files: decoded with Pillow into tensors, one sample at a time, on DataLoader workers.

``ImageFiles`` is a map-style dataset of image files and their classes. Each item is
``{"image": (C, H, W) float32 pixels in [0, 1], "label": int64}``, decoded when it is asked for,
so ``data.num_workers`` worker processes decode in parallel. Trained on, it receives
``EpochIndex`` pairs and augments each sample with a generator drawn from the seed, the epoch
and the index (``transforms.sample_generator``): the same seed gives the same batches, in any
worker and after a resume. Evaluated or predicted, it runs the evaluation transforms.

Pillow (a dependency of matplotlib, and of the image task itself) is imported only when an image
is read, so the engine imports as fast as before.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..core.exceptions import DataError
from .sampler import EpochIndex
from .transforms import CenterCrop, Resize, sample_generator

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from PIL import Image

    from ..seam.specs import TensorSpec
    from .transforms import ImageTransforms

__all__ = [
    "IMAGE_MODES",
    "ImageFiles",
    "decode_image",
    "fit_image",
    "image_channels",
    "image_shape",
    "image_statistics",
    "open_image",
    "read_images",
]

IMAGE_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}  # channels -> the Pillow mode they decode to
_COLOUR_MODES = frozenset({"P", "CMYK", "YCbCr", "LAB", "HSV"})  # decoded as RGB (or RGBA)


def open_image(source: Path | Any, *, name: str, listed: bool = False) -> Image.Image:
    """Open an image lazily (its header only) from a path or a binary file.

    Pillow's own warning about images of many pixels is silenced: the caller's limit applies.
    A ``listed`` file had its size checked when its folder was listed, and is opened without
    that silencing, which costs more than a small PNG's decoding in a worker's loop.

    Raises:
        DataError: If Pillow is missing, or the file is not an image Pillow can read.
    """
    try:
        from PIL import Image  # noqa: PLC0415 (the image task's dependency, imported on use)
    except ModuleNotFoundError as err:
        raise DataError(
            f"reading {name} needs Pillow, the image task's dependency: add it with `uv add pillow`"
        ) from err
    try:
        if listed:
            return Image.open(source)
        with warnings.catch_warnings():  # max_pixels is the limit that applies, not Pillow's
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(source)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise DataError(f"{name} is not an image Pillow can read: {_reason(err)}") from err


def image_channels(image: Image.Image) -> int:
    """The channels an image decodes to: palette and other colour modes count as RGB(A)."""
    if image.mode in _COLOUR_MODES or image.mode == "PA":
        has_alpha = image.mode == "PA" or "transparency" in image.info
        return 4 if has_alpha and image.mode in {"P", "PA"} else 3
    return min(len(image.getbands()), 4)


def decode_image(
    source: Path | Any, *, channels: int, name: str, listed: bool = False
) -> torch.Tensor:
    """Decode an image into ``(channels, height, width)`` uint8 pixels, converting its mode.

    ``listed``: the file's size was checked as its folder was listed (see ``open_image``).

    Raises:
        DataError: If the file cannot be read or decoded (a truncated file, say).
    """
    image = open_image(source, name=name, listed=listed)
    try:
        with image:
            mode = IMAGE_MODES[channels]
            converted = image if image.mode == mode else image.convert(mode)
            pixels = np.array(converted)  # (H, W) or (H, W, C), a copy torch may own
    except (OSError, ValueError, SyntaxError) as err:
        raise DataError(f"{name} cannot be decoded: {_reason(err)}") from err
    tensor = torch.from_numpy(pixels)
    if tensor.ndim == 2:
        return tensor.unsqueeze(0)  # (H, W) -> (1, H, W)
    return tensor.permute(2, 0, 1)  # (H, W, C) -> (C, H, W), a view: the next step copies


def _reason(err: BaseException) -> str:
    """The first line of an error's message, for a one-line report."""
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


class ImageFiles(Dataset[dict[str, torch.Tensor]]):
    """Image files and their class indices, decoded and transformed when an item is read."""

    augments_by_epoch = True  # trained on, items are asked for by EpochIndex (see sampler.py)

    def __init__(
        self,
        files: Sequence[Path],
        labels: torch.Tensor,
        *,
        channels: int,
        transforms: ImageTransforms,
        seed: int,
    ) -> None:
        """Read ``files`` (classes ``labels``) as ``channels``-channel images.

        Args:
            files: The image files.
            labels: Their class indices, int64, one each.
            channels: The channels every image is converted to (1, 2, 3 or 4).
            transforms: What a training image goes through, and an evaluated one.
            seed: The run's seed, from which each training sample's randomness is drawn.
        """
        if len(files) != len(labels):
            raise DataError(f"{len(files)} image files but {len(labels)} labels")
        self.files = list(files)
        self.labels = labels
        self.channels = channels
        self.transforms = transforms
        self.seed = seed

    def __len__(self) -> int:
        """Number of images."""
        return len(self.files)

    def __getitem__(self, index: int | EpochIndex) -> dict[str, torch.Tensor]:
        """The image at ``index``: augmented for an ``EpochIndex``, as evaluated for an int."""
        generator = None
        if isinstance(index, EpochIndex):
            generator = sample_generator(self.seed, index.epoch, index.sample)
            index = index.sample
        path = self.files[index]
        name = f"image file {str(path)!r}"
        pixels = decode_image(path, channels=self.channels, name=name, listed=True)
        image = self.transforms(pixels.float().div_(255.0), generator)
        return {"image": image, "label": self.labels[index]}

    def take(self, indices: torch.Tensor) -> ImageFiles:
        """The images at ``indices``, as a new ``ImageFiles``."""
        return ImageFiles(
            [self.files[int(index)] for index in indices],
            self.labels[indices],
            channels=self.channels,
            transforms=self.transforms,
            seed=self.seed,
        )


def image_statistics(
    dataset: Dataset[Any], *, limit: int, seed: int, num_workers: int = 0, key: str = "image"
) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation of up to ``limit`` images, drawn from ``seed``.

    The images are read as evaluation reads them (``dataset[i][key]``, ``(C, H, W)``), by
    ``num_workers`` worker processes; sums are kept in float64.

    Raises:
        DataError: If the dataset is empty, or an image cannot be read.
    """
    total = len(dataset)  # type: ignore[arg-type]  # map-style datasets have a length
    if total == 0:
        raise DataError("no images to compute the mean and standard deviation of")
    generator = torch.Generator().manual_seed(seed)
    chosen = torch.randperm(total, generator=generator)[:limit].sort().values.tolist()
    loader = DataLoader(
        dataset, batch_size=64, sampler=chosen, num_workers=num_workers, generator=generator
    )
    sums = squares = None
    count = 0
    for batch in loader:
        images = batch[key].double()  # (N, C, H, W)
        per_channel = images.transpose(0, 1).flatten(1)  # -> (C, N*H*W)
        sums = per_channel.sum(1) + (0 if sums is None else sums)
        squares = per_channel.square().sum(1) + (0 if squares is None else squares)
        count += per_channel.shape[1]
    assert sums is not None  # at least one image was read
    assert squares is not None
    mean = sums / count
    std = (squares / count - mean.square()).clamp_min(1e-12).sqrt()
    return [round(float(value), 6) for value in mean], [round(float(value), 6) for value in std]


def read_images(paths: Sequence[Path], spec: TensorSpec) -> torch.Tensor:
    """Images for prediction: ``(N, C, H, W)`` float32 pixels in [0, 1], as ``spec`` takes them.

    Each file is converted to the spec's channels, resized so that its shorter side fits and
    cropped to the centre, as evaluation reads images.

    Raises:
        DataError: If the spec is not an image's, or a file cannot be read.
    """
    channels = image_shape(spec)[0]
    images = [
        fit_image(decode_image(path, channels=channels, name=f"image file {str(path)!r}"), spec)
        for path in paths
    ]
    return torch.stack(images)


def fit_image(pixels: torch.Tensor, spec: TensorSpec) -> torch.Tensor:
    """Decoded pixels ``(C, H, W)`` (uint8) as the image input ``spec`` takes one, in [0, 1].

    The image is resized so that its shorter side fits and cut to the centre, as evaluation
    reads images.

    Raises:
        DataError: If the spec is not an image's.
    """
    _, height, width = image_shape(spec)
    side = max(height, width)
    image = CenterCrop(side)(Resize(side)(pixels.float().div_(255.0), None), None)
    return image[:, :height, :width]


def image_shape(spec: TensorSpec) -> tuple[int, int, int]:
    """The channels, height and width of an image input.

    Raises:
        DataError: If the input is not a batch of images of fixed size (``[N, C, H, W]``).
    """
    shape = spec.shape
    if len(shape) != 4 or any(size is None for size in shape[1:]) or shape[1] not in IMAGE_MODES:
        wanted = ", ".join("N" if size is None else str(size) for size in shape)
        raise DataError(
            f"the model's input {spec.name!r} of shape ({wanted}) is not an image "
            "(N, channels, height, width); pass a CSV or .npz file"
        )
    channels, height, width = (int(size or 0) for size in shape[1:])
    return channels, height, width
