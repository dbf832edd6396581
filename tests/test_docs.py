"""Documentation: the template's own site, and the site a generated project gets with ``docs``.

The template's site (mkdocs.yml, docs/) is built once per session with ``mkdocs build --strict``,
so a broken link, a page left out of the nav or a marker the hook cannot fill fails it. Its
reference pages and snippets are generated from copier.yml and from a project rendered with the
default answers (docs/hooks/template_docs.py); the tests below check what they hold. The build's
duration is printed with the step durations at the end of the session.

A generated project's site is checked statically here for every answer set: its files exist with
``docs`` and are absent without. Building it needs the project installed, so that runs with the
project's gate in tests/test_generated_project.py.
"""

from __future__ import annotations

import html
import importlib.util
import os
import re
import subprocess
import sys
import tomllib
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from tests.helpers import (
    ANSWER_SETS,
    REPO_ROOT,
    TIMINGS,
    asked_questions,
    load_copier_config,
    output_tail,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path
    from types import ModuleType

    from tests.conftest import Render, RenderedBy, RenderedProject

BUILD_TIMEOUT_S = 300
GENERATED_SITE_FILES = (
    "mkdocs.yml",
    "docs/index.md",
    "docs/configuration.md",
    "docs/reference.md",
    "docs/cli.md",
    "docs/hooks/reference.py",
)
DOCS_ANSWER_SETS = sorted(name for name, answers in ANSWER_SETS.items() if answers.get("docs"))
DEFAULT_COMMANDS = ("", "train", "evaluate", "config", "config show", "config validate")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template's site, built strictly into a temporary folder."""
    site = tmp_path_factory.mktemp("site")
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)]
    with TIMINGS.measure("template docs", "mkdocs build --strict"):
        result = subprocess.run(
            command,
            cwd=REPO_ROOT,
            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            timeout=BUILD_TIMEOUT_S,
            check=False,
        )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{output_tail(result.stdout)}"
    return site


def _page_text(site: Path, page: str) -> str:
    """A built page's article as plain text (tags removed, entities decoded)."""
    source = (site / page / "index.html").read_text(encoding="utf-8")
    article = source[source.index("<article") : source.index("</article>")]
    return html.unescape(re.sub(r"<[^>]+>", "", article))


def _page_html(site: Path, page: str) -> str:
    return (site / page / "index.html").read_text(encoding="utf-8")


def _nav_files(nav: list[Any]) -> Iterator[str]:
    for entry in nav:
        values = entry.values() if isinstance(entry, dict) else [entry]
        for value in values:
            if isinstance(value, list):
                yield from _nav_files(value)
            else:
                yield str(value)


