"""Helpers shared by the template's tests.

They build a throw-away git snapshot of the template's working tree, render it with copier's Python
API (always ``unsafe=False``), read copier.yml the way copier does, and run a rendered project's
commands as timed steps whose failures show the command and the tail of its output.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from copier import run_copy
from identify.identify import tags_from_path

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

REPO_ROOT = Path(__file__).resolve().parent.parent

# What copier reads from the repository; tests, docs and CI stay out of the snapshot.
TEMPLATE_PATHS = ("copier.yml", "includes", "template")

# An answer as copier takes it: text, or a flag for a yes/no question.
Answer = str | bool

# project_name has no default, so every answer set gives one.
ANSWER_SETS: dict[str, dict[str, Answer]] = {
    "defaults": {"project_name": "My ML Project"},
    "apache_py310_odd_names": {
        "project_name": "Deep  Vision: Q3 Experiments!",
        "description": "Finds cats & dogs: it's #1 at 100% {not Jinja} <b>",
        "author_name": "Zoë O'Brien-Łukasiewicz",
        "author_email": "zoe.o-brien+ml@lab.example.org",
        "license": "Apache-2.0",
        "python_version": "3.10",
        "docs": True,
        "docker": True,
        "slurm": True,
        "experiment_tracker": "tensorboard",
        "task": "regression",
        "serving": True,
    },
    "bsd_py312": {
        "project_name": "Tabular Baselines",
        "license": "BSD-3-Clause",
        "python_version": "3.12",
        "ci": "none",
        "docker": True,
    },
    "gpl_py313": {
        "project_name": "Speech Lab",
        "license": "GPL-3.0-only",
        "python_version": "3.13",
        "ci": "none",
    },
    "proprietary_py311": {
        "project_name": "Acme Forecasting",
        "project_slug": "acme-forecasting",
        "package_name": "acme_forecast",
        "author_name": "Acme Research",
        "author_email": "ml@acme.example.com",
        "license": "Proprietary",
        "python_version": "3.11",
        "docker": True,
        "serving": True,
        "update_check": True,
        "experiment_tracker": "mlflow",
        "sweeps": True,
        "task": "text_classification",
    },
    "wandb_py311": {
        "project_name": "Vision Sweeps",
        "python_version": "3.11",
        "ci": "none",
        "experiment_tracker": "wandb",
        "task": "image_classification",
        "serving": True,
    },
}

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Template Tests",
    "GIT_AUTHOR_EMAIL": "template-tests@example.com",
    "GIT_COMMITTER_NAME": "Template Tests",
    "GIT_COMMITTER_EMAIL": "template-tests@example.com",
}

RUNNING_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


class _IncludeLoader(yaml.SafeLoader):
    """A YAML loader that resolves copier's ``!include`` tag against the template's root."""

    root: Path = REPO_ROOT


def _construct_include(loader: _IncludeLoader, node: yaml.Node) -> dict[str, Any]:
    pattern = loader.construct_scalar(node)  # type: ignore[arg-type]
    merged: dict[str, Any] = {}
    for path in sorted(loader.root.glob(str(pattern))):
        merged.update(_load_documents(path, loader.root))
    return merged


_IncludeLoader.add_constructor("!include", _construct_include)


def _load_documents(path: Path, root: Path) -> dict[str, Any]:
    loader_class = type("_RootedLoader", (_IncludeLoader,), {"root": root})
    merged: dict[str, Any] = {}
    for document in yaml.load_all(path.read_text(encoding="utf-8"), Loader=loader_class):
        if document:
            merged.update(document)
    return merged


def load_copier_config(root: Path = REPO_ROOT) -> dict[str, Any]:
    """Read copier.yml with its ``!include`` documents merged in, as copier does.

    Args:
        root: Folder that holds copier.yml.

    Returns:
        Settings, questions and computed values, keyed by name.
    """
    return _load_documents(root / "copier.yml", root)


def computed_values(config: Mapping[str, Any]) -> set[str]:
    """Names of the values the template derives (``when: false``) rather than asks."""
    return {
        name
        for name, spec in config.items()
        if not name.startswith("_") and isinstance(spec, dict) and spec.get("when") is False
    }


def asked_questions(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Select the questions copier asks: not settings, not computed (``when: false``) values.

    Args:
        config: The merged copier.yml.

    Returns:
        Each asked question's definition, keyed by its name.
    """
    return {
        name: spec
        for name, spec in config.items()
        if not name.startswith("_") and isinstance(spec, dict) and spec.get("when") is not False
    }


