"""The seam between the engine and the project: what the engine asks of a task.

The engine trains, evaluates, checkpoints, exports and serves; the project's
``task.py`` subclasses ``Task`` to say what is trained. The engine never names a loss, a metric or
a kind of data: it calls these, and only these.

- ``data_type``, ``settings_type``, ``model_types`` and ``default_model``: the classes of the
  config sections ``data`` and ``task``, the models ``model.name`` may pick (by default every
  model in the project's ``models/``), and the one it picks when a config names none;
- ``load_data``: the samples, a map-style dataset whose items are tensors, tuples of tensors or
  dicts of tensors (``TensorData`` for tensors in memory, which the loaders batch by slicing),
  and the sizes the model is built for;
- ``build_model``: the network for those sizes;
- ``split_batch`` and ``forward``: a batch as model inputs and targets, and how the model is
  called on the inputs;
- ``loss``, ``metrics`` and ``monitor``: what training minimises, what evaluation reports
  (streaming metrics, added up across ranks, or exact ones such as ``AUROC``, computed from the
  samples of every rank), and which metric selects the best checkpoint;
- ``predict``, ``input_specs`` and ``output_spec``: what a prediction is, and what a model
  package records about the model's inputs and outputs;
- ``encode_text``, for a task whose model takes text: the strings of a text input (``dtype``
  ``"str"``) as the tensor the model is called on, such as padded token ids.

The design and the alternatives weighed: the template's docs/decisions/0009-task-seam.md.
"""

from __future__ import annotations

import importlib
import math
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar

import torch

from ..core.exceptions import ConfigError, InputValidationError, TrainingError
from .models import model_types
from .project import DEFAULT_TASK, TASK_VARIABLE
from .sections import DataSection, ModelSection, TaskSection

if TYPE_CHECKING:
    from torch import nn
    from torch.utils.data import Dataset

    from .metrics import Metric
    from .specs import OutputSpec, TensorSpec

__all__ = ["Data", "Inputs", "Monitor", "Sizes", "Task", "project_task"]

Sizes = dict[str, int]
"""What the data tells the model, such as ``{"num_features": 16, "num_classes": 4}``."""


Inputs = torch.Tensor | dict[str, torch.Tensor]
"""What the model is called on: one tensor, or tensors by argument name."""


DataT = TypeVar("DataT", bound=DataSection)


SettingsT = TypeVar("SettingsT", bound=TaskSection)


@dataclass(frozen=True)
class Data:
    """What ``Task.load_data`` returns: the samples and the sizes the model is built for.

    The engine splits ``samples`` into training, validation and test sets by the ``data``
    section's fractions, from the seed. Data that comes already split passes ``val`` (and
    ``test``): ``samples`` is then the training set as it is.
    """

    samples: Dataset[Any]
    sizes: Sizes
    val: Dataset[Any] | None = None
    test: Dataset[Any] | None = None


@dataclass(frozen=True)
class Monitor:
    """The validation metric that selects the best checkpoint and drives early stopping."""

    metric: str = "loss"
    mode: Literal["min", "max"] = "min"

    @property
    def worst(self) -> float:
        """A value every real one improves on."""
        return math.inf if self.mode == "min" else -math.inf

    def improves(self, value: float, *, on: float) -> bool:
        """Whether ``value`` is better than ``on`` (a NaN never is)."""
        return value < on if self.mode == "min" else value > on


