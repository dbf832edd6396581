"""The generated project's tooling: pre-commit, GitHub Actions, Dependabot, make and Docker.

Each file is checked offline the way its own tool reads it: pre-commit's ``validate-config``, the
JSON schemas that check-jsonschema ships for workflows and Dependabot, GNU make's dry run,
dockerfile-parse for the Dockerfile and ``json`` for the dev container. Workflow shell steps that
need no GitHub expression run here (tests.workflows). Hook repositories and base images cannot be
fetched here, so no hook runs and no image is built; the slow gate runs ruff and mypy directly.
"""

from __future__ import annotations

import importlib.metadata
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from dockerfile_parse import DockerfileParser  # type: ignore[import-untyped]

from tests.helpers import (
    ANSWER_SETS,
    REPO_ROOT,
    file_hook_failures,
    load_copier_config,
    render_project,
)
from tests.workflows import (
    jobs,
    load_workflow,
    run_commands,
    run_step,
    step_by_name,
    unpinned_uses,
    workflows,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from tests.conftest import RenderedBy, RenderedProject

CONFIG = load_copier_config()
MAKE = shutil.which("make")
needs_make = pytest.mark.skipif(MAKE is None, reason="GNU make is not installed")


def _answer(answers: dict[str, Any], question: str) -> Any:
    return answers.get(question, CONFIG[question]["default"])


GITHUB_SETS = sorted(name for name, a in ANSWER_SETS.items() if _answer(a, "ci") == "github")
DOCKER_SETS = sorted(name for name, a in ANSWER_SETS.items() if _answer(a, "docker"))
SLURM_SETS = sorted(name for name, a in ANSWER_SETS.items() if _answer(a, "slurm"))
UPDATE_CHECK_SETS = sorted(
    name for name in GITHUB_SETS if _answer(ANSWER_SETS[name], "update_check")
)

# The pre-commit hooks STANDARDS.md asks for, by hook id.
REQUIRED_HOOKS = {
    "trailing-whitespace",
    "end-of-file-fixer",
    "check-yaml",
    "check-toml",
    "check-merge-conflict",
    "check-added-large-files",
    "detect-private-key",
    "no-commit-to-branch",
    "ruff-check",
    "ruff-format",
    "mypy",
    "nbstripout",
    "codespell",
}
RELEASE_TAG = re.compile(r"v?\d+\.\d+\.\d+")
DOCKER_INSTRUCTIONS = {
    "COMMENT", "ARG", "FROM", "COPY", "ENV", "WORKDIR", "RUN", "USER", "ENTRYPOINT", "CMD",
    "EXPOSE", "HEALTHCHECK",  # the serve target's port and health check (serving)
}  # fmt: skip


def _run(command: Sequence[str | Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=120,
        check=False,
    )


def _pyproject(project: Path) -> dict[str, Any]:
    return tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))


def _make_dry_run(project: Path, *targets: str) -> list[str]:
    """The commands ``make -n`` prints for ``targets``, in order."""
    assert MAKE is not None
    result = _run([MAKE, "--no-print-directory", "-n", *targets], project)
    assert result.returncode == 0, f"make -n {' '.join(targets)} failed:\n{result.stdout}"
    return [line.strip() for line in result.stdout.splitlines() if line.strip()]


def _check_schema(schema: str, files: Sequence[Path]) -> None:
    """Validate ``files`` against a schema check-jsonschema ships, without the network."""
    result = _run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *files],
        REPO_ROOT,
    )
    assert result.returncode == 0, f"{schema} rejects {[f.name for f in files]}:\n{result.stdout}"


# --- Which files an answer set gets -----------------------------------------------------------


def _expected_files(recorded: dict[str, Any]) -> dict[str, bool]:
    github = recorded["ci"] == "github"
    docker = bool(recorded["docker"])
    return {
        ".pre-commit-config.yaml": True,
        "Makefile": True,
        ".github": github,
        ".github/workflows/ci.yml": github,
        ".github/workflows/gpu.yml": github,
        ".github/dependabot.yml": github,
        ".github/workflows/update-check.yml": github and bool(recorded.get("update_check")),
        "Dockerfile": docker,
        ".dockerignore": docker,
        ".devcontainer/devcontainer.json": docker,
        "slurm/train.sbatch": bool(recorded["slurm"]),
    }