def min_python(answers: Mapping[str, Answer]) -> str:
    """Oldest Python an answer set supports, falling back to copier.yml's default.

    Args:
        answers: The answers given to copier.

    Returns:
        A version such as ``"3.11"``.
    """
    default = str(load_copier_config()["python_version"]["default"])
    return str(answers.get("python_version", default))


def version_key(version: str) -> tuple[int, ...]:
    """Sort key for a dotted version such as ``"3.10"``."""
    return tuple(int(part) for part in version.split("."))


def runs_here(answers: Mapping[str, Answer]) -> bool:
    """Whether this interpreter can run the project an answer set produces end to end."""
    return version_key(min_python(answers)) <= version_key(RUNNING_PYTHON)


# Tracked and untracked files, without the ones .gitignore excludes.
_LIST_WORKING_TREE = ("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--")
_CACHE_FOLDERS = frozenset({"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"})


def _working_tree_files(source: Path) -> list[Path]:
    """Files under TEMPLATE_PATHS that git tracks or would track (ignored files left out)."""
    if (source / ".git").exists():
        listing = subprocess.run(
            [*_LIST_WORKING_TREE, *TEMPLATE_PATHS],
            cwd=source,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        names = sorted({name for name in listing.split("\0") if name})
        return [Path(name) for name in names if (source / name).is_file()]
    return [
        path.relative_to(source)
        for top in TEMPLATE_PATHS
        for path in sorted([source / top, *(source / top).rglob("*")])
        if path.is_file() and not _CACHE_FOLDERS.intersection(path.parts)
    ]


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(
        ["git", "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def make_template_repo(
    dst: Path, *, source: Path = REPO_ROOT, extra_files: Mapping[str, str] | None = None
) -> Path:
    """Copy the template's working tree into a fresh git repository with one commit.

    Uncommitted work is rendered that way, and copier sees a clean repository (no
    DirtyLocalWarning).

    Args:
        dst: Folder to create the repository in; it must not exist yet or be empty.
        source: Repository whose working tree is copied.
        extra_files: Additional files, relative path to text, written before the commit.

    Returns:
        The absolute path of the new repository, to render from.
    """
    dst.mkdir(parents=True, exist_ok=True)
    for relative in _working_tree_files(source):
        target = dst / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / relative, target)
    for name, text in (extra_files or {}).items():
        extra = dst / name
        extra.parent.mkdir(parents=True, exist_ok=True)
        extra.write_text(text, encoding="utf-8")
    _git("init", "-q", cwd=dst)
    _git("add", "-A", cwd=dst)
    _git("commit", "-q", "--no-verify", "-m", "Snapshot of the template under test", cwd=dst)
    return dst.resolve()


def render_project(
    template: Path, dst: Path, answers: Mapping[str, Answer], *, pretend: bool = False
) -> Path:
    """Render the template with copier's API, trust-free and without prompts.

    Args:
        template: Absolute path of a template repository (see make_template_repo).
        dst: Folder to render into.
        answers: Answers to give; the rest take their defaults.
        pretend: Run every step (questions, validators, rendering) but write nothing.

    Returns:
        The rendered project's folder.
    """
    run_copy(
        str(template),
        str(dst),
        data=dict(answers),
        defaults=True,
        unsafe=False,
        quiet=True,
        vcs_ref="HEAD",
        pretend=pretend,
    )
    return dst


def read_answers(project: Path) -> dict[str, Any]:
    """Load a rendered project's copier answers file."""
    loaded = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict), "the answers file is not a mapping"
    return loaded


