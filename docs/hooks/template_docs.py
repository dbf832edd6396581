"""MkDocs hook that generates the template's reference pages and snippets at build time.

Pages hold markers that this hook replaces, so nothing they show can drift from the template:

- ``<!-- copier-questions -->``: every question in copier.yml, under its section header, with its
  help text (what it changes), type, default, choices and condition.
- ``<!-- cli-commands -->``: every command of a generated project's command line, read from the
  click command tree of a project rendered with the default answers.
- ``<!-- generated-tree -->``: the files of that project.
- ``<!-- generated: PATH -->``, ``<!-- generated: PATH NAME -->``: a file of that project, or only
  its top-level function or class NAME, as a code block.

A marker stands alone on its line; an indented one (inside a list item) is replaced by text
indented the same way.

The template is rendered once per build with copier's API, trust-free, from a copy of the working
tree, so uncommitted changes show. A marker that cannot be filled fails the build.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from copier import run_copy
from mkdocs.exceptions import PluginError

if TYPE_CHECKING:
    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.structure.files import Files
    from mkdocs.structure.pages import Page

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATHS = ("copier.yml", "includes", "template")
CACHE_PATTERNS = ("__pycache__", "*.pyc", ".mypy_cache", ".ruff_cache", ".pytest_cache")
MARKER = re.compile(
    r"^(?P<indent> *)<!-- (?P<kind>copier-questions|cli-commands|generated-tree|generated: "
    r"(?P<path>\S+)(?: (?P<name>\w+))?) -->$",
    flags=re.MULTILINE,
)
# A comment that looks like a marker but is not one (a typo would otherwise vanish silently).
UNKNOWN_MARKER = re.compile(r"^ *<!-- (copier|cli|generated)\b.*$", flags=re.MULTILINE)
LANGUAGES = {
    ".py": "python",
    ".pyi": "python",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".toml": "toml",
    ".md": "markdown",
}

# Prints, as JSON, the plain `--help` of every command of a generated project's typer app.
CLI_SCRIPT = """
import json, sys
from importlib import import_module
import typer.main
from typer.testing import CliRunner

package, slug = sys.argv[1:]
app = import_module(package + ".engine.commands.app").app

def paths(command, path):
    yield path
    for name, sub in getattr(command, "commands", {}).items():
        yield from paths(sub, [*path, name])

pages = []
for path in paths(typer.main.get_command(app), []):
    result = CliRunner().invoke(app, [*path, "--help"], prog_name=slug)
    if result.exit_code != 0:
        sys.exit(f"{' '.join([slug, *path, '--help'])} exited {result.exit_code}: {result.output}")
    pages.append({"path": path, "help": result.output})
print(json.dumps(pages))
"""

_state: dict[str, Any] = {}


def on_pre_build(config: MkDocsConfig) -> None:
    """Render the template with the default answers into a temporary folder."""
    workdir = tempfile.TemporaryDirectory(prefix="template-docs-")
    _state["workdir"] = workdir
    _state["project"] = render_defaults(Path(workdir.name))


def on_page_markdown(markdown: str, *, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Replace every marker on the page with the text generated for it."""
    filled = MARKER.sub(lambda match: _indented(match, page.file.src_uri), markdown)
    if leftover := UNKNOWN_MARKER.search(filled):
        raise PluginError(f"{page.file.src_uri}: unknown marker {leftover[0].strip()!r}")
    return filled


def on_post_build(config: MkDocsConfig) -> None:
    """Remove the rendered project."""
    _state.pop("workdir").cleanup()


def render_defaults(workdir: Path) -> Path:
    """Render a copy of the template's working tree with the default answers.

    Args:
        workdir: An empty folder for the copy and the project.

    Returns:
        The rendered project's folder.
    """
    source = workdir / "template"
    source.mkdir()
    for name in TEMPLATE_PATHS:
        path = REPO_ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns(*CACHE_PATTERNS))
        else:
            shutil.copy2(path, source / name)
    project = workdir / "project"
    run_copy(str(source), str(project), defaults=True, unsafe=False, quiet=True)
    return project


def _indented(match: re.Match[str], page: str) -> str:
    """The marker's text, indented as the marker is (inside a list item, for example)."""
    lines = _fill(match, page).splitlines()
    return "\n".join(match["indent"] + line if line else line for line in lines)


def _fill(match: re.Match[str], page: str) -> str:
    project: Path = _state["project"]
    kind = match["kind"]
    if kind == "copier-questions":
        return questions_reference(REPO_ROOT / "copier.yml", _answers(project))
    if kind == "cli-commands":
        return cli_reference(project)
    if kind == "generated-tree":
        return _fence(project_tree(project), "text", title=_answers(project)["project_slug"])
    try:
        return generated_snippet(project, match["path"], match["name"])
    except LookupError as err:
        raise PluginError(f"{page}: {err}") from err