def test_tooling_files_follow_the_answers(rendered: RenderedProject) -> None:
    """ci, docker, slurm and update_check add their files, and nothing of theirs otherwise."""
    wrong = [
        f"{path}: {'missing' if expected else 'present'}"
        for path, expected in _expected_files(rendered.recorded).items()
        if (rendered.path / path).exists() != expected
    ]
    assert not wrong, f"{rendered.name}: " + "; ".join(wrong)


def test_readme_sections_follow_the_answers(rendered: RenderedProject) -> None:
    """The README documents CI only with GitHub Actions and Docker only with the Dockerfile."""
    readme = (rendered.path / "README.md").read_text(encoding="utf-8")
    assert ("## Continuous integration" in readme) == (rendered.recorded["ci"] == "github")
    assert ("## Docker" in readme) == bool(rendered.recorded["docker"])
    assert "pre-commit install" in readme
    assert "make check" in readme


def test_update_check_needs_github_ci(template_repo: Path, tmp_path: Path) -> None:
    """update_check=true with ci=none adds no workflow: the skipped answer's value is ignored."""
    project = render_project(
        template_repo,
        tmp_path / "project",
        {"project_name": "No CI", "ci": "none", "update_check": True},
    )
    assert not (project / ".github").exists()


@pytest.mark.parametrize("question", ["docker", "serving", "slurm", "update_check"])
def test_answer_sets_cover_both_ways(question: str) -> None:
    """Each yes/no tooling question is rendered both ways by the answer sets."""
    sets = GITHUB_SETS if question == "update_check" else sorted(ANSWER_SETS)
    used = {bool(_answer(ANSWER_SETS[name], question)) for name in sets}
    assert used == {True, False}


# --- pre-commit --------------------------------------------------------------------------------


def _pre_commit_hooks(project: Path) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Each hook of .pre-commit-config.yaml by id, with the repository entry it belongs to."""
    config = yaml.safe_load((project / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    return {hook["id"]: (repo, hook) for repo in config["repos"] for hook in repo["hooks"]}


def test_pre_commit_config_is_valid(rendered_by_name: RenderedBy) -> None:
    """pre-commit itself accepts the config (the hook repositories are not fetched)."""
    project = rendered_by_name("defaults").path
    result = _run(
        [sys.executable, "-m", "pre_commit", "validate-config", ".pre-commit-config.yaml"],
        project,
    )
    assert result.returncode == 0, result.stdout


def test_pre_commit_hooks(rendered_by_name: RenderedBy) -> None:
    """The standard hooks are there, pinned to release tags, and scoped as intended."""
    hooks = _pre_commit_hooks(rendered_by_name("defaults").path)
    assert set(hooks) >= REQUIRED_HOOKS, f"missing hooks: {sorted(REQUIRED_HOOKS - set(hooks))}"
    for repo, _ in hooks.values():
        assert repo["repo"] == "local" or RELEASE_TAG.fullmatch(repo["rev"]), repo
    assert hooks["no-commit-to-branch"][1]["args"] == ["--branch", "main"]
    assert hooks["ruff-check"][1]["args"] == ["--fix", "--show-fixes"]
    assert hooks["nbstripout"][1]["files"] == "^notebooks/"


@needs_make
def test_mypy_hook_runs_in_the_project_environment(rendered_by_name: RenderedBy) -> None:
    """The mypy hook is local and system, running the exact command of ``make typecheck``."""
    project = rendered_by_name("defaults").path
    repo, hook = _pre_commit_hooks(project)["mypy"]
    assert repo["repo"] == "local"
    assert hook["language"] == "system"
    assert hook["pass_filenames"] is False
    assert [hook["entry"]] == _make_dry_run(project, "typecheck")


def test_rendered_files_pass_the_file_hooks(rendered: RenderedProject, tmp_path: Path) -> None:
    """A first ``pre-commit run --all-files`` changes nothing: the file hooks pass as rendered.

    The hooks run from the installed pre-commit-hooks package, pinned to the config's rev.
    """
    project = shutil.copytree(rendered.path, tmp_path / "project")
    # As in a user's first commit: the merge-conflict and large-file hooks ask git.
    assert _run(["git", "init", "-q"], project).returncode == 0
    files = sorted(str(path.relative_to(project)) for path in project.rglob("*") if path.is_file())
    failed = file_hook_failures(project, files)
    assert not failed, "\n".join(failed)


def test_file_hooks_package_matches_the_rev(rendered_by_name: RenderedBy) -> None:
    """The pre-commit-hooks release these tests run is the one the generated config pins."""
    repo, _ = _pre_commit_hooks(rendered_by_name("defaults").path)["trailing-whitespace"]
    assert repo["rev"] == f"v{importlib.metadata.version('pre-commit-hooks')}"


def test_ruff_hook_and_dev_group_are_one_release(rendered: RenderedProject) -> None:
    """The dev group pins exactly the ruff release the ruff-pre-commit rev names: one source."""
    dev = _pyproject(rendered.path)["dependency-groups"]["dev"]
    pins = [
        match[1]
        for spec in dev
        if isinstance(spec, str) and (match := re.fullmatch(r"ruff==([\d.]+)", spec))
    ]
    assert pins == [CONFIG["ruff_version"]["default"]], f"no single ruff== pin: {dev}"
    repo, hook = _pre_commit_hooks(rendered.path)["ruff-check"]
    assert repo["rev"] == f"v{pins[0]}"
    assert hook["args"] == ["--fix", "--show-fixes"]


def test_template_dev_group_uses_the_same_ruff() -> None:
    """This repository lints itself with the ruff release its projects get (dogfood)."""
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert f"ruff=={CONFIG['ruff_version']['default']}" in pyproject["dependency-groups"]["dev"]


def test_template_repository_passes_its_own_lint() -> None:
    """``ruff check`` and ``ruff format --check``, as this repository's CI runs them, pass."""
    ruff = [sys.executable, "-m", "ruff"]
    for command in (["check", "."], ["format", "--check", "."]):
        result = _run([*ruff, *command], REPO_ROOT)
        assert result.returncode == 0, f"ruff {' '.join(command)}:\n{result.stdout}{result.stderr}"


