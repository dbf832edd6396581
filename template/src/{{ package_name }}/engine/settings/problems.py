"""One-line descriptions of what is wrong in a config: a validation error, a key, a YAML text.

Every message names the key and echoes the bad value, cut short so that it stays one line.
"""

from __future__ import annotations

import reprlib
from typing import TYPE_CHECKING, Any

import yaml

from ..core.exceptions import ConfigError
from .keys import section_choices

if TYPE_CHECKING:
    from pydantic import BaseModel
    from pydantic_core import ErrorDetails

__all__ = ["MAX_SHOWN", "bounded", "check_key", "describe_error", "shown", "yaml_problem"]

MAX_SHOWN = 80  # characters of a bad value echoed in an error message
_SHORT_REPR = reprlib.Repr()  # its keyword arguments are Python 3.12's
_SHORT_REPR.maxlevel, _SHORT_REPR.maxlist, _SHORT_REPR.maxdict = 2, 4, 4
_SHORT_REPR.maxstring = _SHORT_REPR.maxother = 40


def check_key(schema: type[BaseModel], parts: list[str]) -> None:
    """Check that the dotted key ``parts`` exists in ``schema``.

    Raises:
        ConfigError: Naming the unknown key and the keys allowed at that level.
    """
    choices: list[type[BaseModel]] = [schema]
    for depth, part in enumerate(parts):
        fields = {key: field for choice in choices for key, field in choice.model_fields.items()}
        if part not in fields:
            where = ".".join(parts[:depth]) or "the top level"
            raise ConfigError(
                f"unknown config key {'.'.join(parts)!r}: {where} accepts {sorted(fields)}"
            )
        is_last = depth == len(parts) - 1
        if not is_last:
            choices = section_choices(fields[part].annotation)
            if not choices:
                raise ConfigError(f"config key {'.'.join(parts[: depth + 1])!r} has no sub-keys")


def describe_error(error: ErrorDetails, schema: type[BaseModel]) -> str:
    """One validation error of ``schema`` as ``key: problem (got value)``."""
    location = _without_model_tags(error["loc"], schema)
    key = ".".join(str(part) for part in location) or "config"
    if error["type"] == "extra_forbidden":
        return f"unknown key {shown(key)}; {_allowed_here(error['loc'], schema)}"
    if error["type"] == "union_tag_invalid":
        tags = error.get("ctx", {}).get("expected_tags", "")
        return f"{key}.name: unknown model {shown(error['input'].get('name'))}; registered: {tags}"
    message = bounded(error["msg"].removeprefix("Value error, "), limit=4 * MAX_SHOWN)
    return f"{key}: {message} (got {shown(error['input'])})"


def shown(value: Any) -> str:
    """``repr(value)`` cut short: a value echoed in a message stays one short line.

    The repr is built piecewise with limits, so a huge value (a YAML alias bomb) costs nothing.
    """
    return bounded(_SHORT_REPR.repr(value))


def bounded(text: str, *, limit: int = MAX_SHOWN) -> str:
    """``text``, cut to ``limit`` characters with ``...`` if it is longer."""
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def yaml_problem(err: yaml.YAMLError) -> str:
    """What is wrong in a YAML text, and where, on one line."""
    if isinstance(err, yaml.MarkedYAMLError) and err.problem and err.problem_mark:
        mark = err.problem_mark
        return f"{bounded(err.problem)} at line {mark.line + 1}, column {mark.column + 1}"
    lines = str(err).strip().splitlines()
    return bounded(lines[0] if lines else type(err).__name__)


def _without_model_tags(
    location: tuple[int | str, ...], schema: type[BaseModel]
) -> tuple[int | str, ...]:
    """Drop the model name that pydantic puts into the location of an error inside ``model``."""
    parts: list[int | str] = []
    current: type[BaseModel] | None = schema
    is_tag = False
    for part in location:
        if is_tag:
            is_tag = False
            continue
        parts.append(part)
        fields = current.model_fields if current is not None else {}
        choices = section_choices(fields[str(part)].annotation) if str(part) in fields else []
        is_tag = len(choices) > 1
        current = choices[0] if len(choices) == 1 else None
    return tuple(parts)


def _allowed_here(raw_location: tuple[int | str, ...], schema: type[BaseModel]) -> str:
    """Say which keys the section holding an unknown key accepts (``raw_location``: pydantic's)."""
    model: type[BaseModel] = schema
    where: list[str] = []
    parts = [str(part) for part in raw_location[:-1]]
    while parts:
        part = parts.pop(0)
        choices = section_choices(model.model_fields[part].annotation)
        if not choices:
            break
        where.append(part)
        if len(choices) > 1 and parts:  # a model section: pydantic's location names the model
            tag = parts.pop(0)
            choices = [c for c in choices if c.model_fields["name"].default == tag] or choices
        model = choices[0]
    return f"{'.'.join(where) or 'the top level'} accepts {sorted(model.model_fields)}"
