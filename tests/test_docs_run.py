"""If a doc prints it, a test runs it: every code block of the docs users follow.

The pages: this repository's README, tutorial, how-tos, update guide and reference pages, and a
rendered project's README and docs site. Each page runs from top to bottom as a reader would
follow it, in a project (or a working folder) of its own: shell blocks run in bash, Python
blocks run in the project's interpreter, files a page asks for are written and go through the
project's gate, excerpts are checked against the files they quote, YAML and TOML are parsed.
The marks that change this, and the short list of blocks that cannot run here, are in
``tests/docs_blocks.py``; ``test_docs_facts.py`` checks, without running anything, that every
block of every page has a known handling. Only the torch index is overridden: both PyTorch
indexes the project names point at the CPU build this session installs (as the README's CPU-only
lock says).
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import time
import tomllib
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml
from copier import run_copy

from tests.docs_blocks import (
    READER_FILES,
    Block,
    excerpt_missing,
    page_blocks,
    placeholders,
)
from tests.helpers import (
    REPO_ROOT,
    TIMINGS,
    Answer,
    StepRunner,
    file_hook_failures,
    output_tail,
    read_answers,
    render_project,
    run_static_gate,
)
from tests.install import create_venv_command, install_project_command, project_env
from tests.test_compat import release_from_history
from tests.test_update import NEW, OLD, commit_all, git, tagged_versions

if TYPE_CHECKING:
    from collections.abc import Iterator

TIMED = "docs"
PYTORCH_CPU = "https://download.pytorch.org/whl/cpu"
# The pages of this repository, and the answers of the project each runs in.
HOWTO_ANSWERS: dict[str, Answer] = {
    "project_name": "My ML Project",
    "serving": True,
    "sweeps": True,
}
PROJECT_PAGES = [
    "docs/how-to/add-data.md",
    "docs/how-to/add-model.md",
    "docs/how-to/bring-your-own-task.md",
    "docs/how-to/control-training.md",
    "docs/how-to/multi-gpu.md",
    "docs/how-to/run-experiments.md",
    "docs/how-to/serve-a-model.md",
    "docs/how-to/stop-and-resume.md",
    "docs/how-to/tune-training.md",
    "docs/reference/task-api.md",
]
# Pages that start from a template, in an empty working folder, and those among them that also
# change a project of the reader's.
WORKDIR_PAGES = [
    "docs/tutorial.md",
    "docs/reference/questions.md",
    "docs/how-to/track-experiments.md",
    "docs/how-to/image-folders.md",
    "docs/how-to/text-classification.md",
]
PAGES_WITH_A_PROJECT = frozenset({"docs/how-to/track-experiments.md"})
# The rendered project whose README and docs site run: every optional part answered yes.
EVERYTHING: dict[str, Answer] = {
    "project_name": "My ML Project",
    "docs": True,
    "serving": True,
    "sweeps": True,
    "slurm": True,
    "docker": True,
    "experiment_tracker": "tensorboard",
}


@dataclass
class Reader:
    """Follows a page: runs its blocks in order, in ``cwd``, with ``env``."""

    name: str
    cwd: Path
    env: dict[str, str]
    template: Path
    torch_index: str | None
    excerpts: list[Block] = field(default_factory=list)
    servers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    skipped: list[Block] = field(default_factory=list)

    def follow(self, blocks: list[Block]) -> None:
        """Run every block, then check the page's excerpts against the files as they now are."""
        named = {name for name in READER_FILES if any(name in block.code for block in blocks)}
        write_reader_files(self.cwd, named)
        try:
            for block in blocks:
                with TIMINGS.measure(f"{TIMED}: {self.name}", f"line {block.line}"):
                    self.run(block)
            for block in self.excerpts:
                text = (self.project / block.argument).read_text(encoding="utf-8")
                missing = excerpt_missing(block.code, text)
                assert not missing, f"{block.where}: {block.argument} lacks {missing}"
        finally:
            for server in self.servers:
                server.terminate()
                server.wait(timeout=30)

    @property
    def project(self) -> Path:
        """The project the page works in: the folder it is in, or the one it went into."""
        return self.cwd

    def run(self, block: Block) -> None:
        """Run one block as its language and mark say."""
        code = placeholders(block.code, self.values())
        if block.kind == "not-run":
            self.skipped.append(block)
        elif block.kind == "excerpt":
            self.excerpts.append(block)
        elif block.kind == "file":
            target = self.project / block.argument
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(code, encoding="utf-8")
        elif block.kind == "background":
            self.start_server(block, code)
        elif block.language in {"sh", "bash", "shell"}:
            self.shell(block, code)
        elif block.language == "python":
            self.python(block, code)
        elif block.language == "yaml":
            yaml.safe_load(code)
        elif block.language == "toml":
            tomllib.loads(code)

    def values(self) -> dict[str, str]:
        """What each placeholder a reader replaces stands for, now."""
        values = {
            "gh:org/ml-template": str(self.template),
            # The newest run when the command runs, not when the block starts (see shell()).
            "<run folder>": "$(newest_run)",
        }
        if self.torch_index is not None:  # the session's CPU build stands in for the CPU index
            index = self.torch_index
            # A line that sets UV_INDEX itself keeps the CPU index this session overrides too.
            values[f"UV_INDEX=pytorch-cu128={PYTORCH_CPU}"] = (
                f'UV_INDEX="pytorch-cu128={index} pytorch-cpu={index}"'
            )
            values[PYTORCH_CPU] = index
        return values

    def shell(self, block: Block, code: str) -> None:
        """Run a shell block; a ``cd`` in it moves the reader on for the next blocks."""
        state = self.cwd / ".docs-cwd"
        script = f"set -euo pipefail\n{NEWEST_RUN}\n{code}\npwd > {state}\n"
        result = subprocess.run(
            ["bash", "-c", script],
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            timeout=1200,
            check=False,
        )
        assert result.returncode == 0, (
            f"{block.where} exited {result.returncode}:\n{code}\n--- output tail ---\n"
            f"{output_tail(result.stdout)}"
        )
        if state.is_file():
            self.cwd = Path(state.read_text(encoding="utf-8").strip())
            state.unlink()

    def python(self, block: Block, code: str) -> None:
        """Run a Python block with the project's interpreter, in the project."""
        script = self.cwd / ".docs_block.py"
        script.write_text(code, encoding="utf-8")
        try:
            self.shell(block, f"python {script.name}")
        finally:
            script.unlink()

    def start_server(self, block: Block, code: str) -> None:
        """Start the block in the background and wait until the address of its mark answers."""
        server = subprocess.Popen(
            ["bash", "-c", f"exec {code.strip()}"], cwd=self.cwd, env=self.env
        )
        self.servers.append(server)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert server.poll() is None, f"{block.where}: the server exited {server.returncode}"
            try:
                with urllib.request.urlopen(block.argument, timeout=2):
                    return
            except OSError:
                time.sleep(0.5)
        pytest.fail(f"{block.where}: {block.argument} did not answer within two minutes")