# ------------------------------------------------------------------------------------------------
# The template's own site
# ------------------------------------------------------------------------------------------------
def test_every_page_is_in_the_nav() -> None:
    """Each Markdown page under docs/ is reachable from the nav, and each nav entry exists."""
    config = yaml.safe_load((REPO_ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    in_nav = set(_nav_files(config["nav"]))
    docs = REPO_ROOT / "docs"
    pages = {
        path.relative_to(docs).as_posix()
        for path in docs.rglob("*.md")
        if "hooks" not in path.relative_to(docs).parts
    }
    assert pages - in_nav == set(), f"pages missing from the nav: {sorted(pages - in_nav)}"
    assert in_nav - pages == set(), f"nav entries without a page: {sorted(in_nav - pages)}"


def test_site_builds_strictly(site: Path) -> None:
    """``mkdocs build --strict`` succeeds and writes the home page."""
    assert (site / "index.html").is_file()


def test_questions_page_lists_every_question(site: Path) -> None:
    """The questions reference has a section for every question copier asks, with its help."""
    page = _page_html(site, "reference/questions")
    text = _page_text(site, "reference/questions")
    for name, spec in asked_questions(load_copier_config()).items():
        assert f'id="{name}"' in page, f"no section for the question {name!r}"
        first_words = " ".join(str(spec["help"]).replace("`", "").split()[:6])
        assert first_words in " ".join(text.split()), f"{name}: help text not shown"


def test_cli_page_lists_every_command(site: Path) -> None:
    """The command line reference shows the ``--help`` of each command of a default project."""
    text = _page_text(site, "reference/cli")
    for command in DEFAULT_COMMANDS:
        usage = " ".join(["Usage: my-ml-project", command]).strip()
        assert usage in text, f"no help for `my-ml-project {command}`"
    assert "config keys" in text


def test_tutorial_shows_the_rendered_config(site: Path, render: Render, tmp_path: Path) -> None:
    """The tutorial's config snippet is the file a render with the default answers holds."""
    project = render(tmp_path / "project")
    shipped = (project / "configs" / "default.yaml").read_text(encoding="utf-8").strip()
    assert shipped in _page_text(site, "tutorial"), "the tutorial shows another default config"


# ------------------------------------------------------------------------------------------------
# The site of a generated project (answer `docs`)
# ------------------------------------------------------------------------------------------------
def _dependency_groups(project: Path) -> dict[str, list[str]]:
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    groups: dict[str, list[str]] = pyproject.get("dependency-groups", {})
    return groups


def test_docs_answer_adds_or_removes_the_site(rendered: RenderedProject) -> None:
    """``docs`` true: mkdocs.yml, docs/ and a docs group; false: none of them, no mention."""
    project = rendered.path
    groups = _dependency_groups(project)
    if rendered.recorded["docs"] is True:
        missing = [name for name in GENERATED_SITE_FILES if not (project / name).is_file()]
        assert not missing, f"docs=true but missing: {missing}"
        requirements = " ".join(groups.get("docs", []))
        for package in ("mkdocs", "mkdocs-material", "mkdocstrings[python]"):
            assert package in requirements, f"the docs group lacks {package}"
        return
    assert not (project / "mkdocs.yml").exists(), "docs=false but mkdocs.yml exists"
    assert not (project / "docs").exists(), "docs=false but docs/ exists"
    assert "docs" not in groups, "docs=false but pyproject.toml has a docs group"
    mentions = [
        path.relative_to(project).as_posix()
        for path in project.rglob("*")
        if path.is_file()
        and ".git" not in path.parts
        and "mkdocs" in path.read_text(encoding="utf-8", errors="replace")
    ]
    assert not mentions, f"docs=false but mkdocs is mentioned in {mentions}"


@pytest.mark.parametrize("name", DOCS_ANSWER_SETS)
def test_generated_site_config(name: str, rendered_by_name: RenderedBy) -> None:
    """The generated mkdocs.yml is strict, Material, Google-style API docs, the project's name."""
    rendered = rendered_by_name(name)
    config = yaml.safe_load((rendered.path / "mkdocs.yml").read_text(encoding="utf-8"))
    assert config["site_name"] == rendered.recorded["project_name"]
    assert config["site_description"] == rendered.recorded["description"]
    assert config["strict"] is True
    assert config["theme"]["name"] == "material"
    plugins = {next(iter(p)) if isinstance(p, dict) else p: p for p in config["plugins"]}
    python = plugins["mkdocstrings"]["mkdocstrings"]["handlers"]["python"]
    assert python["options"]["docstring_style"] == "google"
    assert python["paths"] == ["src"]
    for hook in config["hooks"]:
        assert (rendered.path / hook).is_file(), f"hook {hook} does not exist"
    for page in _nav_files(config["nav"]):
        assert (rendered.path / "docs" / page).is_file(), f"nav entry {page} does not exist"
    assert "cli.md" in set(_nav_files(config["nav"])), "no command-line page in the nav"
    pyproject = tomllib.loads((rendered.path / "pyproject.toml").read_text(encoding="utf-8"))
    docs_group = pyproject["dependency-groups"]["docs"]
    # Decision 0012: MkDocs 2 and Material 10 would break the build before the move to Zensical.
    assert "mkdocs>=1.6,<2" in docs_group
    assert "mkdocs-material>=9.5,<10" in docs_group


@pytest.fixture
def docs_hook(
    render: Render, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ModuleType]:
    """The generated docs hook, imported from a fresh render with its package on the path."""
    project = render(tmp_path / "project", project_name="Hook Check", docs=True)
    monkeypatch.syspath_prepend(str(project / "src"))
    hook = project / "docs" / "hooks" / "reference.py"
    spec = importlib.util.spec_from_file_location("reference_hook", hook)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    for name in [name for name in sys.modules if name.split(".")[0] == "hook_check"]:
        del sys.modules[name]


def test_docs_hook_finds_the_modules_of_any_layout(docs_hook: ModuleType, tmp_path: Path) -> None:
    """The API pages follow the package's files, however they are arranged; private ones aside.

    The project's own files come first, then the engine, one navigation section per stage; the
    engine's ``api`` has the task API page instead, and its old module paths get no page.
    """
    src = tmp_path / "src"
    for name in [
        "__init__.py", "__main__.py", "_private.py", "cli.py",
        "engine/__init__.py", "engine/trainer/__init__.py", "engine/trainer/loop.py",
        "engine/_helpers.py", "engine/api.py", "engine/config.py", "tasks/my_task.py",
    ]:  # fmt: skip
        (src / "hook_check" / name).parent.mkdir(parents=True, exist_ok=True)
        (src / "hook_check" / name).write_text('"""A module."""\n', encoding="utf-8")
    modules = docs_hook.package_modules(src)
    assert [(module.name, module.is_package) for module in modules] == [
        ("hook_check", True),
        ("hook_check.cli", False),
        ("hook_check.tasks.my_task", False),
        ("hook_check.engine", True),
        ("hook_check.engine.trainer", True),
        ("hook_check.engine.trainer.loop", False),
    ]
    docs_hook._modules[:] = modules
    nav = docs_hook._with_module_pages([{"Home": "index.md"}, {"API reference": "reference.md"}])
    assert nav[1] == {
        "API reference": [
            {"Overview": "reference.md"},
            {
                "Your files": [
                    {"hook_check": "api/hook_check.md"},
                    {"cli": "api/hook_check.cli.md"},
                    {"tasks.my_task": "api/hook_check.tasks.my_task.md"},
                ]
            },
            {"Task API": "api/task-api.md"},
            {
                "Engine": [
                    {"engine": "api/hook_check.engine.md"},
                    {
                        "trainer": [
                            {"overview": "api/hook_check.engine.trainer.md"},
                            {"loop": "api/hook_check.engine.trainer.loop.md"},
                        ]
                    },
                ]
            },
        ]
    }
    page = docs_hook.module_page(modules[2])
    assert "::: hook_check.tasks.my_task" in page
    assert "members: false" in docs_hook.module_page(modules[0])


def test_docs_hook_writes_the_task_api_page(docs_hook: ModuleType, tmp_path: Path) -> None:
    """The task API page lists every name of api.pyi under its group, linked to its module."""
    stub = tmp_path / "api.pyi"
    stub.write_text(
        "# A header that heads nothing.\n\n"
        "# Building a task.\n"
        "from .seam.task import Task as Task\n"
        "from .seam.task import Monitor as Monitor\n\n"
        "# Errors.\n"
        "from .core.exceptions import DataError as DataError\n",
        encoding="utf-8",
    )
    page = docs_hook.task_api_page(stub)
    engine = "hook_check.engine"
    assert page.index("## Building a task") < page.index("`Task`") < page.index("## Errors")
    assert f"- `Monitor`, from [`{engine}.seam.task`]({engine}.seam.task.md)" in page
    assert f"- `DataError`, from [`{engine}.core.exceptions`]({engine}.core.exceptions.md)" in page
    assert "header" not in page


def test_docs_hook_counts_the_config_sections(docs_hook: ModuleType) -> None:
    """The configuration page has the count of sections generated, never written by hand.

    The count itself is checked on a built site by the generated gate (``check_generated_site``):
    reading the config imports the project's task, and with it torch.
    """
    assert docs_hook.NUMBER_WORDS[7] == "seven"
    source = REPO_ROOT / "template" / "{% if docs %}docs{% endif %}" / "configuration.md.jinja"
    text = source.read_text(encoding="utf-8")
    assert docs_hook.SECTIONS_MARKER in text
    assert not re.search(r"one section each|\bfive\b|\bseven\b", text), "a count written by hand"
