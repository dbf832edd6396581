"""Gathering the outputs and targets that exact metrics keep, from every rank of a job.

Each rank keeps the samples of its share of a split (``GatheredMetric``); here every rank learns
how many samples each rank kept and in what layout (one small collective), checks the bound of
each metric against the split's total, so that every rank raises the same error or none, and
then receives every rank's tensors (an ``all_gather`` per tensor, padded to the longest share:
the backends gather tensors of one size only). Outside torchrun only the bound is checked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import distributed as dist

from ..core.exceptions import TrainingError
from ..seam.ranking import GatheredMetric

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ..seam.metrics import Metric

__all__ = ["gather_over_ranks"]

# What a rank kept of a metric: the samples it saw, and the trailing shape and dtype of its
# outputs and of its targets (None if it kept none).
_Shapes = tuple[tuple[int, ...], str, tuple[int, ...], str]
_Layout = tuple[int, _Shapes | None]


def gather_over_ranks(metrics: Mapping[str, Metric]) -> None:
    """Give every ``GatheredMetric`` among ``metrics`` the samples of every rank.

    Raises:
        TrainingError: If a metric's split holds more than its ``max_samples`` (on every rank),
            or the ranks kept tensors of different layouts.
    """
    gathered = {name: m for name, m in metrics.items() if isinstance(m, GatheredMetric)}
    if not gathered:
        return
    if not (dist.is_available() and dist.is_initialized()):
        for name, metric in gathered.items():
            metric.check_bound(name=name)
        return
    layouts: list[list[_Layout]] = [[] for _ in range(dist.get_world_size())]
    dist.all_gather_object(layouts, [_layout(metric) for metric in gathered.values()])
    for index, (name, metric) in enumerate(gathered.items()):
        shares = [rank_layouts[index] for rank_layouts in layouts]
        metric.check_bound(name=name, samples=sum(samples for samples, _ in shares))
        _gather_metric(metric, shares, name=name)


def _layout(metric: GatheredMetric) -> _Layout:
    kept = metric.kept()
    if kept is None:
        return metric.samples, None
    outputs, targets = kept
    shapes = (
        tuple(outputs.shape[1:]),
        str(outputs.dtype),
        tuple(targets.shape[1:]),
        str(targets.dtype),
    )
    return metric.samples, shapes


def _gather_metric(metric: GatheredMetric, shares: Sequence[_Layout], *, name: str) -> None:
    """Replace ``metric``'s samples with those of every rank, in rank order (within the bound)."""
    present = {shapes for _, shapes in shares if shapes is not None}
    if not present:
        return  # no rank kept a sample
    if len(present) > 1:
        raise TrainingError(
            f"metric {name!r}: the ranks kept outputs and targets of different shapes or types "
            f"{sorted(present)}"
        )
    [(output_shape, output_dtype, target_shape, target_dtype)] = present
    sizes = [samples if shapes is not None else 0 for samples, shapes in shares]
    kept = metric.kept()
    local_outputs, local_targets = kept if kept is not None else (None, None)
    outputs = _gather_rows(
        local_outputs, sizes, tail=output_shape, dtype=output_dtype, device=metric.device
    )
    targets = _gather_rows(
        local_targets, sizes, tail=target_shape, dtype=target_dtype, device=metric.device
    )
    metric.replace(outputs, targets)


def _gather_rows(
    local: torch.Tensor | None,
    sizes: list[int],
    *,
    tail: tuple[int, ...],
    dtype: str,
    device: torch.device,
) -> torch.Tensor:
    """Every rank's ``local`` rows (``sizes[r]`` of rank r), concatenated in rank order."""
    padded = torch.zeros((max(sizes), *tail), dtype=getattr(torch, dtype.removeprefix("torch.")))
    padded = padded.to(device)
    if local is not None:
        padded[: len(local)] = local
    parts = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(parts, padded)
    return torch.cat([part[:size] for part, size in zip(parts, sizes, strict=True)])
