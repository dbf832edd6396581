"""The ``config`` commands: show, check and list the configuration, without training.

The settings (pydantic, YAML) are imported inside each command, so ``--help`` stays fast.
"""

from __future__ import annotations

import typer

from .options import Command, ConfigPath, Group, Overrides, Preset

__all__ = ["config_app"]

config_app = typer.Typer(
    cls=Group, help="Show, check and list configuration.", no_args_is_help=True
)


@config_app.command("show", cls=Command)
def show(config: ConfigPath = None, preset: Preset = None, overrides: Overrides = None) -> None:
    """Print the resolved configuration as YAML."""
    import yaml  # noqa: PLC0415

    from ..settings.loading import load_config  # noqa: PLC0415

    resolved = load_config(config, preset=preset, overrides=overrides)
    typer.echo(yaml.safe_dump(resolved.model_dump(mode="json"), sort_keys=False), nl=False)


@config_app.command("validate", cls=Command)
def validate(config: ConfigPath = None, preset: Preset = None, overrides: Overrides = None) -> None:
    """Check a configuration without training; exit status 1 names the first problem."""
    from ..settings.loading import load_config  # noqa: PLC0415

    load_config(config, preset=preset, overrides=overrides)
    typer.echo(f"{config or 'defaults'}: valid")


@config_app.command("keys", cls=Command)
def keys() -> None:
    """List every config key with its type, default and description."""
    from ..settings.keys import describe_fields  # noqa: PLC0415
    from ..settings.loading import project_config_type  # noqa: PLC0415

    for field in describe_fields(project_config_type()):
        typer.echo(f"{field.key} ({field.type}, default {field.default!r}): {field.description}")