# --- GitHub Actions and Dependabot -------------------------------------------------------------


@pytest.mark.parametrize("name", GITHUB_SETS)
def test_github_files_match_their_schemas(rendered_by_name: RenderedBy, name: str) -> None:
    """Workflows and dependabot.yml validate against their published schemas (vendored)."""
    project = rendered_by_name(name).path
    files = workflows(project)
    assert files, "no workflow rendered"
    _check_schema("vendor.github-workflows", files)
    _check_schema("custom.github-workflows-require-timeout", files)
    _check_schema("vendor.dependabot", [project / ".github" / "dependabot.yml"])


def _repository_github_files() -> list[tuple[str, Path]]:
    github = REPO_ROOT / ".github"
    found = [("vendor.github-workflows", path) for path in sorted(github.glob("workflows/*.y*ml"))]
    found += [("vendor.dependabot", path) for path in sorted(github.glob("dependabot.y*ml"))]
    return found


@pytest.mark.parametrize(
    ("schema", "path"),
    _repository_github_files(),
    ids=[path.name for _, path in _repository_github_files()],
)
def test_repository_github_files_match_their_schemas(schema: str, path: Path) -> None:
    """This repository's own workflows and dependabot.yml validate too."""
    _check_schema(schema, [path])


@pytest.mark.parametrize("name", GITHUB_SETS)
def test_workflows_are_least_privilege(rendered_by_name: RenderedBy, name: str) -> None:
    """Read-only token, no persisted credentials, and CI cancels superseded runs."""
    for path in workflows(rendered_by_name(name).path):
        workflow = load_workflow(path)
        assert workflow["permissions"] == {"contents": "read"}, path.name
        for job_id, job in jobs(workflow).items():
            assert "permissions" not in job, f"{path.name}:{job_id} widens the permissions"
            for step in job["steps"]:
                if str(step.get("uses", "")).startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False, f"{path.name}:{job_id}"
    ci = load_workflow(rendered_by_name(name).path / ".github" / "workflows" / "ci.yml")
    assert ci["concurrency"]["cancel-in-progress"] is True


@pytest.mark.parametrize("name", GITHUB_SETS)
def test_actions_are_pinned_by_commit(rendered_by_name: RenderedBy, name: str) -> None:
    """Every action runs at a commit SHA, its release in a comment for people and Dependabot."""
    found = [
        line for path in workflows(rendered_by_name(name).path) for line in unpinned_uses(path)
    ]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("name", GITHUB_SETS)
def test_dependabot_groups_each_ecosystem(rendered_by_name: RenderedBy, name: str) -> None:
    """Dependabot opens one grouped pull request per ecosystem, the actions' included."""
    path = rendered_by_name(name).path / ".github" / "dependabot.yml"
    updates = yaml.safe_load(path.read_text(encoding="utf-8"))["updates"]
    assert "github-actions" in {entry["package-ecosystem"] for entry in updates}
    ungrouped = [entry["package-ecosystem"] for entry in updates if not entry.get("groups")]
    assert not ungrouped, f"updates without groups: {ungrouped}"


