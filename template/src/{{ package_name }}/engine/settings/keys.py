"""The settable config keys, each with its type, default and description.

``config keys``, the command-line help and the configuration reference are generated from
``describe_fields``, so the pydantic models stay the single source of truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from ..seam.sections import ModelSection

__all__ = ["FieldDoc", "describe_fields", "section_choices"]


@dataclass(frozen=True)
class FieldDoc:
    """One settable config key, described from its pydantic field."""

    key: str
    type: str
    default: Any
    description: str


def describe_fields(model: type[BaseModel], *, prefix: str = "") -> list[FieldDoc]:
    """List every leaf key of ``model`` (a ``Config`` class) with type, default, description.

    The keys of each model are listed under ``model.``, their description naming the model. The
    command-line help and the configuration reference are generated from this, so the pydantic
    models stay the single source of truth.
    """
    docs: list[FieldDoc] = []
    for name, field in model.model_fields.items():
        choices = section_choices(field.annotation)
        if choices and all(issubclass(choice, ModelSection) for choice in choices):
            docs += _describe_choices(choices, prefix=f"{prefix}{name}.")
            continue
        if choices:
            docs += describe_fields(choices[0], prefix=f"{prefix}{name}.")
            continue
        docs.append(_field_doc(f"{prefix}{name}", field))
    return docs


def _describe_choices(choices: list[type[BaseModel]], *, prefix: str) -> list[FieldDoc]:
    """The keys of the model section: ``name``, then each model's own, naming their model."""
    docs: dict[str, FieldDoc] = {}
    names = [str(choice.model_fields["name"].default) for choice in choices]
    docs["name"] = FieldDoc(
        f"{prefix}name", "str", names[0], f"Registered model name: one of {', '.join(names)}."
    )
    for choice, choice_name in zip(choices, names, strict=True):
        for key, field in choice.model_fields.items():
            if key == "name":
                continue
            doc = _field_doc(f"{prefix}{key}", field)
            docs[f"{choice_name}.{key}"] = FieldDoc(
                doc.key, doc.type, doc.default, f"{doc.description} (model.name={choice_name})"
            )
    return list(docs.values())


def _field_doc(key: str, field: Any) -> FieldDoc:
    annotation = field.annotation
    is_generic = get_origin(annotation) is not None
    type_name = str(annotation) if is_generic else getattr(annotation, "__name__", "")
    return FieldDoc(
        key=key,
        type=type_name.replace("typing.", ""),
        default=to_jsonable_python(field.get_default(call_default_factory=True)),
        description=field.description or "",
    )


def section_choices(annotation: Any) -> list[type[BaseModel]]:
    """The section classes a field accepts: one, several (a union of models), or none."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if get_origin(annotation) is Annotated:
        return section_choices(get_args(annotation)[0])
    return [
        arg for arg in get_args(annotation) if isinstance(arg, type) and issubclass(arg, BaseModel)
    ]
