"""Each answer set's generated project passes its own gate (slow: installs and trains).

An answer set whose oldest Python is at most this interpreter's runs end to end: an editable
install with the CPU torch build, then ``ruff check``, ``ruff format --check``, ``mypy``,
``pytest`` (``-m "not slow"`` but for the defaults, whose project runs its slow tests too: they
are the engine's own and the same for every answer), ``python -m <package> --help`` and
``<project_slug> train``; a set that answers
``docs`` also installs the ``docs`` group and runs ``mkdocs build --strict``; one that answers
``serving`` also runs the serving benchmark with a few requests. A set that needs a
newer Python is checked statically instead: its dependencies go into a venv of this interpreter
and ruff and mypy run with the project's own targets; the runtime steps are skipped with the
reason.

Every step runs in the project's folder with its venv first on PATH; a failure shows the command and
the tail of its output. Step durations are printed at the end of the session.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from tests.helpers import (
    ANSWER_SETS,
    RUNNING_PYTHON,
    TIMINGS,
    StepRunner,
    min_python,
    output_tail,
    read_answers,
    render_project,
    runs_here,
)
from tests.install import (
    create_venv_command,
    install_dependencies_command,
    install_project_command,
    project_env,
)

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow

NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


@dataclass(frozen=True)
class GeneratedProject:
    """A rendered project installed into its own venv, with a runner for its commands."""

    name: str
    path: Path
    package_name: str
    project_slug: str
    runnable: bool
    has_docs: bool
    has_serving: bool
    steps: StepRunner

    def require_runtime(self) -> None:
        """Skip the calling test when this interpreter is too old to run the project."""
        if not self.runnable:
            pytest.skip(
                f"{self.name} needs Python >= {min_python(ANSWER_SETS[self.name])}, "
                f"this is {RUNNING_PYTHON}: checked statically only"
            )


@pytest.fixture(scope="module", params=sorted(ANSWER_SETS))
def generated(
    request: pytest.FixtureRequest,
    template_repo: Path,
    tmp_path_factory: pytest.TempPathFactory,
    torch_index: str | None,
    mypy_cache: Path,
) -> GeneratedProject:
    """Render one answer set into a fresh folder and install it (or only its dependencies)."""
    name: str = request.param
    with TIMINGS.measure(name, "render"):
        path = render_project(
            template_repo, tmp_path_factory.mktemp(name) / "project", ANSWER_SETS[name]
        )
    answers = read_answers(path)
    venv = path / ".venv"
    runnable = runs_here(ANSWER_SETS[name])
    steps = StepRunner(
        name, path, project_env(venv, torch_index=torch_index, mypy_cache=mypy_cache)
    )
    steps.run("venv", create_venv_command(venv))
    has_docs = answers.get("docs") is True
    if runnable:
        groups = ("dev", "docs") if has_docs else ("dev",)
        steps.run("install", install_project_command(venv, groups=groups))
    else:
        steps.run("install", install_dependencies_command(venv))
    return GeneratedProject(
        name=name,
        path=path,
        package_name=str(answers["package_name"]),
        project_slug=str(answers["project_slug"]),
        runnable=runnable,
        has_docs=has_docs,
        has_serving=answers.get("serving") is True,
        steps=steps,
    )


def test_ruff_check(generated: GeneratedProject) -> None:
    """The generated project is lint-clean under its own ruff settings."""
    generated.steps.run("ruff check", ["ruff", "check", "."])


def test_ruff_format(generated: GeneratedProject) -> None:
    """The generated project is formatted as its own ruff settings say."""
    generated.steps.run("ruff format", ["ruff", "format", "--check", "."])


def test_import_contracts(generated: GeneratedProject) -> None:
    """The project's files use the engine through its API; the engine's stages import one way."""
    # A project checked statically is not installed: its package is found on PYTHONPATH.
    prefix = [] if generated.runnable else ["env", "PYTHONPATH=src"]
    generated.steps.run("lint-imports", [*prefix, "lint-imports"])


def test_mypy(generated: GeneratedProject) -> None:
    """The generated project type-checks with the files and target its pyproject.toml sets."""
    generated.steps.run("mypy", ["mypy"])


# The answer set whose project runs its whole suite, slow tests and coverage floor included. The
# engine is the same for every answer but for the parts some answers add, so the other answer
# sets run the tests that differ: the team's files, the public API, the command line (whose
# commands the answers add), and the optional parts. The project with every option runs its
# whole fast suite too, through its README (tests/test_docs_run.py).
SLOW_TESTS_SET = "defaults"
# Tests that only some answers render: their slow tests run with the answer set that has them.
OPTIONAL_TESTS = (
    "tests/engine/test_sweeps.py",
    "tests/engine/tracking",
    "tests/engine/deploy/test_service.py",
)
ANSWER_TESTS = (
    "tests/test_task.py",
    "tests/test_data.py",
    "tests/models",
    "tests/engine/test_api.py",
    "tests/engine/commands",
)


def test_pytest(generated: GeneratedProject) -> None:
    """The project's own tests pass: all for one answer set, those that differ for the others."""
    generated.require_runtime()
    command = ["python", "-m", "pytest", "-p", "no:cacheprovider"]
    if generated.name != SLOW_TESTS_SET:
        tests = [
            name for name in (*ANSWER_TESTS, *OPTIONAL_TESTS) if (generated.path / name).exists()
        ]
        command += ["-m", "not slow", "--no-cov", *tests]
    generated.steps.run("pytest", command)


