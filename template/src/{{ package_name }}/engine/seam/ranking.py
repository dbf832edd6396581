"""Exact ranking metrics: AUROC and average precision over every sample of a split.

A sum cannot give these: they rank the samples of a split against each other. A
``GatheredMetric`` therefore keeps the outputs and targets of the batches it sees; at the end of
the split the engine gathers what every rank kept (``evaluation/gather.py``) and ``compute``
ranks the whole split at once, so one process and several ranks give the same value.

Memory is bounded: a metric keeps at most ``max_samples`` samples (of the whole split, every rank
together). A split with more ends in one error line that names the metric, the split's size and
``max_samples``, raised on every rank before anything is gathered.

Ties are handled exactly as scikit-learn's ``roc_auc_score`` and ``average_precision_score``
handle them: samples with equal scores form one threshold. The counts are whole numbers, so the
value does not depend on the order the samples came in (nor on how the ranks shared them).
"""

from __future__ import annotations

import math
from abc import abstractmethod
from typing import TYPE_CHECKING, ClassVar

import torch

from ..core.exceptions import TrainingError
from .metrics import Metric

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "AUROC",
    "DEFAULT_MAX_SAMPLES",
    "AveragePrecision",
    "GatheredMetric",
    "average_precision",
    "binary_auroc",
]

DEFAULT_MAX_SAMPLES = 1_000_000