def write_reader_files(folder: Path, names: set[str]) -> None:
    """The data files of ``READER_FILES`` that a page names, which a reader is taken to have.

    For the default task: ``features.csv``, 16 features a row, as ``predict`` reads;
    ``held_out.csv``, the same with a ``label`` column, as ``evaluate --data`` reads.
    """
    generator = random.Random(0)
    header = [f"f{column}" for column in range(16)]
    for name in sorted(names):
        labelled = name == "held_out.csv"
        lines = [",".join([*header, *(["label"] if labelled else [])])]
        for row in range(32):
            values = [f"{generator.gauss(0, 1):.4f}" for _ in header]
            lines.append(",".join([*values, *([str(row % 4)] if labelled else [])]))
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


def after_copy_blocks(output: str) -> list[Block]:
    """The commands of the message Copier prints after a copy, one block a line, as typed.

    The next steps come first; each line that asks a question (``Only the CPU PyTorch index
    reachable? <command>``) runs its command after them.
    """
    text = re.sub(r"\x1b\[[0-9;]*m", "", output)  # copier colours what it prints
    lines = text[text.index("Next steps:") :].splitlines()
    page = "after-copy message"
    found = []
    for number, line in enumerate(lines[1:], start=2):
        _, asks, command = line.rpartition("? ")
        if line.startswith("  "):  # a step
            found.append(Block(page, number, "sh", line.strip()))
        elif asks and command:
            found.append(Block(page, number, "sh", command))
    return found