@needs_make
@pytest.mark.parametrize("name", GITHUB_SETS)
def test_ci_runs_what_make_runs(rendered_by_name: RenderedBy, name: str) -> None:
    """Every command of the CI gates is a ``make install``/``make check`` command, and back."""
    project = rendered_by_name(name).path
    ci = jobs(load_workflow(project / ".github" / "workflows" / "ci.yml"))
    lowest = ci.pop("lowest")
    ci_commands = {command for job in ci.values() for command in run_commands(job)}
    make_commands = set(_make_dry_run(project, "install", "check"))
    assert ci_commands == make_commands
    assert all("--extra cpu" in c for c in ci_commands if c.startswith("uv sync")), ci_commands
    # The floors job: the same install and gates, after a lock at the lowest direct versions.
    assert run_commands(lowest) == [
        "uv lock --resolution lowest-direct",
        *_make_dry_run(project, "install", "check"),
    ]


@pytest.mark.parametrize("name", GITHUB_SETS)
def test_ci_tests_every_python_with_uv_caching(rendered_by_name: RenderedBy, name: str) -> None:
    """The test job runs its matrix Python through setup-uv, with the uv cache on."""
    ci = jobs(load_workflow(rendered_by_name(name).path / ".github" / "workflows" / "ci.yml"))
    for job in ci.values():
        for step in job["steps"]:
            if str(step.get("uses", "")).startswith("astral-sh/setup-uv@"):
                assert step["with"]["enable-cache"] is True
    setup = next(s for s in ci["test"]["steps"] if s.get("uses", "").startswith("astral-sh/"))
    assert setup["with"]["python-version"] == "${{ matrix.python-version }}"


def _fake_uvx(folder: Path, report: dict[str, Any]) -> Path:
    """A uvx stand-in that checks it was asked for ``copier check-update`` and prints ``report``."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "uvx"
    script.write_text(
        "#!/bin/sh\n"
        '[ "$3" = copier ] && [ "$4" = check-update ] || { echo "unexpected: $*"; exit 9; }\n'
        f"echo '{json.dumps(report)}'\n",
        encoding="utf-8",
    )
    script.chmod(0o755)
    return folder


@pytest.mark.parametrize("name", UPDATE_CHECK_SETS)
@pytest.mark.parametrize("available", [True, False], ids=["update", "current"])
def test_update_check_step(
    rendered_by_name: RenderedBy, tmp_path: Path, name: str, *, available: bool
) -> None:
    """The weekly check fails with an annotation naming both versions only if one is newer."""
    project = rendered_by_name(name).path
    workflow = load_workflow(project / ".github" / "workflows" / "update-check.yml")
    step = step_by_name(jobs(workflow)["check-update"], "Compare with the newest template release")
    report = {"update_available": available, "current_version": "1.2.0", "latest_version": "1.4.0"}
    fake = _fake_uvx(tmp_path / "bin", report)
    result = run_step(step, cwd=project, scratch=tmp_path / "step", path_prefix=[fake])
    if available:
        assert result.returncode == 1, result.output
        assert "::error title=Template update available::" in result.output
        assert "1.4.0" in result.output
        assert "1.2.0" in result.output
        assert "copier update" in result.output
    else:
        assert result.returncode == 0, result.output
        assert "::error" not in result.output


# --- torch builds ------------------------------------------------------------------------------

# A `uv sync` command as documented, up to the end of its command; "`uv sync`" alone names it.
UV_SYNC = re.compile(r"(?<!`)\buv sync\b[^\n`|;&]*|`uv sync [^`]*`")
PIP_INSTALL_PROJECT = re.compile(r"\bpip install -e\b")
CPU_TORCH_FIRST = "pip install torch --index-url https://download.pytorch.org/whl/cpu"


def _documents(project: Path) -> list[Path]:
    """Files whose commands people copy: Markdown, the Makefile, workflows, Dockerfile, configs."""
    names = {"Makefile", "Dockerfile", ".pre-commit-config.yaml"}
    return sorted(
        path
        for path in project.rglob("*")
        if path.is_file()
        and ".venv" not in path.parts
        and (path.suffix in {".md", ".yml", ".yaml", ".json"} or path.name in names)
    )


def test_torch_is_only_in_the_build_extras(rendered: RenderedProject) -> None:
    """Each build extra declares torch bound to its PyTorch index; nothing else declares it."""
    pyproject = _pyproject(rendered.path)
    requirements = [*pyproject["project"]["dependencies"]]
    requirements += [
        spec
        for group in pyproject["dependency-groups"].values()
        for spec in group
        if isinstance(spec, str)  # not an {include-group = ...} table
    ]
    assert not [spec for spec in requirements if re.match(r"torch\b", spec)], requirements
    extras = pyproject["project"]["optional-dependencies"]
    sources = {
        source["extra"]: source["index"] for source in pyproject["tool"]["uv"]["sources"]["torch"]
    }
    floors = {
        extra: [spec for spec in extras[extra] if spec.startswith("torch")] for extra in extras
    }
    assert floors["cpu"] == floors["cu128"] == ["torch>=2.10"], floors
    for extra in ("cpu", "cu128"):
        assert sources[extra] == f"pytorch-{extra}"


def test_documented_installs_pick_a_torch_build(rendered: RenderedProject) -> None:
    """Each documented ``uv sync`` names a build extra; ``pip install -e`` follows CPU torch."""
    unsafe = []
    for path in _documents(rendered.path):
        text = path.read_text(encoding="utf-8")
        unsafe += [
            f"{path.name}: {match[0]}"
            for match in UV_SYNC.finditer(text)
            if "--extra" not in match[0]
        ]
        if PIP_INSTALL_PROJECT.search(text) and CPU_TORCH_FIRST not in text:
            unsafe.append(f"{path.name}: pip install -e without the CPU build of torch first")
    assert not unsafe, "\n".join(unsafe)


def test_template_docs_pick_a_torch_build() -> None:
    """The template's own pages and README name a build extra in every ``uv sync`` too."""
    pages = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").rglob("*.md"))]
    unsafe = [
        f"{path.relative_to(REPO_ROOT)}: {match[0]}"
        for path in pages
        for match in UV_SYNC.finditer(path.read_text(encoding="utf-8"))
        if "--extra" not in match[0]
    ]
    assert not unsafe, "\n".join(unsafe)


