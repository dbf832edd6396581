"""Datasets: the built-in generated dataset or a data file, split into training and validation.

The built-in data are Gaussian class clusters generated from the seed: nothing is downloaded and
the same seed gives the same samples on every machine. ``data.source: csv`` or ``npz`` reads a
file instead (see ``data_files.py``). This module is yours: to bring other data, change
``build_datasets``. The rest of the project only needs two datasets of ``(features, label)`` pairs
and their dimensions; ``loaders.py`` batches them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch.utils.data import TensorDataset

from .data_files import read_labelled
from .exceptions import DataError
from .seed import make_generator

if TYPE_CHECKING:
    from .config import DataConfig

__all__ = ["DataSplits", "build_datasets", "make_blobs"]


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
    """Generate or read the data and split it, reproducibly for ``seed``, into two sets.

    Raises:
        DataError: If a data file is malformed or the split leaves an empty set.
    """
    generator = make_generator(seed)
    if config.source == "synthetic":
        features, labels = make_blobs(
            config.num_samples,
            num_features=config.num_features,
            num_classes=config.num_classes,
            separation=config.class_separation,
            generator=generator,
        )
        num_classes = config.num_classes
    else:
        if config.path is None:
            raise DataError(f"data.source={config.source} needs data.path")
        features, labels = read_labelled(config.path, label_column=config.label_column)
        num_classes = max(int(labels.max()) + 1, 2)
    total = len(labels)
    val_size = int(total * config.val_fraction)
    if not 0 < val_size < total:
        raise DataError(
            f"data.val_fraction={config.val_fraction} of {total} samples leaves an empty split"
        )
    order = torch.randperm(total, generator=generator)
    val_idx, train_idx = order[:val_size], order[val_size:]
    return DataSplits(
        train=TensorDataset(features[train_idx], labels[train_idx]),
        val=TensorDataset(features[val_idx], labels[val_idx]),
        num_features=features.shape[1],
        num_classes=num_classes,
    )