# A reader's "runs/<run folder>": the newest run folder under runs/ when the command runs.
NEWEST_RUN = 'newest_run() { basename "$(dirname "$(ls -t runs/*/run.json | head -n 1)")"; }'


def docs_env(
    project_venv: Path | None, *, torch_index: str | None, mypy_cache: Path
) -> dict[str, str]:
    """The environment a reader's shell has: the project's venv, this suite's copier and uv.

    A venv that uv made has no pip of its own, so a page's ``pip`` is this suite's: told to
    install into the project's venv (``PIP_PYTHON``), as the reader's activated venv would,
    never into the suite's own.
    """
    venv = project_venv or Path(sys.executable).parent.parent
    env = project_env(venv, torch_index=torch_index, mypy_cache=mypy_cache)
    if torch_index is not None:  # both PyTorch indexes: the CPU build (the CPU-only lock)
        env["UV_INDEX"] = f"pytorch-cpu={torch_index} pytorch-cu128={torch_index}"
    tools = str(Path(sys.executable).parent)  # copier, uv, pre-commit of this suite
    env["PATH"] = os.pathsep.join([env["PATH"], tools])
    if project_venv is not None:
        env["PIP_PYTHON"] = str(project_venv / "bin" / "python")
    return env


@pytest.fixture(scope="module")
def howto_project(
    template_repo: Path,
    tmp_path_factory: pytest.TempPathFactory,
    torch_index: str | None,
    mypy_cache: Path,
) -> tuple[Path, dict[str, str]]:
    """The default answers (with serving and sweeps), installed once and committed."""
    project = render_project(
        template_repo, tmp_path_factory.mktemp("howto") / "my-ml-project", HOWTO_ANSWERS
    )
    venv = project / ".venv"
    env = docs_env(venv, torch_index=torch_index, mypy_cache=mypy_cache)
    steps = StepRunner(f"{TIMED}: how-to project", project, env)
    steps.run("venv", create_venv_command(venv))
    steps.run("install", install_project_command(venv))
    steps.run("git", ["git", "init", "-q", "-b", "main"])
    steps.run("commit", ["git", "add", "-A"])
    steps.run("commit", ["git", "commit", "-q", "--no-verify", "-m", "Render"])
    return project, env


@pytest.fixture
def clean_project(
    howto_project: tuple[Path, dict[str, str]],
) -> Iterator[tuple[Path, dict[str, str]]]:
    """The how-to project as rendered: what a page leaves behind is removed after it."""
    project, env = howto_project
    yield project, env
    subprocess.run(["git", "checkout", "-q", "--", "."], cwd=project, check=True)
    subprocess.run(["git", "clean", "-qfdx", "-e", ".venv"], cwd=project, check=True)


