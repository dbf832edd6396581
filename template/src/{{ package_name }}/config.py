"""Typed configuration: one pydantic model per concern, composed into ``Config``.

Values are resolved in this order, later ones winning: the model defaults, a named preset, a YAML
file, then ``key=value`` overrides from the command line (``optim.lr=3e-4``). Unknown keys and
wrong types are errors that name the key. This module does not import torch, so the command line
can validate a config and print help quickly.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import to_jsonable_python

from .exceptions import ConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pydantic_core import ErrorDetails

__all__ = [
    "PRESETS",
    "Config",
    "DataConfig",
    "DistributedConfig",
    "FieldDoc",
    "ModelConfig",
    "OptimConfig",
    "RunConfig",
    "TrainConfig",
    "apply_overrides",
    "describe_fields",
    "load_config",
]

_DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class _Section(BaseModel):
    """Base of every config section: unknown keys are errors, assignments are validated.

    Validators are built on first use rather than at import, which keeps `--help` fast.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, defer_build=True)


class DataConfig(_Section):
    """Where the data comes from (the built-in generator or a file) and how it is batched."""

    source: Literal["synthetic", "csv", "npz"] = Field(
        default="synthetic", description="synthetic (built in), or a csv or npz file at data.path."
    )
    path: Path | None = Field(default=None, description="Data file for the csv and npz sources.")
    label_column: str = Field(
        default="label", min_length=1, description="Name of the label column of a csv file."
    )
    num_samples: int = Field(
        default=2048, ge=32, le=10_000_000, description="Samples generated (synthetic only)."
    )
    num_features: int = Field(
        default=16, ge=1, le=4096, description="Features per sample (synthetic only)."
    )
    num_classes: int = Field(
        default=4, ge=2, le=1000, description="Number of classes (synthetic only)."
    )
    class_separation: float = Field(
        default=4.0, gt=0.0, le=100.0, description="Distance between class centres (synthetic)."
    )
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


class ModelConfig(_Section):
    """Which network to build (by registry name) and its size."""

    name: str = Field(default="mlp", min_length=1, description="Registered model name.")
    hidden_sizes: list[int] = Field(
        default=[64, 64], min_length=1, description="Width of each hidden layer."
    )
    dropout: float = Field(default=0.1, ge=0.0, lt=1.0, description="Dropout probability.")

    @field_validator("hidden_sizes")
    @classmethod
    def _positive_widths(cls, sizes: list[int]) -> list[int]:
        if any(size < 1 for size in sizes):
            raise ValueError(f"every hidden size must be at least 1, got {sizes}")
        return sizes


class OptimConfig(_Section):
    """Optimizer and its hyperparameters."""

    name: Literal["adamw", "sgd"] = Field(default="adamw", description="Optimizer.")
    lr: float = Field(default=3e-3, gt=0.0, le=10.0, description="Peak learning rate.")
    weight_decay: float = Field(default=0.01, ge=0.0, le=1.0, description="Weight decay.")
    momentum: float = Field(default=0.9, ge=0.0, lt=1.0, description="Momentum (sgd only).")
    beta1: float = Field(default=0.9, ge=0.0, lt=1.0, description="First Adam beta (adamw only).")
    beta2: float = Field(
        default=0.999, ge=0.0, lt=1.0, description="Second Adam beta (adamw only)."
    )
    schedule: Literal["constant", "cosine", "linear"] = Field(
        default="cosine", description="Learning-rate decay after warm-up, per optimizer step."
    )
    warmup_steps: int = Field(
        default=0, ge=0, description="Optimizer steps of linear warm-up from 0 to optim.lr."
    )


