"""The built-in dataset: Gaussian class clusters generated from the seed, and its loaders.

Nothing is downloaded: the same seed gives the same samples on every machine. Replace
``build_datasets`` with your own loading code; the rest of the project only needs two datasets of
``(features, label)`` pairs and the feature and class counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch.utils.data import DataLoader, TensorDataset

from .exceptions import DataError
from .seed import make_generator, seed_worker

if TYPE_CHECKING:
    from .config import DataConfig

__all__ = ["DataSplits", "build_datasets", "build_loaders", "make_blobs"]


@dataclass(frozen=True)
class DataSplits:
    """Training and validation sets plus what the model needs to know about them."""

    train: TensorDataset
    val: TensorDataset
    num_features: int
    num_classes: int


def make_blobs(
    num_samples: int,
    *,
    num_features: int,
    num_classes: int,
    separation: float,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw samples around one random centre per class.

    Centres are scaled so that neighbouring classes sit about ``separation`` noise standard
    deviations apart, whatever the number of features.

    Returns:
        Features of shape ``(num_samples, num_features)`` (float32) and labels of shape
        ``(num_samples,)`` (int64).
    """
    scale = separation / math.sqrt(2.0)
    centres = torch.randn(num_classes, num_features, generator=generator)  # (C, F)
    centres = centres / centres.norm(dim=1, keepdim=True).clamp_min(1e-6) * scale
    labels = torch.randint(num_classes, (num_samples,), generator=generator)  # (N,)
    noise = torch.randn(num_samples, num_features, generator=generator)  # (N, F)
    return centres[labels] + noise, labels


def build_datasets(config: DataConfig, *, seed: int) -> DataSplits:
    """Generate the dataset for ``seed`` and split it into training and validation sets.

    Raises:
        DataError: If the split leaves a set smaller than one batch of one sample.
    """
    generator = make_generator(seed)
    features, labels = make_blobs(
        config.num_samples,
        num_features=config.num_features,
        num_classes=config.num_classes,
        separation=config.class_separation,
        generator=generator,
    )
    val_size = int(config.num_samples * config.val_fraction)
    if not 0 < val_size < config.num_samples:
        raise DataError(
            f"val_fraction={config.val_fraction} of {config.num_samples} samples "
            "leaves an empty split"
        )
    order = torch.randperm(config.num_samples, generator=generator)
    val_idx, train_idx = order[:val_size], order[val_size:]
    return DataSplits(
        train=TensorDataset(features[train_idx], labels[train_idx]),
        val=TensorDataset(features[val_idx], labels[val_idx]),
        num_features=config.num_features,
        num_classes=config.num_classes,
    )


def build_loaders(
    splits: DataSplits, config: DataConfig, *, seed: int, pin_memory: bool = False
) -> tuple[DataLoader[tuple[torch.Tensor, ...]], DataLoader[tuple[torch.Tensor, ...]]]:
    """Return the training loader (shuffled, seeded by ``seed``) and the validation loader."""
    train = _loader(splits.train, config, generator=make_generator(seed), pin_memory=pin_memory)
    val = _loader(splits.val, config, generator=None, pin_memory=pin_memory)
    return train, val


def _loader(
    dataset: TensorDataset,
    config: DataConfig,
    *,
    generator: torch.Generator | None,
    pin_memory: bool,
) -> DataLoader[tuple[torch.Tensor, ...]]:
    has_workers = config.num_workers > 0
    return DataLoader(
        dataset,
        batch_size=config.batch_size,
        shuffle=generator is not None,
        generator=generator,
        num_workers=config.num_workers,
        pin_memory=pin_memory,
        worker_init_fn=seed_worker if has_workers else None,
        persistent_workers=has_workers,
    )