def test_slow_tests_of_the_answers(generated: GeneratedProject) -> None:
    """The slow tests of optional parts (sweeps, a tracker, the service) run with their answer."""
    generated.require_runtime()
    present = [name for name in OPTIONAL_TESTS if (generated.path / name).exists()]
    if generated.name == SLOW_TESTS_SET or not present:
        pytest.skip(f"{generated.name}: no optional part, or its slow tests ran with the rest")
    command = ["python", "-m", "pytest", "-p", "no:cacheprovider", "--no-cov", "-m", "slow"]
    with TIMINGS.measure(generated.name, "pytest slow (answers)"):
        result = subprocess.run(
            [*command, *present],
            cwd=generated.path,
            env=dict(generated.steps.env),
            capture_output=True,
            text=True,
            check=False,
        )
    # Exit status 5: these parts have no slow test.
    assert result.returncode in {0, 5}, output_tail(result.stdout)


def test_module_entrypoint(generated: GeneratedProject) -> None:
    """``python -m <package_name> --help`` answers."""
    generated.require_runtime()
    output = generated.steps.run(
        "python -m --help", ["python", "-m", generated.package_name, "--help"]
    )
    assert "train" in output, f"`train` is not among the commands:\n{output}"


def test_train(generated: GeneratedProject) -> None:
    """``<project_slug> train`` on the shipped default config finishes and leaves a run behind."""
    generated.require_runtime()
    command = [generated.project_slug, "train", "--config", "configs/default.yaml"]
    generated.steps.run("train", command)
    runs = generated.path / "runs"
    assert runs.is_dir(), "training wrote nothing under runs/"
    assert any(path.is_file() for path in runs.rglob("*")), "runs/ holds no file after training"


def test_docs_build(generated: GeneratedProject) -> None:
    """With ``docs``, ``mkdocs build --strict`` succeeds and the API page documents the package."""
    generated.require_runtime()
    if not generated.has_docs:
        pytest.skip(f"{generated.name} answers docs=false: no site to build")
    generated.steps.run("mkdocs build", ["mkdocs", "build", "--strict", "--site-dir", "site"])
    check_generated_site(generated.path, generated.package_name, generated.project_slug)


