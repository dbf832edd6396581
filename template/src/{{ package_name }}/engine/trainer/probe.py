"""A throw-away copy of a config's training, for the ``tune`` commands (learning rate, batch size).

It builds what ``train`` builds from a config, the task's data split, a new model on the device
and its optimizer, and takes optimizer steps the way the loop takes them (mixed precision,
gradient clipping, activation checkpointing as configured), but in memory only: no run folder,
no checkpoint, no record, nothing of any run is read or changed. It runs in one process.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from ..core.device import to_device
from ..core.seed import seed_everything
from ..data.datasets import dataset_length, split_data
from ..data.loaders import build_loaders
from ..data.sampler import EpochSampler
from ..distributed.parallel import checkpoint_activations
from ..seam.task import project_task
from .optim import build_optimizer

if TYPE_CHECKING:
    from collections.abc import Iterator

    from torch import nn

    from ..data.datasets import Splits
    from ..seam.task import Sizes, Task
    from ..settings.loading import Config

__all__ = ["Probe", "build_probe"]

_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class Probe:
    """The task, data, model and optimizer of a config, and one optimizer step at a time."""

    config: Config
    task: Task[Any, Any]
    splits: Splits
    sizes: Sizes
    model: nn.Module
    optimizer: torch.optim.Optimizer
    device: torch.device

    def __post_init__(self) -> None:
        """Make the grad scaler that fp16 needs."""
        fp16 = self.config.train.precision == "fp16"
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=fp16)

    @property
    def train_samples(self) -> int:
        """The samples of the training set."""
        return dataset_length(self.splits.train)

    def batches(self, batch_size: int | None = None) -> Iterator[Any]:
        """Training batches of ``batch_size`` (by default the config's), epoch after epoch."""
        data = self.config.data
        if batch_size is not None:
            data = data.model_copy(update={"batch_size": batch_size})
        sampler = EpochSampler(self.train_samples, seed=self.config.train.seed)
        loader, _ = build_loaders(self.splits, data, sampler=sampler)
        epoch = 0
        while True:
            sampler.set_epoch(epoch)
            yield from loader
            epoch += 1

    def step(self, batch: Any) -> torch.Tensor:
        """One forward pass, backward pass and optimizer step on ``batch``; its loss, detached.

        Returns:
            The batch's mean loss, a tensor on the device (reading it is a host sync).
        """
        inputs, targets = self.task.split_batch(to_device(batch, self.device))
        dtype = _AUTOCAST_DTYPES.get(self.config.train.precision)
        autocast = nullcontext() if dtype is None else torch.autocast(self.device.type, dtype)
        with autocast:
            loss = self.task.loss(self.task.forward(self.model, inputs), targets)
        self.scaler.scale(loss).backward()
        if self.config.train.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.train.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        return loss.detach()


def build_probe(
    config: Config, *, device: torch.device, task: type[Task[Any, Any]] | None = None
) -> Probe:
    """Seed, then build the task's data (split as ``train`` splits it), a model and optimizer.

    Args:
        config: The resolved configuration.
        device: Where the model lives.
        task: The task; by default the project's (``task.py``).
    """
    seed_everything(config.train.seed, deterministic=config.train.deterministic)
    the_task = (task or project_task())(config.task)
    data = the_task.load_data(config.data, seed=config.train.seed)
    splits = split_data(data, config.data, seed=config.train.seed)
    model = the_task.build_model(config.model, dict(data.sizes)).to(device)
    if config.train.activation_checkpointing:
        checkpoint_activations(model)
    model.train()
    optimizer = build_optimizer(config.optim, model.parameters(), device=device)
    return Probe(
        config=config,
        task=the_task,
        splits=splits,
        sizes=dict(data.sizes),
        model=model,
        optimizer=optimizer,
        device=device,
    )