class GatheredMetric(Metric):
    """A metric computed from every sample of a split at once, not from sums.

    ``update`` keeps each batch's outputs (as float32) and targets on the device; the engine
    gathers them from every rank before ``compute``, which calls ``score`` on the whole split.
    Subclasses define ``score``. The state of sums is empty: adding it across ranks is a no-op.

    Args:
        max_samples: The most samples the metric keeps, over the whole split. Each costs its
            output and target values on every rank (4 bytes per float32 output value).
    """

    def __init__(self, *, max_samples: int = DEFAULT_MAX_SAMPLES) -> None:
        """Keep nothing yet."""
        super().__init__(0)
        if max_samples < 1:
            raise ValueError(f"max_samples must be at least 1, not {max_samples}")
        self.max_samples = max_samples
        self.samples = 0  # seen by this rank; the whole split's once gathered
        self.device = torch.device("cpu")
        self._outputs: list[torch.Tensor] = []
        self._targets: list[torch.Tensor] = []

    def reset(self, device: torch.device) -> None:
        """Forget every sample; keep the next ones on ``device``."""
        super().reset(device)
        self.device = device
        self.samples = 0
        self._outputs, self._targets = [], []

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        """Keep a batch's outputs and targets (nothing more once over ``max_samples``)."""
        if len(outputs) != len(targets):
            raise TrainingError(
                f"{type(self).__name__}: {len(outputs)} outputs but {len(targets)} targets"
            )
        self.samples += len(targets)
        if self.samples > self.max_samples:  # compute raises; free what would be lost anyway
            self._outputs, self._targets = [], []
            return
        self._outputs.append(outputs.detach().float())
        kept = targets.detach()
        self._targets.append(kept.to(torch.uint8) if kept.dtype == torch.bool else kept)

    def kept(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """This rank's outputs and targets, each concatenated; ``None`` if it kept none."""
        if not self._outputs:
            return None
        return torch.cat(self._outputs), torch.cat(self._targets)

    def replace(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        """Hold the whole split's outputs and targets (what the engine gathered) instead."""
        self.samples = len(targets)
        self._outputs, self._targets = [outputs], [targets]

    def check_bound(self, *, name: str, samples: int | None = None) -> None:
        """Raise if the split's ``samples`` (by default those seen) exceed ``max_samples``.

        Raises:
            TrainingError: Naming the metric ``name``, the split's size and the bound.
        """
        samples = self.samples if samples is None else samples
        if samples > self.max_samples:
            kind = type(self).__name__
            raise TrainingError(
                f"metric {name!r} ({kind}) keeps every sample of the split to compute an exact "
                f"value, and the split has {samples:,} samples, more than its max_samples of "
                f"{self.max_samples:,}: raise it in Task.metrics(), such as "
                f"{kind}(max_samples={samples}) (each sample costs its outputs' float32 values "
                "on every rank), or score a smaller split"
            )

    def compute(self) -> float | dict[str, float]:
        """``score`` over every sample kept (NaN before any).

        Raises:
            TrainingError: If the split had more than ``max_samples`` samples.
        """
        self.check_bound(name=type(self).__name__)
        kept = self.kept()
        if kept is None or not len(kept[1]):
            return math.nan
        outputs, targets = kept
        return self.score(outputs.cpu(), targets.cpu())

    @abstractmethod
    def score(self, outputs: torch.Tensor, targets: torch.Tensor) -> float | dict[str, float]:
        """The value(s) over the whole split: its outputs (float32) and targets, on the CPU."""


class _RankingMetric(GatheredMetric):
    """A ranking score per column, averaged (macro) over the columns that have one.

    Outputs ``(N,)`` or ``(N, 1)`` with targets 0/1 of ``(N,)`` are binary; outputs ``(N, C)``
    with class indices ``(N,)`` are multiclass, one class against the rest on the softmax of the
    outputs (logits); outputs and 0/1 targets of the same shape ``(N, L)`` are multilabel.
    """

    key: ClassVar[str]

    def __init__(
        self,
        *,
        labels: Sequence[str] | None = None,
        per_class: bool = False,
        max_samples: int = DEFAULT_MAX_SAMPLES,
    ) -> None:
        """Report the macro mean, and with ``per_class`` each class's value, named by ``labels``.

        Args:
            labels: Names of the classes (or labels) in per-class keys; their indices by default.
            per_class: Also report ``<key>_<label>`` for each class; the mean is ``<key>``.
            max_samples: The most samples kept over the whole split (see ``GatheredMetric``).
        """
        super().__init__(max_samples=max_samples)
        self.labels = None if labels is None else list(labels)
        self.per_class = per_class

    @staticmethod
    @abstractmethod
    def rank_score(scores: torch.Tensor, positive: torch.Tensor) -> float:
        """The score of one column: ``scores`` (N,) and whether each sample is positive."""

    def score(self, outputs: torch.Tensor, targets: torch.Tensor) -> float | dict[str, float]:
        """The macro mean over the columns (NaN where a column has no value), or per column."""
        scores, positive = _columns(outputs, targets, metric=type(self).__name__)
        values = [self.rank_score(scores[:, k], positive[:, k]) for k in range(scores.shape[1])]
        defined = [value for value in values if not math.isnan(value)]
        mean = sum(defined) / len(defined) if defined else math.nan
        if not self.per_class:
            return mean
        labels = self.labels or [str(k) for k in range(len(values))]
        if len(labels) != len(values):
            raise TrainingError(
                f"{type(self).__name__} has {len(labels)} labels for {len(values)} classes"
            )
        return {self.key: mean} | {
            f"{self.key}_{label}": value for label, value in zip(labels, values, strict=True)
        }


class AUROC(_RankingMetric):
    """Area under the ROC curve, exact (ties count half), binary or macro over classes/labels.

    A class without positive or without negative samples has none: NaN, left out of the mean.
    """

    key = "auroc"

    @staticmethod
    def rank_score(scores: torch.Tensor, positive: torch.Tensor) -> float:
        """The column's AUROC."""
        return binary_auroc(scores, positive)


class AveragePrecision(_RankingMetric):
    """Average precision (area under the precision-recall steps), exact, as scikit-learn's.

    A class without positive samples has none: NaN, left out of the mean.
    """

    key = "average_precision"

    @staticmethod
    def rank_score(scores: torch.Tensor, positive: torch.Tensor) -> float:
        """The column's average precision."""
        return average_precision(scores, positive)


def _counts(scores: torch.Tensor, positive: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """True and false positives counted down to each distinct score, from the highest (int64)."""
    order = torch.argsort(scores, descending=True, stable=True)
    ranked, hits = scores[order], positive[order].to(torch.int64)
    last_of_tie = torch.ones(len(ranked), dtype=torch.bool)
    last_of_tie[:-1] = ranked[1:] != ranked[:-1]  # equal scores make one threshold
    return hits.cumsum(0)[last_of_tie], (1 - hits).cumsum(0)[last_of_tie]


def binary_auroc(scores: torch.Tensor, positive: torch.Tensor) -> float:
    """AUROC of ``scores`` (N,) for the 0/1 ``positive`` (N,); NaN without both kinds."""
    tps, fps = _counts(scores, positive)
    if not len(tps) or tps[-1] == 0 or fps[-1] == 0:
        return math.nan
    zero = torch.zeros(1, dtype=torch.int64)
    tps, fps = torch.cat([zero, tps]), torch.cat([zero, fps])
    # Twice the trapezoids' area under the (fp, tp) steps: whole numbers, so exact.
    twice_area = int(((fps[1:] - fps[:-1]) * (tps[1:] + tps[:-1])).sum())
    return twice_area / (2 * int(tps[-1]) * int(fps[-1]))


def average_precision(scores: torch.Tensor, positive: torch.Tensor) -> float:
    """Average precision of ``scores`` (N,) for the 0/1 ``positive`` (N,); NaN without positives.

    The sum over thresholds of (recall gained) x (precision there), as scikit-learn computes it.
    """
    tps, fps = _counts(scores, positive)
    if not len(tps) or tps[-1] == 0:
        return math.nan
    gained = torch.diff(tps, prepend=torch.zeros(1, dtype=torch.int64))
    precision = tps.double() / (tps + fps).double()
    return float((gained.double() * precision).sum()) / int(tps[-1])


def _columns(
    outputs: torch.Tensor, targets: torch.Tensor, *, metric: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores (N, K) in float64 and positives (N, K) for binary, multiclass or multilabel data.

    Raises:
        TrainingError: If the shapes fit none of the three, or binary targets are not 0/1.
    """
    n = len(outputs)
    if outputs.ndim == 1 or (outputs.ndim == 2 and outputs.shape[1] == 1):  # binary
        scores, positive = outputs.reshape(n, 1).double(), targets.reshape(n, -1)
    elif outputs.ndim == 2 and targets.shape == (n,):  # multiclass: logits and class indices
        classes = outputs.shape[1]
        if targets.dtype.is_floating_point or targets.min() < 0 or targets.max() >= classes:
            raise TrainingError(
                f"{metric}: multiclass targets must be class indices 0..{classes - 1}, got "
                f"values from {targets.min().item()} to {targets.max().item()}"
            )
        scores = outputs.double().softmax(dim=1)  # (N, C)
        positive = torch.nn.functional.one_hot(targets.long(), classes)  # (N, C)
    elif targets.shape == outputs.shape and outputs.ndim == 2:  # multilabel
        scores, positive = outputs.double(), targets
    else:
        raise TrainingError(
            f"{metric}: outputs of shape {tuple(outputs.shape)} and targets of shape "
            f"{tuple(targets.shape)} are neither binary ((N,) and (N,)), multiclass ((N, C) and "
            "(N,) class indices) nor multilabel (both (N, L))"
        )
    if positive.shape != scores.shape or not bool(((positive == 0) | (positive == 1)).all()):
        raise TrainingError(f"{metric}: binary and multilabel targets must be 0 or 1 per output")
    return scores, positive.bool()
