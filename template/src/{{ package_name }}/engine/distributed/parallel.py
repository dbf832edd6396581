"""How the model is spread over processes: replicated (DDP) or sharded (FSDP2), per block.

``distributed.strategy: ddp`` keeps a full replica of the model in every process and averages
gradients (DistributedDataParallel). ``fsdp`` shards parameters, gradients and optimizer state
across the processes with ``fully_shard``: once per block of the model, then the root, so that
each block's parameters are gathered only while it runs. A model says what its blocks are with a
``blocks()`` method returning its submodules in order (the example models do); one that says
nothing is sharded as a whole. ``train.activation_checkpointing`` recomputes each block's
activations in the backward pass instead of keeping them.

Outside torchrun there is one process and nothing to wrap: the model trains as it is.
"""

from __future__ import annotations

import functools
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.checkpoint import checkpoint

from ..core.exceptions import ConfigError, DistributedError
from .ranks import weights_digest

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from torch.distributed.fsdp import FSDPModule

    from ..settings.sections import DistributedConfig, FsdpConfig
    from .ranks import Distributed

__all__ = ["Parallel", "checkpoint_activations", "model_blocks", "parallelize"]

_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Parallel:
    """The model as the training loop calls it, and how gradients are synchronised.

    ``module`` is the DDP wrapper, or the model itself (sharded in place under FSDP, or alone).
    """

    module: nn.Module
    strategy: str
    sharded: bool

    def grad_sync(self, *, last_of_step: bool) -> AbstractContextManager[object]:
        """Skip the cross-rank gradient reduction on all but the last batch of a step."""
        if isinstance(self.module, DistributedDataParallel) and not last_of_step:
            return self.module.no_sync()
        if self.sharded:
            # FSDP2 reduce-scatters in backward unless told not to; the last batch reduces all.
            cast("FSDPModule", self.module).set_requires_gradient_sync(last_of_step)
        return nullcontext()


def model_blocks(model: nn.Module) -> list[nn.Module]:
    """The blocks a model declares with ``blocks()``, checked to be its submodules; else none.

    Raises:
        ConfigError: If ``blocks()`` returns something that is not one of the model's modules.
    """
    declare = getattr(model, "blocks", None)
    if not callable(declare):
        return []
    blocks = list(declare())
    own = {id(module) for module in model.modules() if module is not model}
    strangers = [type(block).__name__ for block in blocks if id(block) not in own]
    if strangers:
        raise ConfigError(
            f"{type(model).__name__}.blocks() returned modules that are not its own: {strangers}"
        )
    return cast("list[nn.Module]", blocks)


def checkpoint_activations(model: nn.Module) -> int:
    """Make each block of ``model`` recompute its activations in backward; return how many.

    The blocks keep their names, so checkpoints and model packages do not change.

    Raises:
        ConfigError: If the model declares no blocks.
    """
    blocks = model_blocks(model)
    if not blocks:
        raise ConfigError(
            f"train.activation_checkpointing=true needs blocks to recompute, but "
            f"{type(model).__name__} declares none: give it a blocks() method"
        )
    for block in blocks:
        forward = block.forward
        # Not reentrant: works with keyword arguments, DDP and FSDP, and keeps RNG state.
        block.forward = functools.partial(checkpoint, forward, use_reentrant=False)
    return len(blocks)


def parallelize(
    model: nn.Module, config: DistributedConfig, *, ranks: Distributed, device: torch.device
) -> Parallel:
    """Wrap or shard ``model`` (already on ``device``) for the job ``ranks`` describes.

    Raises:
        ConfigError: If the model's blocks are malformed.
    """
    if not ranks.enabled:
        return Parallel(module=model, strategy=config.strategy, sharded=False)
    if config.strategy == "ddp":
        device_ids = [device] if device.type == "cuda" else None
        return Parallel(
            module=DistributedDataParallel(model, device_ids=device_ids),
            strategy="ddp",
            sharded=False,
        )
    _shard(model, config.fsdp)
    return Parallel(module=model, strategy="fsdp", sharded=True)


def _shard(model: nn.Module, config: FsdpConfig) -> None:
    """Apply ``fully_shard`` to every block, then to the whole model."""
    from torch.distributed.fsdp import (  # noqa: PLC0415
        CPUOffloadPolicy,
        MixedPrecisionPolicy,
        OffloadPolicy,
        fully_shard,
    )

    # As DDP does: every rank starts from rank zero's weights (each drew its own at random).
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            torch.distributed.broadcast(tensor, src=0)
    policy = MixedPrecisionPolicy(
        param_dtype=_DTYPES[config.param_dtype], reduce_dtype=_DTYPES[config.reduce_dtype]
    )
    offload = CPUOffloadPolicy() if config.cpu_offload else OffloadPolicy()
    for block in model_blocks(model):
        fully_shard(block, mp_policy=policy, offload_policy=offload)
    fully_shard(model, mp_policy=policy, offload_policy=offload)


def check_replicas(model: nn.Module, parallel: Parallel, *, ranks: Distributed) -> dict[str, Any]:
    """Compare every rank's weights; return what the run summary records about the ranks.

    Raises:
        DistributedError: If the replicas differ, which DDP should never let happen.
    """
    if not ranks.enabled:
        return {}
    if parallel.sharded:  # no replicas to compare: each rank holds its shards
        return {
            "distributed": {
                "world_size": ranks.world_size,
                "backend": ranks.backend,
                "strategy": "fsdp",
            }
        }
    digests = ranks.all_gather_object(weights_digest(model))
    if len(set(digests)) > 1:
        raise DistributedError(
            f"the model replicas diverged: the weights' SHA-256 per rank are {digests}"
        )
    return {
        "distributed": {
            "world_size": ranks.world_size,
            "backend": ranks.backend,
            "strategy": "ddp",
            "weights_sha256": digests,
        }
    }