class Task(ABC, Generic[DataT, SettingsT]):
    """What the engine needs to know about the problem it trains a model for.

    Subclass it in the project's ``task.py``; the engine builds one instance per run from the
    config's ``task`` section. Class attributes:

    - ``data_type``: the class of the ``data`` section (a ``DataSection``);
    - ``settings_type``: the class of the ``task`` section (a ``TaskSection``);
    - ``default_model``: the registered model a config without ``model.name`` trains;
    - ``monitor``: the validation metric that selects the best checkpoint (default: the loss);
    - ``presets``: this task's part of each named preset, by preset name.
    """

    data_type: ClassVar[type[DataSection]]
    settings_type: ClassVar[type[TaskSection]] = TaskSection
    default_model: ClassVar[str]
    monitor: ClassVar[Monitor] = Monitor()
    presets: ClassVar[Mapping[str, dict[str, Any]]] = {}

    def __init__(self, settings: SettingsT) -> None:
        """Keep the ``task`` section of the config."""
        self.settings = settings

    @classmethod
    def model_types(cls) -> dict[str, type[ModelSection]]:
        """The models this task can train, by name: every model in the project's ``models/``."""
        return model_types()

    @abstractmethod
    def load_data(self, config: DataT, *, seed: int) -> Data:
        """Read or generate the samples, reproducibly for ``seed``.

        Raises:
            DataError: If the data cannot be read or is malformed.
        """

    @abstractmethod
    def build_model(self, config: ModelSection, sizes: Sizes) -> nn.Module:
        """A new, randomly initialised network for data of these sizes."""

    def split_batch(self, batch: Any) -> tuple[Inputs, torch.Tensor]:
        """Turn a batch into model inputs and targets; by default a batch is ``(inputs, targets)``.

        Raises:
            TrainingError: If the batch is not a pair; override this for other layouts.
        """
        if isinstance(batch, Sequence) and len(batch) == 2:
            return batch[0], batch[1]
        raise TrainingError(
            f"a batch is a {type(batch).__name__}, not an (inputs, targets) pair: "
            "override Task.split_batch to say which parts are the inputs and the targets"
        )

    def forward(self, model: nn.Module, inputs: Inputs) -> torch.Tensor:
        """Call the model: on the tensor, or with the tensors of a dict as keyword arguments."""
        outputs: torch.Tensor = model(**inputs) if isinstance(inputs, dict) else model(inputs)
        return outputs

    @abstractmethod
    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The loss to minimise: a scalar, the mean over the batch's samples."""

    @abstractmethod
    def metrics(self, sizes: Sizes) -> dict[str, Metric]:
        """New metrics, by name, that evaluation reports beside the loss.

        Streaming ones (``Metric``) add up sums; ``GatheredMetric`` ones (``AUROC``,
        ``AveragePrecision``) keep the split's outputs, up to their ``max_samples``.
        """

    @abstractmethod
    def predict(self, outputs: torch.Tensor) -> dict[str, torch.Tensor]:
        """Turn model outputs into predictions: one tensor per ``output_spec`` field, by name."""

    def encode_text(self, name: str, texts: Sequence[str]) -> torch.Tensor:
        """The strings of the text input ``name``, one per row, as the model's tensor.

        Called by prediction (``Predictor``, ``predict``, the service) and by export, for each
        input whose spec is text. The first dimension of the result is the rows.

        Raises:
            InputValidationError: If this task takes no text; override it for one that does.
        """
        raise InputValidationError(
            f"input {name!r} is text, but {type(self).__name__} does not define encode_text"
        )

    @abstractmethod
    def input_specs(self, sizes: Sizes) -> list[TensorSpec]:
        """The model's inputs, for data of these sizes (one spec per argument)."""

    @abstractmethod
    def output_spec(self, sizes: Sizes, *, labels: Sequence[str] | None = None) -> OutputSpec:
        """The predictions' parts; ``labels`` names the task's classes or outputs, if given.

        Raises:
            PackageError: If ``labels`` does not fit the task's outputs.
        """


def project_task() -> type[Task[Any, Any]]:
    """The task class this project trains (see ``project.py`` for how it is found).

    Raises:
        ConfigError: If the module cannot be imported or does not hold a ``Task`` subclass there.
    """
    spec = os.environ.get(TASK_VARIABLE) or DEFAULT_TASK
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name != module_name:
            raise  # the task module itself failed to import something: a bug to see in full
        raise ConfigError(f"task {spec!r} ({TASK_VARIABLE}): no module {module_name!r}") from err
    task = getattr(module, attribute or "TASK", None)
    if not (isinstance(task, type) and issubclass(task, Task)):
        raise ConfigError(
            f"task {spec!r} ({TASK_VARIABLE}): {module_name}.{attribute or 'TASK'} is not a "
            f"subclass of {Task.__module__}.Task"
        )
    return task
