"""Whether a package's contract fits this project and the model it holds, checked as it loads.

A contract names its task, the task's settings and the model's; ``task_of`` and
``model_settings`` rebuild them with this project's classes. What a prediction holds
(``output``) must be what the task makes of the contract's sizes and names (``check_output_spec``)
and what the model computes (``check_outputs``): a contract whose labels disagree with the model
would otherwise give wrong names, or fail on the first prediction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from pydantic import ValidationError

from ..core.exceptions import PackageError, PackageInvalidError
from ..seam.task import project_task
from .portable import example_inputs

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from ..seam.sections import ModelSection
    from ..seam.task import Inputs, Task
    from .package import Contract

__all__ = ["check_output_spec", "check_outputs", "model_settings", "task_of"]

_CHECK_ROWS = 2


def task_of(contract: Contract, *, where: Path) -> Task[Any, Any]:
    """The project's task with the contract's settings, if the package was made for it.

    Raises:
        PackageInvalidError: If the package holds a model of another task, or task settings this
            project cannot read.
    """
    task_type = project_task()
    if contract.task != task_type.__name__:
        raise PackageInvalidError(
            f"the package at {str(where)!r} holds a model for the task {contract.task!r}; "
            f"this project's task is {task_type.__name__!r}"
        )
    try:
        return task_type(task_type.settings_type.model_validate(contract.settings))
    except ValidationError as err:
        raise PackageInvalidError(
            f"the package at {str(where)!r} holds task settings this project cannot read: {err}"
        ) from err


def model_settings(
    contract: Contract, types: dict[str, type[ModelSection]], *, where: Path
) -> ModelSection:
    """The model's settings, validated by the class registered under their name.

    Raises:
        PackageInvalidError: If no model of that name is registered, or its settings do not
            validate.
    """
    name = contract.model.get("name")
    if name not in types:
        raise PackageInvalidError(
            f"the package at {str(where)!r} holds a model {name!r} this project does not have; "
            f"registered: {sorted(types)}"
        )
    try:
        return types[str(name)].model_validate(contract.model)
    except ValidationError as err:
        raise PackageInvalidError(
            f"the package at {str(where)!r} holds model settings this project cannot read: {err}"
        ) from err


def check_output_spec(contract: Contract, task: Task[Any, Any], *, where: Path) -> None:
    """Refuse a contract whose ``output`` is not what ``task`` makes of its sizes and names.

    The names are the ones a part of the output lists (the labels ``export`` was given), or
    none; the task must give back the contract's very output for one of them.

    Raises:
        PackageInvalidError: If no names make the task's output the contract's.
    """
    candidates: list[list[str] | None] = [None]
    for field in contract.output.fields:
        if field.names is not None and field.names not in candidates:
            candidates.append(field.names)
    problem = ""
    for names in reversed(candidates):
        try:
            if task.output_spec(dict(contract.sizes), labels=names) == contract.output:
                return
        except PackageError as err:
            problem = f": {err}"
    shapes = ", ".join(f"{field.name} {_shape(field.shape)}" for field in contract.output.fields)
    raise PackageInvalidError(
        f"the contract of {str(where)!r} says a prediction holds {shapes}, which does not fit "
        f"the model's sizes {dict(contract.sizes)}{problem}"
    )


def check_outputs(
    contract: Contract,
    task: Task[Any, Any],
    forward: Callable[[Inputs], torch.Tensor],
    *,
    where: Path,
) -> None:
    """Run the model once on example inputs; refuse it if its predictions are not the contract's.

    Raises:
        PackageInvalidError: If a prediction lacks a part the contract names, holds another, or
            a part's shape differs from the contract's.
    """
    tensors = example_inputs(contract.inputs, batch_size=_CHECK_ROWS, task=task)
    inputs: Inputs = (
        tensors[0] if len(tensors) == 1 else dict(zip(contract.input_names, tensors, strict=True))
    )
    with torch.inference_mode():
        predicted = task.predict(forward(inputs))
    wanted = {field.name: field.shape for field in contract.output.fields}
    got = {name: tuple(values.shape) for name, values in predicted.items()}
    fits = wanted.keys() == got.keys() and all(
        len(shape) == len(got[name])
        and all(want is None or want == size for want, size in zip(shape, got[name], strict=True))
        for name, shape in wanted.items()
    )
    if not fits:
        shown = ", ".join(f"{name} of shape {shape}" for name, shape in got.items())
        expected = ", ".join(f"{name} {_shape(shape)}" for name, shape in wanted.items())
        raise PackageInvalidError(
            f"the model in {str(where)!r} predicts {shown} for {_CHECK_ROWS} rows, but its "
            f"contract says {expected}: the contract does not describe this model"
        )


def _shape(shape: list[int | None]) -> str:
    return "[" + ", ".join("N" if size is None else str(size) for size in shape) + "]"
