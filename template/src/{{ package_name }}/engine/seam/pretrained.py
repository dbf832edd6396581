"""Pretrained starts: a model part loaded from a safetensors file, its origin and digest recorded.

A model's settings hold a ``PretrainedWeights`` section (``model.pretrained``): a safetensors
file, a folder holding one, or a Hugging Face hub id found in a local hub cache. Its builder
calls ``load_pretrained(part, settings.pretrained)`` on the part that starts from those weights
(a backbone, say). The file's SHA-256 is checked against ``sha256`` when the config pins one,
and otherwise written into it, so the run's config, every checkpoint and the model package
record where the weights came from and which bytes they were. Nothing is downloaded here: fetch
hub weights beforehand (``huggingface_hub.snapshot_download``, or ``hf download``) and the cache
is read offline.

Models rebuilt from a checkpoint or a model package get their weights from there: the engine
builds them inside ``restoring_weights()``, where ``load_pretrained`` reads nothing, so a
machine that serves a model needs no pretrained file.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING

import safetensors
import safetensors.torch
from pydantic import Field, model_validator

from ..core.exceptions import ModelError
from ..core.files import file_sha256
from .sections import Section

if TYPE_CHECKING:
    from collections.abc import Iterator

    import torch
    from torch import nn

__all__ = ["PretrainedWeights", "load_pretrained", "pretrained_file", "restoring_weights"]

WEIGHTS_NAME = "model.safetensors"  # the file a folder or a hub snapshot holds

logger = logging.getLogger(__name__)

_RESTORING: ContextVar[bool] = ContextVar("restoring_weights", default=False)


class PretrainedWeights(Section):
    """Where a model part's starting weights come from (a model's ``pretrained`` section)."""

    path: Path | None = Field(
        default=None,
        description="A safetensors file, or a folder holding model.safetensors (a downloaded "
        "hub snapshot).",
    )
    hub_id: str | None = Field(
        default=None,
        pattern=r"^[\w.-]+/[\w.-]+$",
        description="A Hugging Face hub id (org/name), read from the local hub cache: download "
        "it first; nothing is downloaded during training.",
    )
    cache_dir: Path | None = Field(
        default=None,
        description="The hub cache to read hub_id from; null: $HF_HUB_CACHE, else "
        "$HF_HOME/hub, else ~/.cache/huggingface/hub.",
    )
    prefix: str = Field(
        default="",
        description="Load the file's tensors whose names start with this (stripped); the others, "
        "such as a classifier the model replaces, are left out.",
    )
    sha256: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="SHA-256 the file must have; null: computed when training starts and "
        "recorded here, in the run's config and checkpoints.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> PretrainedWeights:
        if (self.path is None) == (self.hub_id is None):
            raise ValueError("pretrained weights need either a path or a hub_id, not both")
        return self

    @property
    def source(self) -> str:
        """Where the weights come from, as a run records it: the path or the hub id."""
        return str(self.path) if self.path is not None else f"hub:{self.hub_id}"


@contextmanager
def restoring_weights() -> Iterator[None]:
    """Build models inside this when their weights come next: ``load_pretrained`` reads nothing."""
    token = _RESTORING.set(True)
    try:
        yield
    finally:
        _RESTORING.reset(token)


def pretrained_file(weights: PretrainedWeights) -> Path:
    """The safetensors file ``weights`` names, found in the hub cache for a hub id.

    Raises:
        ModelError: If there is no such file.
    """
    if weights.path is not None:
        found = weights.path / WEIGHTS_NAME if weights.path.is_dir() else weights.path
        if not found.is_file():
            raise ModelError(f"pretrained weights {str(found)!r} do not exist")
        return found
    assert weights.hub_id is not None  # the validator asks for one of the two
    cache = weights.cache_dir or _hub_cache()
    repo = cache / f"models--{weights.hub_id.replace('/', '--')}"
    ref = repo / "refs" / "main"
    revision = ref.read_text(encoding="utf-8").strip() if ref.is_file() else ""
    found = repo / "snapshots" / revision / WEIGHTS_NAME
    if not revision or not found.is_file():
        raise ModelError(
            f"pretrained weights {weights.hub_id!r} are not in the hub cache {str(cache)!r}: "
            f"download them first (hf download {weights.hub_id} {WEIGHTS_NAME})"
        )
    return found


def load_pretrained(part: nn.Module, weights: PretrainedWeights) -> None:
    """Load ``part``'s parameters and buffers from the pretrained file, checking its digest.

    Every tensor of ``part`` must be in the file (under ``weights.prefix``) with its shape; the
    file's other tensors are left out. Inside ``restoring_weights()`` nothing is read.

    Raises:
        ModelError: If the file is missing, not safetensors, lacks a tensor or has one of
            another shape, or its SHA-256 is not the one pinned.
    """
    if _RESTORING.get():
        return
    path = pretrained_file(weights)
    digest = file_sha256(path)
    if weights.sha256 is not None and weights.sha256 != digest:
        raise ModelError(
            f"pretrained weights {str(path)!r} have SHA-256 {digest}, not the pinned "
            f"{weights.sha256} (pretrained.sha256): the file changed"
        )
    tensors = _read(path)
    wanted = part.state_dict()
    chosen = {
        name[len(weights.prefix) :]: tensor
        for name, tensor in tensors.items()
        if name.startswith(weights.prefix)
    }
    _check_fits(wanted, chosen, path=path, prefix=weights.prefix)
    part.load_state_dict({name: chosen[name] for name in wanted})
    weights.sha256 = digest  # the run's config records the bytes it started from
    logger.info(
        "started %d tensors from pretrained weights %s (sha256 %s); %d in the file left out",
        len(wanted),
        weights.source,
        digest[:12],
        len(tensors) - len(wanted),
    )


def _hub_cache() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME")
    return (Path(home) if home else Path.home() / ".cache" / "huggingface") / "hub"


def _read(path: Path) -> dict[str, torch.Tensor]:
    try:
        return safetensors.torch.load_file(path)
    except (safetensors.SafetensorError, OSError, ValueError) as err:
        raise ModelError(f"pretrained weights {str(path)!r} are not a safetensors file") from err


def _check_fits(
    wanted: dict[str, torch.Tensor], chosen: dict[str, torch.Tensor], *, path: Path, prefix: str
) -> None:
    missing = [name for name in wanted if name not in chosen]
    if missing:
        raise ModelError(
            f"pretrained weights {str(path)!r} lack {len(missing)} of the model part's tensors, "
            f"such as {prefix + missing[0]!r}; the file has {sorted(chosen)[:5] or 'none'} "
            "under that prefix (pretrained.prefix)"
        )
    for name, tensor in wanted.items():
        if chosen[name].shape != tensor.shape:
            raise ModelError(
                f"pretrained weights {str(path)!r}: {prefix + name!r} has shape "
                f"{tuple(chosen[name].shape)}, the model's has {tuple(tensor.shape)}"
            )