def _answers(project: Path) -> dict[str, Any]:
    loaded = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    return dict(loaded)


def generated_snippet(project: Path, relative: str, name: str | None) -> str:
    """A code block holding a rendered file, or one top-level function or class of it.

    Raises:
        LookupError: If the file or the name does not exist in the rendered project.
    """
    path = project / relative
    if not path.is_file():
        raise LookupError(f"{relative} is not a file of the project rendered with the defaults")
    text = path.read_text(encoding="utf-8")
    if name is not None:
        text = top_level_source(text, name, relative)
    return _fence(text, LANGUAGES.get(path.suffix, "text"), title=relative)


def top_level_source(text: str, name: str, relative: str) -> str:
    """The source of the top-level function or class ``name``, decorators included."""
    for node in ast.parse(text).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name == name:
            first = min([node.lineno, *(item.lineno for item in node.decorator_list)])
            return "\n".join(text.splitlines()[first - 1 : node.end_lineno])
    raise LookupError(f"{relative} has no top-level function or class {name!r}")


def project_tree(project: Path) -> str:
    """The project's files and folders, one per line, indented by depth."""
    lines = []
    for path in sorted(project.rglob("*")):
        relative = path.relative_to(project)
        indent = "    " * (len(relative.parts) - 1)
        lines.append(f"{indent}{relative.name}{'/' if path.is_dir() else ''}")
    return "\n".join(lines)


def _fence(text: str, language: str, *, title: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f'{fence}{language} title="{title}"\n{text.rstrip()}\n{fence}'


class _CopierLoader(yaml.SafeLoader):
    """Reads copier.yml; included documents (the reserved names) are not questions."""


_CopierLoader.add_constructor("!include", lambda loader, node: {})


def copier_sections(text: str) -> dict[str, str]:
    """Map each top-level key of copier.yml to the title of the section header above it.

    A header is a comment line between two ``# ---`` rulers.
    """
    lines = text.splitlines()
    sections: dict[str, str] = {}
    title = ""
    for index, line in enumerate(lines):
        header = lines[index + 1 : index + 3]
        if line.startswith("# ---") and len(header) == 2 and header[1].startswith("# ---"):
            title = header[0].removeprefix("#").strip()
        elif key := re.match(r"([A-Za-z_]\w*):", line):
            sections[key[1]] = title
    return sections


def questions_reference(copier_yml: Path, defaults: dict[str, Any]) -> str:
    """Every asked question of copier.yml as Markdown, grouped under its section's title.

    Args:
        copier_yml: The template's copier.yml.
        defaults: The answers a render with ``--defaults`` recorded.

    Returns:
        A ``##`` heading per section and a ``###`` heading per question.
    """
    text = copier_yml.read_text(encoding="utf-8")
    config: dict[str, Any] = {}
    for document in yaml.load_all(text, Loader=_CopierLoader):
        config.update(document or {})
    sections = copier_sections(text)
    blocks: list[str] = []
    section = None
    for name, spec in config.items():
        if name.startswith("_") or not isinstance(spec, dict) or spec.get("when") is False:
            continue
        if sections[name] != section:
            section = sections[name]
            blocks.append(f"## {section}")
        blocks.append(_question(name, spec, defaults))
    return "\n\n".join(blocks)


def _question(name: str, spec: dict[str, Any], defaults: dict[str, Any]) -> str:
    facts = [f"- **Type**: `{spec.get('type', 'str')}`"]
    if name in defaults:
        derived = "{{" in str(spec.get("default", ""))
        note = " with the default answers (derived from earlier answers)" if derived else ""
        facts.append(f"- **Default**: `{json.dumps(defaults[name], ensure_ascii=False)}`{note}")
    if "choices" in spec:
        facts.append("- **Choices**: " + ", ".join(f"`{choice}`" for choice in spec["choices"]))
    if isinstance(spec.get("when"), str):
        condition = spec["when"].strip().removeprefix("{{").removesuffix("}}").strip()
        facts.append(f"- **Asked only when**: `{condition}`")
    help_text = " ".join(str(spec.get("help", "")).split())
    return f"### `{name}`\n\n{help_text}\n\n" + "\n".join(facts)


def cli_reference(project: Path) -> str:
    """Every command of the rendered project's command line with its ``--help``, plain text."""
    answers = _answers(project)
    result = subprocess.run(
        [sys.executable, "-c", CLI_SCRIPT, answers["package_name"], answers["project_slug"]],
        env={"PYTHONPATH": str(project / "src"), "TYPER_USE_RICH": "0", "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise PluginError(f"reading the generated command line failed:\n{result.stderr}")
    return "\n\n".join(
        f"## `{' '.join([answers['project_slug'], *page['path']])}`\n\n"
        + _fence(
            page["help"], "text", title=" ".join([answers["project_slug"], *page["path"], "--help"])
        )
        for page in json.loads(result.stdout)
    )