def check_generated_site(project: Path, package: str, slug: str) -> None:
    """The built site has a page per public module, the command line and the config sections.

    Args:
        project: The generated project, its site built into ``site/``.
        package: Its import name.
        slug: Its console script.
    """
    site = project / "site"
    files = [
        path.relative_to(project / "src") for path in (project / "src" / package).rglob("*.py")
    ]
    engine = project / "src" / package / "engine"
    old_paths = {  # the engine's module paths kept for a release, which warn: no page
        path.relative_to(engine).parts[0].removesuffix(".py")
        for path in [*engine.glob("*.py"), *engine.glob("*/__init__.py")]
        if "warn_moved(__name__)" in path.read_text(encoding="utf-8")
    }
    modules = sorted(
        name
        for name in (
            ".".join(path.with_suffix("").parts).removesuffix(".__init__") for path in files
        )
        if not any(part.startswith("_") for part in name.split("."))
        and name.split(".")[1:3] != ["engine", "api"]
        and not (len(name.split(".")) > 2 and name.split(".")[2] in old_paths)
    )
    overview = (site / "reference" / "index.html").read_text(encoding="utf-8")
    for module in modules:
        assert (site / "api" / module / "index.html").is_file(), f"no API page for {module}"
        assert f"{module}</code>" in overview, f"the API overview does not link {module}"
    loading = site / "api" / f"{package}.engine.settings.loading" / "index.html"
    assert "load_config" in loading.read_text(encoding="utf-8"), "load_config is not documented"
    task_api = (site / "api" / "task-api" / "index.html").read_text(encoding="utf-8")
    assert "TensorData" in task_api, "the task API page does not list TensorData"
    cli = (site / "cli" / "index.html").read_text(encoding="utf-8")
    for command in ("", "train", "evaluate", "config", "config show", "config keys"):
        anchor = "-".join([slug, *command.split()]).replace(".", "")
        assert f'id="{anchor}"' in cli, f"the command line page has no section for {command!r}"
    configuration = (site / "configuration" / "index.html").read_text(encoding="utf-8")
    assert "optim.lr" in configuration, "the configuration page has no generated key table"
    sections = sorted(set(re.findall(r"<td><code>([a-z_]+)\.[a-z_.]+</code></td>", configuration)))
    assert f"{NUMBER_WORDS[len(sections)]} sections:" in configuration, sections


def test_parity_benchmark(generated: GeneratedProject) -> None:
    """The parity benchmark runs both settings, made tiny, and prints the rates and ratios.

    Timing is not asserted here: the figures mean something only on a quiet machine. Two epochs
    go through every part of both loops (the text task's ten took 33 s of the suite's time).
    """
    generated.require_runtime()
    command = ["python", "benchmarks/parity.py", "--samples", "512", "--heavy-samples", "1024"]
    tiny = ["--repeats", "1", "--set", "train.epochs=2"]
    output = generated.steps.run("benchmark", [*command, *tiny])
    for label in ("trainer:", "hand-written:", "ratio trainer/hand-written:", "ratios: default"):
        assert label in output, f"the benchmark printed no {label!r} line:\n{output}"


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_torchrun_train(generated: GeneratedProject, strategy: str) -> None:
    """``torchrun`` itself starts two CPU ranks of ``train``; rank 0 alone writes the run.

    The generated tests launch ranks the way torchrun does; this runs the real launcher once per
    strategy, for the default answers (it takes a few seconds more per answer set). DDP ranks
    report the digest of their weights, which must agree; FSDP ranks hold shards, so the summary
    names the strategy instead.
    """
    generated.require_runtime()
    if generated.name != "defaults":
        pytest.skip("torchrun runs for the defaults answer set only")
    output_dir = f"torchrun-{strategy}-runs"
    command = [
        "torchrun",
        "--standalone",
        "--nproc-per-node=2",
        "-m",
        generated.package_name,
        "train",
        "--preset",
        "smoke",
        "--set",
        "train.device=cpu",
        "--set",
        f"distributed.strategy={strategy}",
        "--set",
        f"run.output_dir={output_dir}",
    ]
    output = generated.steps.run(f"torchrun train ({strategy})", command)
    assert output.count("stopped: completed") == 1, f"not one summary from rank 0:\n{output}"
    [run_dir] = (generated.path / output_dir).iterdir()
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["distributed"]["world_size"] == 2
    assert summary["distributed"]["strategy"] == strategy
    if strategy == "ddp":
        assert len(set(summary["distributed"]["weights_sha256"])) == 1


def test_serving_benchmark(generated: GeneratedProject) -> None:
    """With ``serving``, the serving benchmark runs a few requests and prints its figures.

    It trains and exports a small model, starts a server and prints requests per second and
    latency percentiles. Timing is not asserted, as for the parity benchmark.
    """
    generated.require_runtime()
    if not generated.has_serving:
        pytest.skip(f"{generated.name} answers serving=false: no service to benchmark")
    command = [
        "python",
        "benchmarks/serving.py",
        "--requests",
        "20",
        "--concurrency",
        "2",
        "--warmup",
        "2",
    ]
    output = generated.steps.run("serving benchmark", command)
    for label in ("throughput:", "requests/s", "latency: p50"):
        assert label in output, f"the serving benchmark printed no {label!r}:\n{output}"
