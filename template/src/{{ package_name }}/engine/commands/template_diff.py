"""The ``template-diff`` command: how the template's versions of your own files differ from yours.

``copier update`` never changes the files the project owns (``task.py``, ``data.py``,
``models/``, ``configs/``, their tests, the README), so improvements the template makes to them
never arrive by themselves. This command renders the template, at the version the project is on
(or another one), with the project's recorded answers, into a temporary folder, and shows a
unified diff of each of those files against the project's own: take what you want by hand.

It runs ``copier`` from the ``PATH``, or through ``uvx`` when copier is not installed.
"""

from __future__ import annotations

import difflib
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Annotated

import typer
import yaml

from ..core.exceptions import ConfigError, ProjectError

__all__ = ["TEAM_FILES", "team_file_diffs", "template_diff"]

ANSWERS_FILE = ".copier-answers.yml"
COPIER = "copier>=9.19.1"
# The project's own files: copier.yml's _skip_if_exists, which an update never changes.
TEAM_FILES = (
    "README.md",
    "docs/index.md",
    "configs/**",
    "src/*/__init__.py",
    "src/*/__main__.py",
    "src/*/task.py",
    "src/*/data.py",
    "src/*/tokenizer.py",
    "src/*/models/**",
    "tests/test_task.py",
    "tests/test_data.py",
    "tests/models/**",
)


def template_diff(
    ref: Annotated[
        str | None,
        typer.Option(
            metavar="REF",
            help="Template version (a tag or commit) to compare with.",
            show_default="the project's, _commit in .copier-answers.yml",
        ),
    ] = None,
    template: Annotated[
        str | None,
        typer.Option(
            metavar="PATH|URL",
            help="Where the template is.",
            show_default="_src_path in .copier-answers.yml",
        ),
    ] = None,
    names_only: Annotated[
        bool,
        typer.Option(
            "--name-only", metavar="", help="List the files that differ, without the diff."
        ),
    ] = False,
) -> None:
    """Show how the template's versions of your own files (task.py, data.py, ...) differ."""
    project = _project_root(Path.cwd())
    answers = _answers(project / ANSWERS_FILE)
    source = template or str(answers.get("_src_path") or "")
    version = ref or str(answers.get("_commit") or "")
    if not source or not version:
        raise ConfigError(
            f"{ANSWERS_FILE} records no template (_src_path) or version (_commit): give "
            "--template and --ref"
        )
    with tempfile.TemporaryDirectory(prefix="template-diff-") as folder:
        rendered = _render(source, version, answers, Path(folder))
        diffs = team_file_diffs(rendered, project)
    if not diffs:
        typer.echo(f"your files match the template's at {version}")
        return
    for name, diff in diffs.items():
        typer.echo(name if names_only else diff, nl=names_only)


def team_file_diffs(rendered: Path, project: Path) -> dict[str, str]:
    """A unified diff, by path, of each team file of ``rendered`` that ``project`` has otherwise.

    A file the template has and the project lacks shows as added; the project's files that the
    template does not have (its own models, say) are left out.
    """
    diffs = {}
    for path in sorted(rendered.rglob("*")):
        name = path.relative_to(rendered).as_posix()
        if not path.is_file() or not _is_team_file(name):
            continue
        theirs = path.read_text(encoding="utf-8").splitlines(keepends=True)
        mine_path = project / name
        mine = (
            mine_path.read_text(encoding="utf-8").splitlines(keepends=True)
            if mine_path.is_file()
            else []
        )
        if theirs != mine:
            diff = difflib.unified_diff(mine, theirs, f"yours/{name}", f"template/{name}")
            diffs[name] = "".join(diff)
    return diffs


def _is_team_file(name: str) -> bool:
    return any(re.fullmatch(_pattern(glob), name) for glob in TEAM_FILES)


def _pattern(glob: str) -> str:
    """A glob as a regular expression: ``**`` crosses folders, ``*`` does not."""
    parts = (re.escape(part).replace(r"\*", "[^/]*") for part in glob.split("**"))
    return ".*".join(parts)


def _project_root(start: Path) -> Path:
    for folder in [start, *start.parents]:
        if (folder / ANSWERS_FILE).is_file():
            return folder
    raise ConfigError(f"no {ANSWERS_FILE} here or above {str(start)!r}: run this in the project")


def _answers(path: Path) -> dict[str, object]:
    try:
        answers = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise ConfigError(f"{str(path)!r} cannot be read as YAML: {err}") from err
    if not isinstance(answers, dict):
        raise ConfigError(f"{str(path)!r} holds no answers")
    return answers


def _render(source: str, version: str, answers: dict[str, object], folder: Path) -> Path:
    """Render ``source`` at ``version`` with the recorded answers into ``folder/project``."""
    data = folder / "answers.yml"
    recorded = {key: value for key, value in answers.items() if not key.startswith("_")}
    data.write_text(yaml.safe_dump(recorded), encoding="utf-8")
    rendered = folder / "project"
    command = [
        *_copier(),
        "copy",
        "--quiet",
        "--defaults",
        "--vcs-ref",
        version,
        "--data-file",
        str(data),
        source,
        str(rendered),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines() or ["no output"]
        raise ProjectError(f"copier could not render the template at {version}: {lines[-1]}")
    return rendered


def _copier() -> list[str]:
    if copier := shutil.which("copier"):
        return [copier]
    if uvx := shutil.which("uvx"):
        return [uvx, "--from", COPIER, "copier"]
    raise ProjectError("template-diff needs copier: install it (pip install copier) or uv")
