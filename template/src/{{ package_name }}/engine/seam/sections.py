"""The config sections a task's own sections extend: data, model and task settings.

``DataSection`` carries what the engine does with any data (split and batch it); the project's
``DataConfig`` adds where its data comes from. ``ModelSection`` is the base of every model's
settings (``name`` picks the model), ``TaskSection`` of the task's own settings. Unknown keys are
errors and every assignment is validated, in these and in every section built on them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["DataSection", "ModelSection", "Section", "TaskSection"]


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, assignments are validated.

    Validators are built on first use rather than at import, which keeps ``--help`` fast.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, defer_build=True)


class DataSection(Section):
    """What the engine does with the project's data: split it and batch it.

    The project's ``DataConfig`` (in ``data.py``) extends this with where its data comes from.
    """

    val_fraction: float = Field(
        default=0.2, gt=0.0, lt=1.0, description="Share of samples held out for validation."
    )
    batch_size: int = Field(
        default=64,
        ge=1,
        le=65_536,
        description="Samples per batch and process (under torchrun a step sees N times that).",
    )
    num_workers: int = Field(
        default=0, ge=0, le=64, description="DataLoader worker processes (0 loads in-process)."
    )
    test_fraction: float = Field(
        default=0.0,
        ge=0.0,
        lt=1.0,
        description="Share of samples held out as a test set that training and model selection "
        "never see (0: none; score it with evaluate --split test).",
    )
    folds: int | None = Field(
        default=None,
        ge=2,
        le=100,
        description="k-fold cross-validation: validate on fold data.fold of this many "
        "(data.val_fraction is then unused); null: one validation split.",
    )
    fold: int = Field(default=0, ge=0, description="The fold validated on, with data.folds.")

    @model_validator(mode="after")
    def _fractions_and_fold_fit(self) -> DataSection:
        if self.folds is None and self.fold != 0:
            raise ValueError(f"data.fold={self.fold} needs data.folds, the number of folds")
        if self.folds is not None and self.fold >= self.folds:
            raise ValueError(f"data.fold={self.fold} must be below data.folds={self.folds}")
        if self.folds is None and self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError(
                f"data.val_fraction={self.val_fraction} and data.test_fraction="
                f"{self.test_fraction} leave no training samples: their sum must be below 1"
            )
        return self


class ModelSection(Section):
    """Base of every model's settings; ``name`` picks the model (see ``engine/seam/models.py``)."""

    name: str = Field(min_length=1, description="Registered model name.")


class TaskSection(Section):
    """Base of the task's own settings (the config section ``task``); it has none of its own."""