class TrainConfig(_Section):
    """How long and where to train."""

    epochs: int = Field(default=10, ge=1, le=100_000, description="Passes over the training set.")
    max_steps: int | None = Field(
        default=None, ge=1, description="Stop after this many optimizer steps (resumable)."
    )
    grad_accum_steps: int = Field(
        default=1, ge=1, le=1024, description="Batches whose gradients add up to one step."
    )
    precision: Literal["fp32", "bf16", "fp16"] = Field(
        default="fp32", description="fp32, or mixed precision: bf16, or fp16 with a grad scaler."
    )
    tf32: bool = Field(default=False, description="Allow TF32 matrix products on CUDA.")
    compile: bool = Field(
        default=False, description="Run the model through torch.compile (slow first step)."
    )
    early_stopping_patience: int | None = Field(
        default=None, ge=1, description="Stop after this many epochs without a better val loss."
    )
    keep_checkpoints: int = Field(
        default=3, ge=1, description="Epoch checkpoints kept (the best one is always kept)."
    )
    grad_clip: float | None = Field(
        default=1.0, gt=0.0, description="Clip the gradient norm to this value; null disables."
    )
    log_every: int = Field(default=10, ge=1, description="Steps between progress log lines.")
    device: str = Field(
        default="auto", description="auto, cpu, mps, cuda or cuda:N; auto picks CUDA, MPS, CPU."
    )
    seed: int = Field(default=42, ge=0, le=2**32 - 1, description="Seed for every random source.")
    deterministic: bool = Field(
        default=False, description="Use deterministic algorithms (slower; see seed.py)."
    )

    @field_validator("device")
    @classmethod
    def _known_device(cls, device: str) -> str:
        if not _DEVICE_PATTERN.match(device):
            raise ValueError(f"device {device!r} is not one of auto, cpu, mps, cuda, cuda:N")
        return device


class DistributedConfig(_Section):
    """Process-group settings, used only when torchrun starts the run."""

    backend: Literal["auto", "gloo", "nccl"] = Field(
        default="auto", description="auto (nccl on CUDA, gloo on CPU), gloo or nccl."
    )
    timeout_s: float = Field(
        default=600.0,
        gt=0.0,
        le=86_400.0,
        description="Seconds a rank waits for the others before the run fails.",
    )


class RunConfig(_Section):
    """Where run records and checkpoints go."""

    output_dir: Path = Field(default=Path("runs"), description="Folder that holds one run each.")
    name: str = Field(
        default="default",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="Run name, used in the run folder name.",
    )


class Config(_Section):
    """The whole configuration of a training run."""

    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    distributed: DistributedConfig = Field(default_factory=DistributedConfig)
    run: RunConfig = Field(default_factory=RunConfig)

    @model_validator(mode="after")
    def _splits_fit_batches(self) -> Config:
        if self.data.source != "synthetic":
            if self.data.path is None:
                raise ValueError(
                    f"data.source={self.data.source} needs data.path, the file to read"
                )
            return self  # split sizes are checked when the file is read
        val_size = int(self.data.num_samples * self.data.val_fraction)
        if val_size < 1 or self.data.num_samples - val_size < 1:
            raise ValueError(
                f"data.val_fraction={self.data.val_fraction} leaves an empty split "
                f"of data.num_samples={self.data.num_samples}"
            )
        return self


PRESETS: dict[str, dict[str, Any]] = {
    # A run of a few seconds on a CPU: for tests, CI and trying things out.
    "smoke": {
        "data": {"num_samples": 256, "batch_size": 32},
        "model": {"hidden_sizes": [32]},
        "optim": {"lr": 0.01},
        "train": {"epochs": 2, "log_every": 2},
    },
}


