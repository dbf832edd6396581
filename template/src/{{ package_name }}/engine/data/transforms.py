"""Image transforms in plain torch, each random one drawing from a generator it is given.

Every transform takes an image ``(channels, height, width)`` of float pixels and a
``torch.Generator`` (``None`` outside training). A training sample's generator comes from
``sample_generator(seed, epoch, index)``: the same sample of the same epoch is augmented alike in
any worker process, in any order, and after a resume, which no worker's own RNG state could
promise. ``ImageTransforms`` pairs the training steps with the evaluation steps.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import torch
from torch.nn import functional as F  # noqa: N812 (the conventional name)

from ..core.seed import make_generator

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "CenterCrop",
    "HorizontalFlip",
    "ImageTransform",
    "ImageTransforms",
    "RandomResizedCrop",
    "Resize",
    "resize_to",
    "sample_generator",
]


class ImageTransform(Protocol):
    """One step: an image in, an image out; random steps draw from ``generator`` alone."""

    def __call__(self, image: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Transform ``image`` ``(C, H, W)``; ``generator`` is ``None`` outside training."""
        ...


def sample_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """A generator for one sample of one epoch, from the three numbers alone."""
    key = hashlib.blake2b(f"{seed}:{epoch}:{index}".encode(), digest_size=8).digest()
    return make_generator(int.from_bytes(key, "little") >> 1)  # below 2**63


def resize_to(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize ``image`` ``(C, H, W)`` to ``size`` (height, width): bilinear, antialiased."""
    if tuple(image.shape[-2:]) == size:
        return image
    batch = image.unsqueeze(0)  # (C, H, W) -> (1, C, H, W), as interpolate takes it
    resized = F.interpolate(batch, size=size, mode="bilinear", antialias=True, align_corners=False)
    return resized.squeeze(0)


@dataclass(frozen=True)
class Resize:
    """Scale the image so that its shorter side is ``size`` pixels, keeping its aspect ratio."""

    size: int

    def __call__(self, image: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """The resized image."""
        del generator  # not random
        height, width = image.shape[-2:]
        scale = self.size / min(height, width)
        size = (max(self.size, round(height * scale)), max(self.size, round(width * scale)))
        return resize_to(image, size)


@dataclass(frozen=True)
class CenterCrop:
    """Cut the central ``size`` x ``size`` square (the image must be at least that large)."""

    size: int

    def __call__(self, image: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """The cropped image."""
        del generator  # not random
        height, width = image.shape[-2:]
        top, left = (height - self.size) // 2, (width - self.size) // 2
        return image[:, top : top + self.size, left : left + self.size]


@dataclass(frozen=True)
class RandomResizedCrop:
    """Cut a random part of the image and resize it to ``size`` x ``size``.

    The part covers a share of the image's area drawn from ``scale`` and has an aspect ratio
    drawn (log-uniformly) from ``ratio``, as torchvision's transform of the same name; outside
    training it is the whole image, resized and cropped to the centre.
    """

    size: int
    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    attempts: int = field(default=10, repr=False)

    def __call__(self, image: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """The cropped and resized image."""
        if generator is None:
            return CenterCrop(self.size)(Resize(self.size)(image, None), None)
        top, left, height, width = self._window(image.shape[-2], image.shape[-1], generator)
        part = image[:, top : top + height, left : left + width]
        return resize_to(part, (self.size, self.size))

    def _window(
        self, height: int, width: int, generator: torch.Generator
    ) -> tuple[int, int, int, int]:
        """Top, left, height and width of the part to cut (two draws of the generator)."""
        area = height * width
        low, high = math.log(self.ratio[0]), math.log(self.ratio[1])
        tries = torch.rand(self.attempts, 2, generator=generator, dtype=torch.float64).tolist()
        place = torch.rand(2, generator=generator, dtype=torch.float64).tolist()
        for share, shape in tries:
            target = area * (self.scale[0] + (self.scale[1] - self.scale[0]) * share)
            aspect = math.exp(low + (high - low) * shape)
            cut_w, cut_h = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
            if 0 < cut_w <= width and 0 < cut_h <= height:
                top = min(int(place[0] * (height - cut_h + 1)), height - cut_h)
                left = min(int(place[1] * (width - cut_w + 1)), width - cut_w)
                return top, left, cut_h, cut_w
        side = min(height, width)  # no part fitted: the central square
        return (height - side) // 2, (width - side) // 2, side, side


@dataclass(frozen=True)
class HorizontalFlip:
    """Mirror the image left to right with probability ``p`` (in training only)."""

    p: float = 0.5

    def __call__(self, image: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """The image, mirrored or not."""
        if generator is None or float(torch.rand(1, generator=generator)) >= self.p:
            return image
        return image.flip(-1)


@dataclass(frozen=True)
class ImageTransforms:
    """The steps a training image goes through, and those an evaluated or predicted one does.

    Called with a generator (a training sample) it runs ``train``, without one ``evaluate``.
    """

    train: Sequence[ImageTransform]
    evaluate: Sequence[ImageTransform]

    def __call__(self, image: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Run the steps for training (with a generator) or for evaluation (without)."""
        for step in self.train if generator is not None else self.evaluate:
            image = step(image, generator)
        return image
