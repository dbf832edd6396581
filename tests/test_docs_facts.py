"""What the docs state, checked against the code, without running anything.

tests/test_docs_run.py runs the docs' code; this module checks what they say around it, fast:

- every code block of every page has a known handling: it runs in test_docs_run.py, or its mark
  names a reason from the one list of exceptions (tests/docs_blocks.py);
- every command and option the docs name is one of the generated project's command line, every
  config key one of its config, and every file, folder and engine module one that exists (an
  engine module that is only an old path kept for a release counts as gone);
- the facts the template's README tabulates (the questions and their defaults, the supported
  Pythons) are those of copier.yml.

The pages: this repository's README, tutorial, how-tos, reference pages and update guide, and
the README and docs site of projects rendered with every option, with the image task and with
the default answers. Design records (docs/decisions/) are history and keep the names of their day.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from tests.docs_blocks import NOT_RUN, Block, blocks, page_blocks, shell_commands
from tests.helpers import (
    REPO_ROOT,
    asked_questions,
    load_copier_config,
    read_answers,
    render_project,
)
from tests.test_docs_run import EVERYTHING, PROJECT_PAGES, WORKDIR_PAGES

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

# Pages of this repository that users read, and those test_docs_run.py runs block by block.
PAGES = sorted(
    str(path.relative_to(REPO_ROOT))
    for path in [REPO_ROOT / "README.md", *(REPO_ROOT / "docs").rglob("*.md")]
    if "decisions" not in path.parts
)
RUN_PAGES = {
    *PROJECT_PAGES,
    *WORKDIR_PAGES,
    "docs/updating.md",
    "docs/how-to/update-from-0.1.md",
    "README.md",
}
# Where old engine paths are the subject: the update guide tells how to leave them.
OLD_PATHS_ALLOWED = {"docs/updating.md", "docs/how-to/update-from-0.1.md"}
LANGUAGES = {"sh", "bash", "shell", "python", "yaml", "toml", "text"}
# The projects whose pages and names are checked: every option, the image and text tasks, the
# defaults.
RENDERS: dict[str, dict[str, Any]] = {
    "everything": EVERYTHING,
    "image": {**EVERYTHING, "task": "image_classification", "experiment_tracker": "mlflow"},
    "text": {"task": "text_classification", "serving": True},
    "wandb": {"experiment_tracker": "wandb", "task": "regression"},
    "defaults": {},
}
# Top-level folders a path in the docs may start with; others (runs/, data/) are made at run time.
PATH_ROOTS = (
    "src/", "engine/", "tests/", "configs/", "docs/", "benchmarks/", "slurm/", ".github/",
    "template/", "includes/", ".ci/",
)  # fmt: skip
SUFFIXES = (".py", ".pyi", ".yaml", ".yml", ".toml", ".md", ".sbatch", ".cfg")
# Files a run or an export writes, whose names read like config keys (`run.json`, `model.onnx`).
OUTPUT_SUFFIXES = (".json", ".jsonl", ".log", ".safetensors", ".onnx", ".pt2", ".pt", ".csv")
INLINE_CODE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
SECTION_KEY = re.compile(r"^([a-z_]+)\.([a-z_]+)(?:[.=\s]|$)")
# Prints, as JSON, each command of a generated project's command line with its options, and
# every config key (``config keys``). Only typer, pydantic and yaml are needed: every other
# package (torch, numpy, pyarrow, ...) is a stand-in module whose every name is a class, enough
# for the project's modules to be imported, whether this Python has the package or not, so the
# probe sees the same here as on a CI machine with nothing but the template's dev group.
PROBE = """
import importlib.abc, importlib.machinery, json, sys, types
from importlib import import_module


REAL = {
    "annotated_types", "click", "markdown_it", "mdurl", "pydantic", "pydantic_core", "pygments",
    "rich", "shellingham", "typer", "typing_extensions", "typing_inspection", "yaml",
}