# --- make --------------------------------------------------------------------------------------


@needs_make
def test_make_help_lists_every_target(rendered_by_name: RenderedBy) -> None:
    """``make`` alone prints the help, which names every phony target with a description."""
    project = rendered_by_name("proprietary_py311").path
    assert MAKE is not None
    result = _run([MAKE, "--no-print-directory"], project)
    assert result.returncode == 0, result.stdout
    listed = {line.split()[0] for line in result.stdout.splitlines() if line.strip()}
    phony = re.search(r"^\.PHONY:(.*)$", (project / "Makefile").read_text(), re.MULTILINE)
    assert phony, "no .PHONY line"
    assert listed == set(phony[1].split())


@needs_make
def test_make_train_runs_the_console_script(rendered_by_name: RenderedBy) -> None:
    """``make train`` calls the project's own console script with the shipped config."""
    rendered = rendered_by_name("proprietary_py311")
    slug = str(rendered.recorded["project_slug"])
    assert slug in _pyproject(rendered.path)["project"]["scripts"]
    assert _make_dry_run(rendered.path, "train") == [
        f"uv run --no-sync {slug} train --config configs/default.yaml"
    ]
    assert (rendered.path / "configs" / "default.yaml").is_file()


@needs_make
def test_make_install_picks_the_torch_build(rendered_by_name: RenderedBy) -> None:
    """``TORCH=`` selects one of the pyproject.toml extras; CPU is the default."""
    project = rendered_by_name("defaults").path
    extras = _pyproject(project)["project"]["optional-dependencies"]
    assert MAKE is not None
    for extra in extras:
        result = _run([MAKE, "-n", "install", f"TORCH={extra}"], project)
        assert result.stdout.strip() == f"uv sync --locked --extra {extra} --group dev"
    assert _make_dry_run(project, "install") == ["uv sync --locked --extra cpu --group dev"]


@pytest.mark.parametrize("name", GITHUB_SETS)
def test_workflows_install_from_the_lock(rendered_by_name: RenderedBy, name: str) -> None:
    """Every ``uv sync`` of every workflow installs what uv.lock pins instead of re-resolving."""
    syncs = [
        f"{path.name}: {command}"
        for path in workflows(rendered_by_name(name).path)
        for job in jobs(load_workflow(path)).values()
        for command in run_commands(job)
        if command.startswith("uv sync")
    ]
    assert syncs, "no workflow installs the project"
    assert all("--locked" in sync for sync in syncs), syncs


