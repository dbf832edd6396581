"""The tensors a checkpoint keeps: the model's weights, the optimizer's state, the averages.

Replicated runs (one process, or DDP) write them from rank zero, on a background thread
(``CheckpointWriter``): the weights as ``model.safetensors``, the weight averages as
``ema.safetensors``, the optimizer state inside ``state.pt``. Sharded runs
(``distributed.strategy: fsdp``) write all three as one ``torch.distributed.checkpoint`` folder,
every rank its own shards, which any number of processes can read back. ``ModelState`` hides
the difference from the training loop: every rank calls ``save``, ``wait`` and ``load``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..checkpoints.averages import EMA_FILE, read_averages
from ..checkpoints.sharded import load_sharded, save_sharded
from ..checkpoints.store import commit_checkpoint, load_weights, prepare_staging
from ..checkpoints.writer import CheckpointWriter, finish_save
from ..core.exceptions import CheckpointInvalidError

if TYPE_CHECKING:
    from pathlib import Path

    import torch
    from torch import nn

    from ..checkpoints.layout import Checkpoint
    from ..checkpoints.ranking import TopCheckpoints
    from ..distributed.ranks import Distributed
    from .averaging import WeightAverage

__all__ = ["ModelState"]


class ModelState:
    """Saves and loads the model, its optimizer and its weight averages, replicated or sharded."""

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        *,
        average: WeightAverage | None,
        sharded: bool,
        ranks: Distributed,
        directory: Path,
        keep: int,
        top: TopCheckpoints | None = None,
    ) -> None:
        """Save into ``directory``, keeping its ``keep`` newest checkpoints (and the pointed).

        ``sharded`` picks the format (``distributed.strategy: fsdp``). ``top`` (rank zero's)
        keeps the checkpoints of the best validations too (``train.save_top_k``).
        """
        self.directory = directory
        self.keep = keep
        self.top = top
        self.writer = CheckpointWriter(directory, keep=keep, top=top)
        self.model = model
        self.optimizer = optimizer
        self.average = average
        self.sharded = sharded
        self.ranks = ranks

    @property
    def format(self) -> str:
        """``sharded`` or ``replicated``, as checkpoints record it."""
        return "sharded" if self.sharded else "replicated"

    def save(
        self,
        *,
        step: int,
        state: dict[str, Any],
        best: bool,
        hold_for: float | None = None,
        score: float | None = None,
    ) -> Path | None:
        """Save the checkpoint of ``step`` with the training ``state`` (rank zero's is used).

        Every rank calls this; rank zero returns the checkpoint's folder, the others ``None``.
        A replicated checkpoint is copied here and written in the background (``wait`` waits
        for it); a sharded one is on disk when this returns. ``best`` points ``best`` at it.
        ``hold_for`` keeps a replicated copy in memory until the next save or ``wait`` writes it,
        that many seconds at most (see ``CheckpointWriter``); a sharded checkpoint, spread over
        the ranks, is written now. ``score``, the monitored metric's value at a validation,
        ranks it among the best (``top``).
        """
        state = {**state, "format": self.format}
        if not self.sharded:
            if not self.ranks.is_main:
                return None
            extra = {EMA_FILE: self.average.state_dict()} if self.average else {}
            state["optimizer"] = self.optimizer.state_dict()
            return self.writer.save(
                self.model,
                state=state,
                step=step,
                best=best,
                extra_tensors=extra,
                hold_for=hold_for,
                score=score,
            )
        staging = prepare_staging(self.directory, step=step) if self.ranks.is_main else None
        staging = self.ranks.broadcast_object(staging)  # every rank writes into the same folder
        save_sharded(staging, self._tensors(), distributed=self.ranks.enabled)
        if not self.ranks.is_main:
            return None
        final = commit_checkpoint(staging, state={**state, "optimizer": None}, best=best)
        finish_save(final, keep=self.keep, top=self.top, score=score)
        return final

    def wait(self) -> None:
        """Wait until every checkpoint saved so far (held ones too) is on disk; raise its error."""
        self.writer.wait()

    def load(self, checkpoint: Checkpoint) -> None:
        """Load the model, optimizer and averages saved in ``checkpoint`` (every rank calls this).

        Raises:
            CheckpointInvalidError: If the checkpoint was written in the other format, or its
                tensors do not fit.
        """
        saved = checkpoint.state.get("format", "replicated")
        if saved != self.format:
            raise CheckpointInvalidError(
                f"{str(checkpoint.path)!r} holds {saved} weights and this run trains "
                f"{self.format} (distributed.strategy): resume with the strategy it was saved with"
            )
        if self.sharded:
            self._load_sharded(checkpoint)
            return
        load_weights(self.model, checkpoint, device=next(self.model.parameters()).device)
        self.optimizer.load_state_dict(checkpoint.state["optimizer"])
        if self.average is not None:
            self.average.load_state_dict(read_averages(checkpoint))

    def _tensors(self) -> dict[str, Any]:
        from torch.distributed.checkpoint.state_dict import (  # noqa: PLC0415
            get_state_dict,
        )

        model, optimizer = get_state_dict(self.model, self.optimizer)
        tensors = {"model": model, "optimizer": optimizer}
        if self.average is not None:
            tensors["ema"] = self.average.state_dict()
        return tensors

    def _load_sharded(self, checkpoint: Checkpoint) -> None:
        from torch.distributed.checkpoint.state_dict import (  # noqa: PLC0415
            set_state_dict,
        )

        tensors = self._tensors()  # shaped like this run's shards: the library reshards into them
        load_sharded(checkpoint, tensors, distributed=self.ranks.enabled)
        set_state_dict(
            self.model,
            self.optimizer,
            model_state_dict=tensors["model"],
            optim_state_dict=tensors["optimizer"],
        )
        if self.average is not None:
            self.average.load_state_dict(tensors["ema"])