class StandInType(type):
    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return StandInType(name, (StandIn,), {})

    def __getitem__(cls, item):
        return cls

    def __or__(cls, other):
        return cls

    __ror__ = __or__

    def __float__(cls):  # constants such as float(numpy.finfo(numpy.float32).max)
        return 1.0

    def __index__(cls):
        return 1

    __int__ = __index__


class StandIn(metaclass=StandInType):
    def __init__(self, *args, **kwargs):
        pass

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return StandInType(name, (StandIn,), {})()

    def __call__(self, *args, **kwargs):  # a decorator returns what it decorates
        return args[0] if len(args) == 1 and callable(args[0]) and not kwargs else StandIn()

    def __float__(self):
        return 1.0

    def __index__(self):
        return 1

    __int__ = __index__


class StandInModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return StandInType(name, (StandIn,), {})


class StandIns(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, package):
        self.real = REAL | {package} | set(sys.stdlib_module_names)

    def find_spec(self, name, path, target=None):
        top = name.partition(".")[0]
        if top in self.real or top.startswith("_"):  # _-names: the interpreter's own
            return None
        return importlib.machinery.ModuleSpec(name, self, is_package=True)

    def create_module(self, spec):
        module = StandInModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module):
        pass


package = sys.argv[1]
sys.meta_path.insert(0, StandIns(package))
import typer.main
from typer.testing import CliRunner

app = import_module(package + ".engine.commands.app").app
commands = {}

def walk(command, path):
    options = [opt for param in command.params for opt in (*param.opts, *param.secondary_opts)]
    commands[" ".join(path)] = {
        "options": sorted({*options, "--help"}),
        "subcommands": sorted(getattr(command, "commands", {})),
    }
    for name, sub in getattr(command, "commands", {}).items():
        walk(sub, [*path, name])

walk(typer.main.get_command(app), [])
result = CliRunner().invoke(app, ["config", "keys"], prog_name="x")
if result.exit_code != 0:
    raise SystemExit(f"config keys exited {result.exit_code}: {result.output}{result.exception!r}")