@pytest.mark.slow
@pytest.mark.parametrize("page", PROJECT_PAGES)
def test_howto_runs(
    page: str,
    clean_project: tuple[Path, dict[str, str]],
    template_repo: Path,
    torch_index: str | None,
) -> None:
    """A how-to, followed in a project of the default answers, runs; its files pass the gate."""
    project, env = clean_project
    reader = Reader(page, project, env, template_repo, torch_index)
    reader.follow(page_blocks(REPO_ROOT / page, page=page))
    if any(block.kind == "file" for block in page_blocks(REPO_ROOT / page, page=page)):
        steps = StepRunner(f"{TIMED}: {page}", project, env)
        run_static_gate(steps)
        steps.run(
            "pytest",
            [
                "python",
                "-m",
                "pytest",
                "-p",
                "no:cacheprovider",
                "--no-cov",
                "tests/test_task.py",
                "tests/test_data.py",
                "tests/models",
            ],
        )


@pytest.fixture(scope="module")
def versions(template_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template as a team keeps it: tagged ``0.2.0``, and ``0.3.0`` one change later."""
    repo = tmp_path_factory.mktemp("docs-versions") / "ml-template"
    return tagged_versions(template_repo, repo)


def committed_copy(template: Path, dst: Path, ref: str) -> Path:
    """A project copied from ``ref`` with the default answers and committed, as a reader's is."""
    run_copy(str(template), str(dst), vcs_ref=ref, defaults=True, unsafe=False, quiet=True)
    git(dst, "init", "-q", "-b", "main")
    commit_all(dst, "Start from the ML template")
    return dst


@pytest.mark.slow
@pytest.mark.parametrize("page", WORKDIR_PAGES)
def test_page_from_a_template_runs(
    page: str,
    versions: Path,
    tmp_path: Path,
    torch_index: str | None,
    mypy_cache: Path,
) -> None:
    """A page that starts with ``copier copy`` runs from an empty folder, step by step.

    The folder also holds a project of the reader's, ``my-ml-project``, copied and committed, for
    the pages that change a project that exists.
    """
    env = docs_env(None, torch_index=torch_index, mypy_cache=mypy_cache)
    env.pop("VIRTUAL_ENV")  # the page makes the project's own .venv
    if page in PAGES_WITH_A_PROJECT:
        committed_copy(versions, tmp_path / "my-ml-project", NEW)
    reader = Reader(page, tmp_path, env, versions, torch_index)
    reader.follow(page_blocks(REPO_ROOT / page, page=page))


@pytest.mark.slow
def test_update_guide_runs(
    versions: Path, tmp_path: Path, torch_index: str | None, mypy_cache: Path
) -> None:
    """The update guide, followed in a project copied from 0.2.0 when 0.3.0 is out."""
    project = committed_copy(versions, tmp_path / "my-ml-project", OLD)
    env = docs_env(None, torch_index=torch_index, mypy_cache=mypy_cache)
    env.pop("VIRTUAL_ENV")
    page = "docs/updating.md"
    Reader(page, project, env, versions, torch_index).follow(
        page_blocks(REPO_ROOT / page, page=page)
    )
    assert read_answers(project)["_commit"] == NEW


# Template 0.1: the last commit before the engine moved into engine/ (the task seam).
RELEASE_0_1 = "91e7317ceb661f8668fefebb582472ff6e390b74"
# What a team of 0.1 had changed in the engine: label smoothing in the training loss.
LOSS_0_1 = "loss = F.cross_entropy(self.forward(features), targets)"


@pytest.mark.slow
def test_update_from_0_1_runs(
    template_repo: Path, tmp_path: Path, torch_index: str | None, mypy_cache: Path
) -> None:
    """A project made with 0.1 and customised in its engine, updated by the page to a green gate.

    The template repository holds 0.1 from this repository's history, and the working tree as
    0.2.0; the project is copied from 0.1 and committed as its after-copy steps said then.
    """
    if subprocess.run(
        ["git", "-C", str(REPO_ROOT), "cat-file", "-e", f"{RELEASE_0_1}^{{commit}}"],
        capture_output=True,
        check=False,
    ).returncode:
        pytest.skip(f"needs this repository's history back to {RELEASE_0_1[:12]} (unshallow)")
    repo = tmp_path / "ml-template"
    git(tmp_path, "clone", "-q", str(template_repo), repo.name)
    release_from_history(repo, RELEASE_0_1, "0.1.0")
    git(repo, "tag", "0.2.0")
    project = committed_copy(repo, tmp_path / "my-ml-project", "0.1.0")
    training = project / "src" / "my_ml_project" / "training.py"
    smoothed = LOSS_0_1.replace("targets)", "targets, label_smoothing=0.1)")
    training.write_text(training.read_text(encoding="utf-8").replace(LOSS_0_1, smoothed))
    commit_all(project, "Smooth the labels")

    env = docs_env(project / ".venv", torch_index=torch_index, mypy_cache=mypy_cache)
    page = "docs/how-to/update-from-0.1.md"
    Reader(page, project, env, repo, torch_index).follow(page_blocks(REPO_ROOT / page, page=page))
    assert read_answers(project)["_commit"] == "0.2.0"
    assert smoothed in (tmp_path / "my-edits.diff").read_text(encoding="utf-8")
    shown = subprocess.run(
        ["my-ml-project", "config", "show", "--config", "configs/default.yaml"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "label_smoothing: 0.1" in shown
    status = subprocess.run(
        ["git", "status", "--short"], cwd=project, capture_output=True, text=True, check=True
    )
    assert status.stdout == "", status.stdout


@pytest.mark.slow
def test_readme_runs(
    template_repo: Path, tmp_path: Path, torch_index: str | None, mypy_cache: Path
) -> None:
    """The README's first command, from a clone of the template, in a fresh venv with pip.

    Its other blocks (the test command aside, which is the suite running this) run after it.
    """
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = docs_env(venv, torch_index=torch_index, mypy_cache=mypy_cache)
    env["PATH"] = os.pathsep.join([str(venv / "bin"), env["PATH"]])
    clone = tmp_path / "ml-template"
    git(tmp_path, "clone", "-q", str(template_repo), clone.name)
    [first, *rest] = page_blocks(REPO_ROOT / "README.md", page="README.md")
    Reader("README.md", clone, env, template_repo, torch_index).follow([first])
    assert (tmp_path / "my-ml-project" / "runs").is_dir()
    Reader("README.md", tmp_path, env, template_repo, torch_index).follow(rest)


@pytest.mark.slow
def test_generated_readme_and_docs_run(
    versions: Path,
    tmp_path: Path,
    torch_index: str | None,
    mypy_cache: Path,
) -> None:
    """A project with every option: Copier's next steps, its docs site, its README, as written.

    The project is copied from the template's older tag, so that the README's update runs too.
    """
    copied = StepRunner(
        f"{TIMED}: generated README",
        tmp_path,
        docs_env(None, torch_index=torch_index, mypy_cache=mypy_cache),
    )
    answers = [f"--data={key}={str(value).lower()}" for key, value in EVERYTHING.items()]
    copier = [sys.executable, "-m", "copier", "copy", "--defaults", f"--vcs-ref={OLD}"]
    output = copied.run("copier copy", [*copier, *answers, str(versions), "my-ml-project"])
    project = tmp_path / "my-ml-project"
    env = docs_env(project / ".venv", torch_index=torch_index, mypy_cache=mypy_cache)
    # The message's steps lock, commit, install and train; the docs group is the site's to add.
    Reader("after-copy message", tmp_path, env, versions, torch_index).follow(
        after_copy_blocks(output)
    )
    tracked = copied.run("git ls-files", ["git", "-C", str(project), "ls-files"]).split()
    failed = file_hook_failures(project, tracked)  # those the first commit meets once installed
    assert not failed, "\n".join(failed)
    site = sorted(str(path.relative_to(project)) for path in (project / "docs").glob("*.md"))
    for page in [*site, "README.md"]:  # the README last: it ends with an update
        reader = Reader(f"generated {page}", project, env, versions, torch_index)
        reader.follow(page_blocks(project / page, page=f"generated {page}"))
    assert read_answers(project)["_commit"] == NEW