def load_config(
    path: Path | None = None,
    *,
    preset: str | None = None,
    overrides: list[str] | None = None,
    base: Mapping[str, Any] | None = None,
) -> Config:
    """Build a validated config from defaults, a preset, a YAML file and overrides.

    Args:
        path: YAML file whose keys mirror ``Config``; ``None`` uses only defaults and preset.
        preset: Name of an entry of ``PRESETS`` applied before the file.
        overrides: ``dotted.key=value`` strings applied last; values are parsed as YAML.
        base: Values to start from instead of the defaults, such as a checkpoint's config.

    Returns:
        The validated configuration.

    Raises:
        ConfigError: If the file is missing or malformed, the preset unknown, an override bad,
            or a value fails validation. The message names the file, key and value.
    """
    raw: dict[str, Any] = copy.deepcopy(dict(base)) if base else {}
    if preset is not None:
        if preset not in PRESETS:
            raise ConfigError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
        _merge(raw, copy.deepcopy(PRESETS[preset]))
    if path is not None:
        _merge(raw, _read_yaml(path))
    raw = apply_overrides(raw, overrides or [])
    source = str(path) if path else ("checkpoint config" if base else "defaults")
    return _validate(raw, source=f"{source} with overrides" if overrides else source)


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of ``raw`` with each ``dotted.key=value`` override applied.

    Keys are checked against the ``Config`` schema so a typo fails here, naming the key and the
    keys allowed at that level.

    Raises:
        ConfigError: If an override is not of the form ``key=value`` or names an unknown key.
    """
    result = copy.deepcopy(raw)
    for override in overrides:
        key, sep, text = override.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {override!r} is not of the form key=value")
        parts = key.strip().split(".")
        _check_key(parts)
        target = result
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = _parse_value(text, override=override)
    return result


def _parse_value(text: str, *, override: str) -> Any:
    """Parse an override's value as YAML, so ``3e-4``, ``[32, 32]`` and ``null`` get their types.

    A value that YAML would read as a mapping only because it holds a colon (``cuda:``) stays the
    string it was written as; write ``{a: 1}`` to mean a mapping.
    """
    try:
        value = yaml.safe_load(text) if text else ""
    except yaml.YAMLError as err:
        raise ConfigError(f"override {override!r}: value is not valid YAML") from err
    if isinstance(value, dict) and not text.lstrip().startswith("{"):
        return text
    return value


@dataclass(frozen=True)
class FieldDoc:
    """One settable config key, described from its pydantic field."""

    key: str
    type: str
    default: Any
    description: str


def describe_fields(model: type[BaseModel] = Config, *, prefix: str = "") -> list[FieldDoc]:
    """List every leaf key of ``model`` with its type, default and description.

    The command-line help and the configuration reference are generated from this, so the
    pydantic models stay the single source of truth.
    """
    docs: list[FieldDoc] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            docs += describe_fields(annotation, prefix=f"{prefix}{name}.")
            continue
        is_generic = get_origin(annotation) is not None
        type_name = str(annotation) if is_generic else getattr(annotation, "__name__", "")
        docs.append(
            FieldDoc(
                key=f"{prefix}{name}",
                type=type_name.replace("typing.", ""),
                default=to_jsonable_python(field.get_default(call_default_factory=True)),
                description=field.description or "",
            )
        )
    return docs


def _check_key(parts: list[str]) -> None:
    model: type[BaseModel] = Config
    for depth, part in enumerate(parts):
        fields = model.model_fields
        if part not in fields:
            where = ".".join(parts[:depth]) or "the top level"
            raise ConfigError(
                f"unknown config key {'.'.join(parts)!r}: {where} accepts {sorted(fields)}"
            )
        annotation = fields[part].annotation
        is_last = depth == len(parts) - 1
        if not is_last:
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                raise ConfigError(f"config key {'.'.join(parts[: depth + 1])!r} has no sub-keys")
            model = annotation


def _allowed_here(location: tuple[int | str, ...]) -> str:
    """Say which keys the section at ``location`` accepts, for an unknown-key message."""
    model: type[BaseModel] = Config
    for part in location:
        annotation = model.model_fields[str(part)].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            break
        model = annotation
    where = ".".join(str(part) for part in location) or "the top level"
    return f"{where} accepts {sorted(model.model_fields)}"


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise ConfigError(f"config file {str(path)!r} does not exist") from err
    except OSError as err:
        raise ConfigError(f"config file {str(path)!r} cannot be read: {err.strerror}") from err
    except UnicodeDecodeError as err:
        raise ConfigError(f"config file {str(path)!r} is not UTF-8 text: {err.reason}") from err
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {err}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {str(path)!r} must hold a mapping of sections, not {type(data).__name__}"
        )
    return data


def _merge(base: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def _validate(raw: dict[str, Any], *, source: str) -> Config:
    try:
        return Config.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(_describe(error) for error in err.errors())
        raise ConfigError(f"invalid config ({source}): {problems}") from err


def _describe(error: ErrorDetails) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "config"
    if error["type"] == "extra_forbidden":
        return f"unknown key {key!r}; {_allowed_here(error['loc'][:-1])}"
    message = error["msg"].removeprefix("Value error, ")
    return f"{key}: {message} (got {error['input']!r})"