names = [line.split(" ")[0] for line in result.output.splitlines()]
print(json.dumps({"commands": commands, "keys": names}))
"""


@dataclass(frozen=True)
class Project:
    """A rendered project and what its command line and config hold."""

    path: Path
    package: str
    slug: str
    commands: dict[str, dict[str, list[str]]]
    keys: frozenset[str]
    moved: frozenset[str]

    def pages(self) -> list[str]:
        """Its README and the pages of its docs site."""
        site = sorted(str(page.relative_to(self.path)) for page in self.path.glob("docs/*.md"))
        return ["README.md", *site]


def probe(path: Path) -> Project:
    """Read a rendered project's commands, options and config keys."""
    answers = read_answers(path)
    package, slug = answers["package_name"], answers["project_slug"]
    result = subprocess.run(
        [sys.executable, "-c", PROBE, package],
        env={"PYTHONPATH": str(path / "src"), "TYPER_USE_RICH": "0", "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"probing {path.name} failed:\n{result.stderr[-3000:]}"
    found = json.loads(result.stdout)
    assert found["keys"], f"{path.name}: `config keys` listed no key"
    deprecation = path / "src" / package / "engine" / "core" / "deprecation.py"
    [moved] = [
        ast.literal_eval(node.value)
        for node in ast.parse(deprecation.read_text(encoding="utf-8")).body
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "MOVED_MODULES"
    ]
    return Project(path, package, slug, found["commands"], frozenset(found["keys"]), moved)


@pytest.fixture(scope="module")
def projects(template_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Project]:
    """Each project of ``RENDERS``, rendered and probed."""
    root = tmp_path_factory.mktemp("facts")
    return {
        name: probe(render_project(template_repo, root / name / "my-ml-project", answers))
        for name, answers in RENDERS.items()
    }


# --- Every block has a known handling ----------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_every_block_runs_or_says_why_not(page: str) -> None:
    """A block of a page the run tests skip must carry a reason from the one list of them."""
    for block in page_blocks(REPO_ROOT / page, page=page):  # an unknown mark raises
        assert block.language in LANGUAGES, f"{block.where}: unknown language {block.language!r}"
        runs = page in RUN_PAGES or block.language == "text" or block.kind == "not-run"
        assert runs, f"{block.where}: {page} is not among the pages tests/test_docs_run.py runs"


def test_generated_pages_mark_only_known_reasons(projects: dict[str, Project]) -> None:
    """Every mark in a generated page is known (the pages of ``everything`` run in full)."""
    for name, project in projects.items():
        for page in project.pages():
            for block in page_blocks(project.path / page, page=f"{name}: {page}"):
                assert block.language in LANGUAGES, f"{block.where}: {block.language!r}"


def test_exceptions_are_few_and_documented() -> None:
    """The list of blocks that cannot run stays short, and tests/README.md gives it."""
    readme = (REPO_ROOT / "tests" / "README.md").read_text(encoding="utf-8")
    assert len(NOT_RUN) <= 8, "the exceptions to 'if it is printed, it runs' keep growing"
    for reason in NOT_RUN:
        assert f"`{reason}`" in readme, f"tests/README.md does not list the reason {reason!r}"


# --- Names the docs use ------------------------------------------------------------------------


def test_commands_and_options_exist(projects: dict[str, Project]) -> None:
    """Each ``<command> ... --option`` the docs show is one of the project's command line."""
    wrong = []
    for page, text, project in pages_to_check(projects):
        wrong += [f"{page}: {problem}" for problem in command_problems(text, project)]
    assert not wrong, "\n".join(wrong)


def test_config_keys_exist(projects: dict[str, Project]) -> None:
    """Each ``section.key`` the docs name, and each ``--set`` key, is one of the config's.

    A key of a model or task that the page itself writes (a ``file`` block) counts as known.
    """
    wrong = []
    for page, text, project in pages_to_check(projects):
        keys = project.keys | written_fields(text)
        sections = {key.split(".")[0] for key in keys}
        for key in named_keys(text, sections):
            if not any(known == key or known.startswith(f"{key}.") for known in keys):
                wrong.append(f"{page}: `{key}` is not a config key")
    assert not wrong, "\n".join(sorted(set(wrong)))


def test_files_and_modules_exist(projects: dict[str, Project]) -> None:
    """Each project file, folder or engine module the docs name exists, and not as an old path.

    A file the page itself makes (a ``file`` block, or a command of the page that names it)
    counts as existing.
    """
    wrong = []
    for page, text, project in pages_to_check(projects):
        made = made_by_page(text)
        old_allowed = page in OLD_PATHS_ALLOWED
        for name in named_paths(text, project):
            problem = path_problem(name, project, old_allowed=old_allowed)
            if problem and name not in made:
                wrong.append(f"{page}: `{name}` {problem}")
    assert not wrong, "\n".join(sorted(set(wrong)))


def test_the_checks_catch_wrong_names(projects: dict[str, Project]) -> None:
    """A page naming a command, option, key, file and module that do not exist fails each check."""
    project = projects["defaults"]
    page = """
```sh
uv run --no-sync my-ml-project fit
uv run --no-sync my-ml-project train --no-such-option --set data.no_such_key=1
```

Keys `train.epochs` and `optim.nonsense`; files `src/my_ml_project/engine/nope.py` and
`engine/config.py`; the module `my_ml_project.engine.training`; a valid `evaluate --split test`.
"""
    assert list(command_problems(page, project)) == [
        "`my-ml-project` has no command 'fit'",
        "`my-ml-project train` has no option --no-such-option",
    ]
    sections = {key.split(".")[0] for key in project.keys}
    named = list(named_keys(page, sections))
    assert [key for key in named if key not in project.keys] == [
        "optim.nonsense",
        "data.no_such_key",
    ]
    problems = {
        name: path_problem(name, project, old_allowed=False) for name in named_paths(page, project)
    }
    assert problems["src/my_ml_project/engine/nope.py"] == "does not exist"
    assert "old path" in str(problems["engine/config.py"])
    assert "old path" in str(problems["my_ml_project.engine.training"])


# --- Facts the README tabulates ----------------------------------------------------------------


def test_readme_questions_table_is_copier_yml() -> None:
    """The README's table has a row for each question copier asks, with its default."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    rows = {
        match[1]: match[2].strip()
        for match in re.finditer(r"^\| `([a-z_]+)`[^|]*\| ([^|]*) \|", readme, re.MULTILINE)
    }
    for name, spec in asked_questions(load_copier_config()).items():
        assert name in rows or name in {"author_email"}, f"the README's table lacks {name!r}"
        default = spec.get("default")
        if name in rows and isinstance(default, bool):
            assert rows[name] == ("yes" if default else "no"), f"{name}: default {rows[name]!r}"
        elif name in rows and isinstance(default, str) and "{{" not in default:
            assert rows[name].startswith(default), f"{name}: the README says {rows[name]!r}"


def test_pythons_the_docs_name_are_copier_yml() -> None:
    """The Python the README and tutorial ask for is the default answer; the range its choices."""
    question = asked_questions(load_copier_config())["python_version"]
    default, choices = question["default"], question["choices"]
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    tutorial = (REPO_ROOT / "docs" / "tutorial.md").read_text(encoding="utf-8")
    assert f"Python {default}+" in readme
    assert f"Python {default} or newer" in tutorial
    assert f"{choices[0]} to {choices[-1]}" in tutorial
    assert f"({choices[0]} to {choices[-1]})" in readme


def test_home_page_lists_every_guide_and_decision() -> None:
    """The docs home links every how-to guide and every decision record."""
    home = (REPO_ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    docs = REPO_ROOT / "docs"
    for page in sorted([*docs.glob("how-to/*.md"), *docs.glob("decisions/[0-9]*.md")]):
        link = f"({page.relative_to(docs)})"
        assert link in home, f"docs/index.md does not link {link}"


# --- Reading the pages -------------------------------------------------------------------------


def pages_to_check(projects: dict[str, Project]) -> Iterator[tuple[str, str, Project]]:
    """Each page with the project its names are checked against.

    This repository's pages name the project of every option (and the image task's files);
    a generated page names its own project.
    """
    everything = projects["everything"]
    every_key = frozenset().union(*(project.keys for project in projects.values()))
    union = Project(**{**vars(everything), "keys": every_key})
    for page in PAGES:
        yield page, (REPO_ROOT / page).read_text(encoding="utf-8"), union
    for name, project in projects.items():
        for page in project.pages():
            yield f"{name}: {page}", (project.path / page).read_text(encoding="utf-8"), project


def code_of(text: str) -> tuple[list[Block], list[str]]:
    """A page's blocks, and its inline code spans outside them."""
    found = blocks(text, page="")
    prose = re.sub(r"^( *)```.*?^\1```", "", text, flags=re.MULTILINE | re.DOTALL)
    return found, INLINE_CODE.findall(prose)


def command_lines(text: str, project: Project) -> Iterator[list[str]]:
    """The arguments after the project's command in each command a page shows."""
    found, spans = code_of(text)
    lines = [
        command
        for block in found
        if block.language in {"sh", "bash", "shell"}
        for command in shell_commands(block.code)
    ]
    commands = set(project.commands[""]["subcommands"])
    lines += [span for span in spans if span.split(" ")[0] in {project.slug, *commands}]
    for line in lines:
        for part in re.split(r"&&|\|\||[|;]", line):
            try:
                words = shlex.split(part, comments=True)
            except ValueError:
                continue
            for start, word in enumerate(words):
                if word == project.slug or (word == project.package and "-m" in words[:start]):
                    yield words[start + 1 :]
                    break
            else:
                if words and words[0] in commands and part.strip() in spans:
                    yield words


def command_problems(text: str, project: Project) -> Iterator[str]:
    """Commands and options of a page that the project's command line does not have."""
    for arguments in command_lines(text, project):
        path: list[str] = []
        words = iter(arguments)
        for word in words:
            if word in {">", ">>", "2>&1"} or word.startswith((">", "<")):
                break
            command = project.commands[" ".join(path)]
            if word.startswith("-"):
                option = word.split("=")[0]
                if option not in command["options"]:
                    yield f"`{' '.join([project.slug, *path])}` has no option {option}"
                if option == "--set":
                    next(words, None)
            elif word in command["subcommands"] and not any(a.startswith("-") for a in path):
                path.append(word)
            elif command["subcommands"] and not path:
                yield f"`{project.slug}` has no command {word!r}"
                break


def named_keys(text: str, sections: set[str]) -> Iterator[str]:
    """The config keys a page names: ``--set`` values and ``section.key`` code spans."""
    _, spans = code_of(text)
    candidates = [*spans, *(match for match in re.findall(r"--set[ =]([^\s'\"]+)", text))]
    for candidate in (candidate.strip() for candidate in candidates):
        match = SECTION_KEY.match(candidate)
        if match and match[1] in sections and not candidate.endswith(SUFFIXES + OUTPUT_SUFFIXES):
            yield f"{match[1]}.{match[2]}"


def written_fields(text: str) -> frozenset[str]:
    """``section.field`` for each settings field a page's ``file`` blocks define.

    A model's fields are ``model.<field>``, a task's ``task.<field>``: the page's files are the
    team's, and their sections are those two.
    """
    found, _ = code_of(text)
    fields = {
        match
        for block in found
        if block.kind == "file" and block.language == "python"
        for match in re.findall(r"^    (\w+): [^=]+= Field\(", block.code, re.MULTILINE)
    }
    return frozenset(f"{section}.{name}" for section in ("model", "task") for name in fields)


def made_by_page(text: str) -> set[str]:
    """Paths a page writes: its ``file`` blocks and the words of its shell blocks."""
    found, _ = code_of(text)
    made = {block.argument for block in found if block.kind == "file"}
    for block in found:
        if block.language in {"sh", "bash", "shell"}:
            made.update(re.findall(r"[\w./-]+", block.code))
    return made


def named_paths(text: str, project: Project) -> Iterator[str]:
    """The project files, folders and engine modules a page names in code spans."""
    _, spans = code_of(text)
    for span in spans:
        name = span.strip().replace("<package>", project.package).replace("<pkg>", project.package)
        if " " in name or "<" in name or "*" in name or "..." in name:
            continue
        path = name.startswith(PATH_ROOTS) or (name.endswith(SUFFIXES) and "/" in name)
        if path or re.fullmatch(r"(\.{1,2}|\w+\.)?engine(\.\w+)+", name):
            yield name


def path_problem(name: str, project: Project, *, old_allowed: bool) -> str | None:
    """Why ``name`` (a path or a dotted engine module) is not in ``project``, or None."""
    engine = project.path / "src" / project.package / "engine"
    if "/" not in name:  # a dotted module, maybe followed by a name it defines
        parts = name.lstrip(".").split(".")
        parts = parts[parts.index("engine") + 1 :]
        where = engine
        for part in parts:
            if (where / part).is_dir():
                where = where / part
            elif (where / f"{part}.py").is_file() or (where / f"{part}.pyi").is_file():
                where = where / f"{part}.py"
                break
            elif where == engine:
                return "names no engine module"
            else:
                break
        top = parts[0] if parts else ""
        if top in project.moved and not old_allowed:
            return f"is an old path (engine.{top} moved; see engine/core/deprecation.py)"
        return None
    name = name.strip("/").removeprefix(f"{project.path.name}/")  # "/README.md": a pattern
    bases = [project.path, project.path / "src" / project.package, REPO_ROOT]
    found = [base / name for base in bases if (base / name).exists()]
    if not found:
        return "does not exist"
    relative = name.removeprefix(f"src/{project.package}/")
    if relative.startswith("engine/") and not old_allowed:
        top = relative.split("/")[1].removesuffix(".py")
        if top in project.moved:
            return f"is an old path (engine/{top} moved)"
    return None