@dataclass
class Timings:
    """Durations of named steps per answer set, reported at the end of the session."""

    seconds: dict[str, dict[str, float]] = field(default_factory=dict)

    @contextmanager
    def measure(self, answer_set: str, step: str) -> Iterator[None]:
        """Time the enclosed block as ``step`` of ``answer_set``, also when it fails."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds.setdefault(answer_set, {})[step] = time.perf_counter() - start

    def merge(self, seconds: dict[str, dict[str, float]]) -> None:
        """Add the durations another process measured (a pytest-xdist worker's)."""
        for answer_set, steps in seconds.items():
            self.seconds.setdefault(answer_set, {}).update(steps)

    def report_lines(self) -> list[str]:
        """One line per answer set: each step and its duration in seconds."""
        return [
            f"{answer_set}: " + ", ".join(f"{step} {value:.1f}s" for step, value in steps.items())
            for answer_set, steps in sorted(self.seconds.items())
        ]


TIMINGS = Timings()


def output_tail(text: str, *, lines: int = 60) -> str:
    """The last ``lines`` lines of a command's output."""
    return "\n".join(text.rstrip().splitlines()[-lines:])


@dataclass
class StepRunner:
    """Runs commands in a rendered project as named, timed steps that must succeed."""

    answer_set: str
    cwd: Path
    env: Mapping[str, str]
    timeout_s: float = 1200.0

    def run(self, step: str, command: Sequence[str | os.PathLike[str]]) -> str:
        """Run ``command`` and fail the test with its output tail if it exits non-zero.

        Args:
            step: Name the step is timed and reported under.
            command: Program and arguments.

        Returns:
            The command's combined standard output and error.
        """
        with TIMINGS.measure(self.answer_set, step):
            result = subprocess.run(
                [os.fspath(part) for part in command],
                cwd=self.cwd,
                env=dict(self.env),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                timeout=self.timeout_s,
                check=False,
            )
        shown = " ".join(os.fspath(part) for part in command)
        assert result.returncode == 0, (
            f"[{self.answer_set}] {step} failed: `{shown}` exited {result.returncode} "
            f"in {self.cwd}\n--- output tail ---\n{output_tail(result.stdout)}"
        )
        return result.stdout


def run_static_gate(steps: StepRunner) -> None:
    """The project's gate before its tests: ruff, ruff format, the import contracts and mypy."""
    steps.run("ruff check", ["ruff", "check", "."])
    steps.run("ruff format", ["ruff", "format", "--check", "."])
    steps.run("lint-imports", ["lint-imports"])
    steps.run("mypy", ["mypy"])


def with_copier(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with this suite's copier on PATH, as a team has its own for ``template-diff``."""
    return {**env, "PATH": os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])}


# The file hooks of pre-commit-hooks by hook id: the module that runs each, the identify tag
# pre-commit selects its files by, and arguments that make a check of all files act as a first
# commit does (every file staged, a merge in progress for the conflict check).
FILE_HOOKS = {
    "trailing-whitespace": ("trailing_whitespace_fixer", "text", []),
    "end-of-file-fixer": ("end_of_file_fixer", "text", []),
    "check-yaml": ("check_yaml", "yaml", []),
    "check-toml": ("check_toml", "toml", []),
    "check-merge-conflict": ("check_merge_conflict", "text", ["--assume-in-merge"]),
    "check-added-large-files": ("check_added_large_files", "file", ["--enforce-all"]),
    "detect-private-key": ("detect_private_key", "text", []),
}


def file_hook_failures(project: Path, files: Sequence[str]) -> list[str]:
    """Run the project's file hooks on ``files`` as pre-commit would, from the installed package.

    Each hook gets the files pre-commit would pass it: those of its identify tag that match its
    ``files`` pattern and none of its or the config's ``exclude`` patterns, with its ``args``.

    Returns:
        One entry per failing hook: its id and output.
    """
    config = yaml.safe_load((project / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}
    skip_all = re.compile(config.get("exclude", "^$"))
    failed = []
    for hook_id, (module, tag, extra) in FILE_HOOKS.items():
        hook = hooks[hook_id]
        wanted, skipped = re.compile(hook.get("files", "")), re.compile(hook.get("exclude", "^$"))
        selected = [
            name
            for name in files
            if tag in tags_from_path(str(project / name))
            and wanted.search(name)
            and not skipped.search(name)
            and not skip_all.search(name)
        ]
        command = [sys.executable, "-m", f"pre_commit_hooks.{module}", *hook.get("args", [])]
        result = subprocess.run(
            [*command, *extra, *selected],
            cwd=project,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            failed.append(f"{hook_id}:\n{output_tail(result.stdout)}")
    return failed