def test_first_commit_holds_the_lock() -> None:
    """The next steps after a copy make uv.lock before the first commit, then install from it."""
    steps = [line.split("#")[0].strip() for line in CONFIG["_message_after_copy"].splitlines()]
    lock = steps.index("uv lock")
    commit = next(i for i, step in enumerate(steps) if "git commit" in step)
    assert lock < commit, "uv.lock is made after the first commit and stays untracked"
    sync = next(step for step in steps if step.startswith("uv sync"))
    assert "--locked" in sync, sync


# Paths the project writes or a user keeps locally, and code paths of the same names that git
# must still see. "pkg" stands for the package name.
IGNORED = ["runs/x/run.json", "models/v1/model.safetensors", "data/train.csv", ".env"]
TRACKED = ["src/pkg/models/mlp.py", "src/pkg/data.py", "tests/models/test_mlp.py", "configs/a.yaml"]


def test_gitignore_keeps_outputs_and_secrets_out(rendered: RenderedProject, tmp_path: Path) -> None:
    """Run folders, exported models, data and .env are ignored at the root; the code is not."""
    project = shutil.copytree(rendered.path, tmp_path / "project")
    assert _run(["git", "init", "-q"], project).returncode == 0
    package = str(rendered.recorded["package_name"])
    paths = [path.replace("pkg", package) for path in IGNORED + TRACKED]
    result = _run(["git", "check-ignore", "--no-index", *paths], project)
    ignored = set(result.stdout.split())
    assert ignored == {path.replace("pkg", package) for path in IGNORED}, result.stdout


# --- Docker ------------------------------------------------------------------------------------


def _dockerfile(project: Path, **build_args: str) -> DockerfileParser:
    content = (project / "Dockerfile").read_bytes()
    return DockerfileParser(fileobj=io.BytesIO(content), build_args=build_args)


def _instructions(parser: DockerfileParser, name: str) -> list[str]:
    return [str(item["value"]) for item in parser.structure if item["instruction"] == name]


def _stages(parser: DockerfileParser) -> list[str]:
    return [value.split()[-1] for value in _instructions(parser, "FROM") if " AS " in value]


def _stage_bases(parser: DockerfileParser) -> dict[str, str]:
    """Each named stage and the image it starts from, with the build arguments filled in."""
    names = [
        value.split()[-1] if " AS " in value else "" for value in _instructions(parser, "FROM")
    ]
    return dict(zip(names, parser.parent_images, strict=True))


@pytest.mark.parametrize("name", DOCKER_SETS)
def test_dockerfile_builds_one_image_per_torch_extra(
    rendered_by_name: RenderedBy, name: str
) -> None:
    """TORCH selects a runtime stage per extra, both on Ubuntu: the wheels bring CUDA (0011)."""
    rendered = rendered_by_name(name)
    extras = set(_pyproject(rendered.path)["project"]["optional-dependencies"])
    default = _dockerfile(rendered.path)
    assert {item["instruction"] for item in default.structure} <= DOCKER_INSTRUCTIONS
    assert "TORCH=cpu" in _instructions(default, "ARG")
    assert f"PYTHON_VERSION={rendered.recorded['python_version']}" in _instructions(default, "ARG")
    for extra in extras:
        parser = _dockerfile(rendered.path, TORCH=extra)
        assert _stage_bases(parser)["runtime"] == f"runtime-{extra}", extra
        # The default image is the runtime stage, or (with serving) a last stage built on it.
        assert parser.baseimage in {f"runtime-{extra}", "runtime"}, extra
        assert f"runtime-{extra}" in _stages(parser)
    images = _dockerfile(rendered.path).parent_images
    bases = _stage_bases(_dockerfile(rendered.path))
    assert bases["runtime-cu128"] == bases["runtime-cpu"] == "ubuntu:24.04", bases
    structure = [(item["instruction"], str(item["value"])) for item in default.structure]
    cuda_stage = structure.index(("FROM", "${CUDA_BASE} AS runtime-cu128"))
    assert structure[cuda_stage + 1][0] == "ENV"
    assert "NVIDIA_DRIVER_CAPABILITIES=compute,utility" in structure[cuda_stage + 1][1]
    custom = _stage_bases(_dockerfile(rendered.path, CUDA_BASE="nvidia/cuda:12.8.1-devel"))
    assert custom["runtime-cu128"] == "nvidia/cuda:12.8.1-devel"
    external = [image for image in images if image not in _stages(default)]
    assert all(":" in image and not image.endswith(":latest") for image in external), external


