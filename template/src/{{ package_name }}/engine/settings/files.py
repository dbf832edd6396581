"""Config files: YAML read safely, refusing a key given twice in one mapping."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaml

from ..core.exceptions import ConfigError
from .problems import shown, yaml_problem

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["UniqueKeyLoader", "read_yaml"]


def read_yaml(path: Path) -> dict[str, Any]:
    """The mapping a YAML config file holds (empty for an empty file).

    Raises:
        ConfigError: If the file is missing, unreadable, not YAML or not a mapping.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise ConfigError(f"config file {str(path)!r} does not exist") from err
    except OSError as err:
        reason = err.strerror or err  # an OSError raised by Python code has no strerror
        raise ConfigError(f"config file {str(path)!r} cannot be read: {reason}") from err
    except UnicodeDecodeError as err:
        raise ConfigError(f"config file {str(path)!r} is not UTF-8 text: {err.reason}") from err
    try:
        data = yaml.load(text, Loader=UniqueKeyLoader)  # a safe loader: no Python objects
    except yaml.YAMLError as err:
        raise ConfigError(
            f"config file {str(path)!r} is not valid YAML: {yaml_problem(err)}"
        ) from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {str(path)!r} must hold a mapping of sections, not {type(data).__name__}"
        )
    return data


class UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping (the last would win)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        """Build the mapping, refusing a key given twice."""
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue  # a mapping or list as a key: the safe loader refuses it below
            key = (key_node.tag, key_node.value)  # the same text with the same type
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"found the key {shown(key_node.value)} a second time",
                    key_node.start_mark,
                )
            seen.add(key)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping
