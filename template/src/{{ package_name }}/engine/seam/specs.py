"""What a model package records about a model: its inputs, and the parts of its predictions.

A task says what its model takes (``input_specs``: one ``TensorSpec`` per argument) and what its
predictions hold (``output_spec``: an ``OutputSpec`` of ``FieldSpec`` parts); the engine writes
both into every model package's contract and checks every input against them.

An input of ``dtype`` ``"str"`` is text: one string per row, shape ``[null]``. Callers send the
strings; the task's ``encode_text`` turns them into the tensor the model is called on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..core.exceptions import PackageError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["TEXT", "FieldSpec", "OutputSpec", "TensorSpec", "label_names"]

TEXT = "str"
"""The ``dtype`` of a text input."""


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TensorSpec(_Spec):
    """One input of the model: its name, element type and shape (``None``: any size)."""

    name: str = Field(min_length=1, description="Argument name; a single input is passed as is.")
    dtype: str = Field(
        description='torch element type the model computes in, e.g. float32; "str" for text.'
    )
    shape: list[int | None] = Field(
        min_length=1, description="Shape of a batch; the first entry, the batch size, is null."
    )

    @model_validator(mode="after")
    def _text_is_one_string_per_row(self) -> TensorSpec:
        if self.dtype == TEXT and self.shape != [None]:
            raise ValueError(f"text input {self.name!r} has shape [null] (one string per row)")
        return self

    @property
    def is_text(self) -> bool:
        """Whether the input is text: strings that the task encodes."""
        return self.dtype == TEXT

    @property
    def torch_dtype(self) -> torch.dtype:
        """The element type as a ``torch.dtype``.

        Raises:
            ValueError: For text, which the task encodes, or a name torch does not know.
        """
        dtype = getattr(torch, self.dtype, None) if not self.is_text else None
        if not isinstance(dtype, torch.dtype):
            raise ValueError(f"{self.dtype!r} is not a torch element type")
        return dtype


class FieldSpec(_Spec):
    """One part of a prediction, such as the predicted class or the class probabilities."""

    name: str = Field(min_length=1, description="Key of this part in every prediction.")
    shape: list[int | None] = Field(
        min_length=1, max_length=2, description="[null] for one value per row, [null, K] for K."
    )
    names: list[str] | None = Field(
        default=None,
        description="For [null]: the name of each integer value (class names); for [null, K]: "
        "the name of each of the K columns.",
    )


class OutputSpec(_Spec):
    """What the model's predictions are: a kind (free text) and the parts each one holds."""

    kind: str = Field(min_length=1, description="What the task predicts, such as classification.")
    fields: list[FieldSpec] = Field(min_length=1, description="The parts of a prediction.")


def label_names(labels: Sequence[str] | None, *, count: int, what: str = "classes") -> list[str]:
    """Names for ``count`` outputs: ``labels`` once checked, or the indices ``"0"``, ``"1"``, ...

    Raises:
        PackageError: If ``labels`` does not name each of the ``count`` outputs once.
    """
    if labels is None:
        return [str(index) for index in range(count)]
    names = [str(label) for label in labels]
    if len(names) != count or len(set(names)) != count or not all(names):
        raise PackageError(f"labels {names} must name each of the model's {count} {what} once")
    return names
