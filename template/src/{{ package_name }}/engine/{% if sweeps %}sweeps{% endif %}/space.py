"""The search space of a sweep: config keys, each with a range or a list of choices.

A space is a YAML mapping from dotted config keys to what each may take::

    optim.lr: {low: 1.0e-4, high: 1.0e-1, log: true}    # a float on a log scale
    data.batch_size: {low: 16, high: 128, step: 16}      # both bounds integers: an int
    model.hidden_sizes: {choices: [[32], [64, 64]]}      # one of these values

Every key and bound is checked against the project's config before the first trial runs, so a
typo or a value out of range fails at once, naming the key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..core.exceptions import ConfigError
from ..settings.loading import load_config

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from optuna.trial import BaseTrial

    from ..seam.task import Task

__all__ = ["Parameter", "SearchSpace"]

_SCALARS = (type(None), bool, int, float, str)


class Parameter(BaseModel):
    """What one config key may take: a range (``low``, ``high``) or a list of ``choices``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    low: int | float | None = Field(default=None, description="Lowest value of a range.")
    high: int | float | None = Field(default=None, description="Highest value of a range.")
    log: bool = Field(default=False, description="Sample the range on a log scale.")
    step: int | float | None = Field(default=None, gt=0, description="Spacing of a range.")
    choices: list[Any] | None = Field(default=None, min_length=1, description="Values to pick.")

    @model_validator(mode="after")
    def _range_or_choices(self) -> Parameter:
        is_range = self.low is not None or self.high is not None
        if (self.choices is None) == (not is_range):
            raise ValueError("give either low and high, or choices")
        if self.choices is not None and (self.log or self.step is not None):
            raise ValueError("log and step apply to ranges, not to choices")
        if is_range:
            if self.low is None or self.high is None or self.low >= self.high:
                raise ValueError(f"low={self.low} must be below high={self.high}")
            if self.log and (self.low <= 0 or self.step is not None):
                raise ValueError("a log scale needs low above 0 and no step")
        return self

    @property
    def is_int(self) -> bool:
        """Whether the range is of whole numbers: both bounds (and the step) written as integers."""
        bounds = (self.low, self.high, self.step if self.step is not None else 1)
        return all(isinstance(value, int) and not isinstance(value, bool) for value in bounds)

    def examples(self) -> list[Any]:
        """Values that bound what this parameter takes: both ends, or every choice."""
        return list(self.choices) if self.choices is not None else [self.low, self.high]

    def suggest(self, trial: BaseTrial, key: str) -> Any:
        """Ask ``trial`` for a value (choices that are not plain scalars travel as JSON text)."""
        if self.choices is not None:
            if all(isinstance(choice, _SCALARS) for choice in self.choices):
                return trial.suggest_categorical(key, self.choices)
            encoded = [json.dumps(choice) for choice in self.choices]
            return json.loads(trial.suggest_categorical(key, encoded))
        assert self.low is not None  # checked by the validator
        assert self.high is not None
        if self.is_int:
            step = int(self.step or 1)
            return trial.suggest_int(key, int(self.low), int(self.high), step=step, log=self.log)
        spacing = None if self.step is None else float(self.step)
        return trial.suggest_float(
            key, float(self.low), float(self.high), step=spacing, log=self.log
        )


@dataclass(frozen=True)
class SearchSpace:
    """The parameters of a sweep, by dotted config key."""

    parameters: dict[str, Parameter]

    @classmethod
    def read(cls, path: Path) -> SearchSpace:
        """Read a space from a YAML file.

        Raises:
            ConfigError: If the file is missing, is not a mapping of keys to parameters, or a
                parameter is malformed; the message names the file and the key.
        """
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as err:
            reason = err.strerror or err  # an OSError raised by Python code has no strerror
            raise ConfigError(f"search space {str(path)!r} cannot be read: {reason}") from err
        except yaml.YAMLError as err:
            raise ConfigError(f"search space {str(path)!r} is not valid YAML: {err}") from err
        if not isinstance(raw, dict) or not raw:
            raise ConfigError(
                f"search space {str(path)!r} must map config keys to ranges or choices, "
                "such as optim.lr: {low: 1.0e-4, high: 1.0e-1, log: true}"
            )
        return cls.from_dict(raw, source=str(path))

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, source: str = "search space") -> SearchSpace:
        """Build a space from a mapping of keys to parameters.

        Raises:
            ConfigError: If a parameter is malformed, naming the key.
        """
        parameters: dict[str, Parameter] = {}
        for key, value in raw.items():
            try:
                parameters[str(key)] = Parameter.model_validate(value)
            except ValidationError as err:
                problems = "; ".join(
                    error["msg"].removeprefix("Value error, ") for error in err.errors()
                )
                raise ConfigError(f"{source}: {key}: {problems} (got {value!r})") from err
        return cls(parameters)

    def as_dict(self) -> dict[str, Any]:
        """The space as plain data, as it is recorded with the study."""
        return {
            key: parameter.model_dump(exclude_defaults=True)
            for key, parameter in self.parameters.items()
        }

    def suggest(self, trial: BaseTrial) -> dict[str, Any]:
        """A value for every key, sampled by ``trial``."""
        return {key: parameter.suggest(trial, key) for key, parameter in self.parameters.items()}

    def check(self, base: Mapping[str, Any], *, task: type[Task[Any, Any]]) -> None:
        """Validate the config ``base`` with each key at each of its bounds or choices.

        Raises:
            ConfigError: If a key is unknown or a value fails the config's validation.
        """
        for key, parameter in self.parameters.items():
            for value in parameter.examples():
                load_config(base=base, overrides=overrides({key: value}), task=task)


def overrides(values: Mapping[str, Any]) -> list[str]:
    """``key=value`` overrides for sampled values (JSON, which the config reads as YAML)."""
    return [f"{key}={json.dumps(value)}" for key, value in values.items()]