@pytest.mark.parametrize("name", DOCKER_SETS)
def test_dockerfile_installs_the_lock_and_runs_unprivileged(
    rendered_by_name: RenderedBy, name: str
) -> None:
    """The image holds what uv.lock pins and runs the console script as a non-root user."""
    rendered = rendered_by_name(name)
    parser = _dockerfile(rendered.path)
    syncs = [run for run in _instructions(parser, "RUN") if "uv sync" in run]
    assert syncs, "no uv sync"
    assert all("--locked" in run and '--extra "${TORCH}"' in run for run in syncs), syncs
    stages = _stages(parser)
    for copy in _instructions(parser, "COPY"):
        if copy.startswith("--from="):
            assert copy.split()[0].removeprefix("--from=") in stages, copy
    assert _instructions(parser, "USER")[-1] not in {"root", "0"}
    slug = str(rendered.recorded["project_slug"])
    assert json.loads(_instructions(parser, "ENTRYPOINT")[-1]) == [slug]
    assert slug in _pyproject(rendered.path)["project"]["scripts"]


@pytest.mark.parametrize("name", DOCKER_SETS)
def test_dockerignore_lets_through_only_what_is_copied(
    rendered_by_name: RenderedBy, name: str
) -> None:
    """.dockerignore is an allowlist holding every path the Dockerfile copies from the context."""
    project = rendered_by_name(name).path
    patterns = [
        line.strip()
        for line in (project / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "the first pattern must exclude everything"
    allowed = {pattern.removeprefix("!").rstrip("/") for pattern in patterns if pattern[0] == "!"}
    copied = {
        source
        for copy in _instructions(_dockerfile(project), "COPY")
        if not copy.startswith("--from=")
        for source in copy.split()[:-1]
    }
    assert copied <= allowed, f"copied but ignored: {sorted(copied - allowed)}"
    shipped = {path for path in allowed if path != "uv.lock"}
    assert all((project / path).exists() for path in shipped), shipped


@pytest.mark.parametrize("name", DOCKER_SETS)
def test_devcontainer(rendered_by_name: RenderedBy, name: str) -> None:
    """devcontainer.json is plain JSON on the project's Python, installing with ``make install``."""
    rendered = rendered_by_name(name)
    config = json.loads(
        (rendered.path / ".devcontainer" / "devcontainer.json").read_text(encoding="utf-8")
    )
    assert config["name"] == rendered.recorded["project_name"]
    assert f"python:1-{rendered.recorded['python_version']}-" in config["image"]
    assert "make install" in config["postCreateCommand"]
    assert any(arg.startswith("--shm-size=") for arg in config["runArgs"])


@pytest.mark.parametrize("name", DOCKER_SETS)
def test_readme_docker_commands(rendered_by_name: RenderedBy, name: str) -> None:
    """The README's Docker section builds both images and runs with GPUs and shared memory."""
    rendered = rendered_by_name(name)
    readme = (rendered.path / "README.md").read_text(encoding="utf-8")
    slug = str(rendered.recorded["project_slug"])
    section = readme.split("## Docker", 1)[1].split("\n## ", 1)[0]
    assert f"docker build -t {slug}:cpu ." in section
    assert f"docker build --build-arg TORCH=cu128 -t {slug}:cuda ." in section
    assert "--gpus all" in section
    assert "--shm-size=" in section


# --- SLURM -------------------------------------------------------------------------------------

# Stand-ins for the cluster's commands: scontrol lists two nodes, srun runs its command once,
# and torchrun reports its arguments and the thread count it would give each process.
_FAKE_SLURM = {
    "scontrol": 'if [[ "$1" == requeue ]]; then echo "$@" > "$REPORT.requeue";'
    ' else printf "gpu-node-07\\ngpu-node-08\\n"; fi',
    "srun": 'while [[ "$1" == -* ]]; do shift; done; exec "$@"',
    "torchrun": 'printf "%s\\n" "OMP_NUM_THREADS=$OMP_NUM_THREADS" "$@" > "$REPORT"',
}
# A torchrun that trains until SIGTERM, then saves (here: notes it) and exits as training does.
_TRAINING_TORCHRUN = (
    'trap \'echo saved > "$REPORT.saved"; exit 143\' TERM; touch "$REPORT.started";'
    " while true; do sleep 0.05; done"
)


def _fake_slurm(folder: Path, *, torchrun: str | None = None) -> dict[str, str]:
    """Fake SLURM commands in ``folder``; the environment of a job on two 4-GPU nodes."""
    for command, body in {**_FAKE_SLURM, **({"torchrun": torchrun} if torchrun else {})}.items():
        fake = folder / command
        fake.write_text(f"#!/usr/bin/env bash\n{body}\n", encoding="utf-8")
        fake.chmod(0o755)
    return {
        **os.environ,
        "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}",
        "REPORT": str(folder / "torchrun-arguments"),
        "SLURM_JOB_ID": "4242",
        "SLURM_JOB_NODELIST": "gpu-node-[07-08]",
        "SLURM_JOB_NUM_NODES": "2",
        "SLURM_GPUS_ON_NODE": "4",
        "SLURM_CPUS_PER_TASK": "32",
    }


@pytest.mark.parametrize("name", SLURM_SETS)
def test_slurm_script_starts_torchrun_on_every_node(
    rendered_by_name: RenderedBy, name: str, tmp_path: Path
) -> None:
    """The batch script meets on the first node and hands its arguments to ``train``."""
    project = rendered_by_name(name).path
    script = project / "slurm" / "train.sbatch"
    lines = script.read_text(encoding="utf-8").splitlines()
    first_command = next(i for i, line in enumerate(lines) if line and not line.startswith("#"))
    directives = [i for i, line in enumerate(lines) if line.startswith("#SBATCH")]
    assert directives, "no #SBATCH directives"
    assert max(directives) < first_command, "sbatch ignores #SBATCH lines after a command"
    assert os.access(script, os.X_OK), "the script is not executable"
    assert "#SBATCH --requeue" in lines
    assert "#SBATCH --signal=B:USR1@120" in lines
    env = _fake_slurm(tmp_path)
    report = tmp_path / "torchrun-arguments"
    result = subprocess.run(
        ["bash", str(script), "--config", "configs/default.yaml", "--set", "train.epochs=3"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    package = rendered_by_name(name).recorded["package_name"]
    assert report.read_text(encoding="utf-8").splitlines() == [
        "OMP_NUM_THREADS=8",
        "--nnodes=2",
        "--nproc-per-node=4",
        "--rdzv-id=4242",
        "--rdzv-backend=c10d",
        "--rdzv-endpoint=gpu-node-07:29500",
        "-m",
        package,
        "train",
        "--run-dir",
        "runs/slurm-4242",
        "--config",
        "configs/default.yaml",
        "--set",
        "train.epochs=3",
    ]
    assert not (tmp_path / "torchrun-arguments.requeue").exists()


@pytest.mark.parametrize("name", SLURM_SETS)
def test_slurm_script_saves_and_requeues_on_usr1(
    rendered_by_name: RenderedBy, name: str, tmp_path: Path
) -> None:
    """SLURM's warning signal reaches training as SIGTERM; the script then requeues the job."""
    project = rendered_by_name(name).path
    env = _fake_slurm(tmp_path, torchrun=_TRAINING_TORCHRUN)
    job = subprocess.Popen(
        ["bash", str(project / "slurm" / "train.sbatch")],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    started = tmp_path / "torchrun-arguments.started"
    deadline = time.monotonic() + 30
    while not started.exists():
        assert time.monotonic() < deadline, "training never started"
        assert job.poll() is None, "the job ended before training started"
        time.sleep(0.05)
    job.send_signal(signal.SIGUSR1)
    output, _ = job.communicate(timeout=30)
    assert job.returncode == 0, output
    assert (tmp_path / "torchrun-arguments.saved").read_text(encoding="utf-8") == "saved\n"
    requeue = (tmp_path / "torchrun-arguments.requeue").read_text(encoding="utf-8")
    assert requeue.split() == ["requeue", "4242"]
    assert "saving a checkpoint" in output


@needs_make
@pytest.mark.parametrize("name", GITHUB_SETS)
def test_gpu_workflow_runs_what_make_gpu_runs(rendered_by_name: RenderedBy, name: str) -> None:
    """The opt-in GPU workflow installs the CUDA build and runs ``make gpu``, then torchrun."""
    rendered = rendered_by_name(name)
    gpu = load_workflow(rendered.path / ".github" / "workflows" / "gpu.yml")
    [job] = jobs(gpu).values()
    assert job["if"] == "vars.GPU_RUNNER == 'true'"
    assert job["runs-on"] == ["self-hosted", "linux", "gpu"]
    commands = run_commands(job)
    expected = _make_dry_run(rendered.path, "install", "gpu", "TORCH=cu128")
    assert commands[: len(expected)] == expected
    [torchrun] = commands[len(expected) :]
    package = rendered.recorded["package_name"]
    assert torchrun.startswith("uv run --no-sync torchrun --standalone --nproc-per-node=gpu")
    assert f"-m {package} train" in torchrun
