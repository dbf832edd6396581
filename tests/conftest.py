"""Fixtures of the template's test suite.

The template under test is a snapshot of this repository's working tree (copier.yml, includes/,
template/) committed into a throw-away git repository once per session; every render uses it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    ANSWER_SETS,
    GIT_IDENTITY,
    TIMINGS,
    Answer,
    make_template_repo,
    read_answers,
    render_project,
)
from tests.install import find_torch_index, torch_index_home

Render = Callable[..., Path]


@pytest.fixture(scope="session", autouse=True)
def git_identity() -> Iterator[None]:
    """Give git an identity for the whole session: copier commits in temporary repositories."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in GIT_IDENTITY.items():
            patch.setenv(name, value)
        yield


@pytest.fixture(scope="session")
def template_repo(git_identity: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Absolute path of a git snapshot of the template's current working tree."""
    return make_template_repo(tmp_path_factory.mktemp("template") / "repo")


@pytest.fixture
def render(template_repo: Path) -> Render:
    """Render the template snapshot: ``render(dst, **answers) -> Path``."""

    def _render(dst: Path, **answers: Answer) -> Path:
        return render_project(template_repo, dst, answers)

    return _render


@dataclass(frozen=True)
class RenderedProject:
    """A project rendered once per session from one named answer set; treat it as read-only."""

    name: str
    path: Path
    given: dict[str, Answer]
    recorded: dict[str, Any]


RenderedBy = Callable[[str], RenderedProject]


@pytest.fixture(scope="session")
def rendered_by_name(template_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> RenderedBy:
    """Render a named answer set on first request; later requests get the same render."""
    cache: dict[str, RenderedProject] = {}

    def _get(name: str) -> RenderedProject:
        if name not in cache:
            dst = tmp_path_factory.mktemp(name) / "project"
            path = render_project(template_repo, dst, ANSWER_SETS[name])
            cache[name] = RenderedProject(name, path, ANSWER_SETS[name], read_answers(path))
        return cache[name]

    return _get


@pytest.fixture(params=sorted(ANSWER_SETS))
def rendered(request: pytest.FixtureRequest, rendered_by_name: RenderedBy) -> RenderedProject:
    """Each answer set, rendered once per session and shared by the read-only render checks."""
    return rendered_by_name(request.param)


@pytest.fixture(scope="session")
def torch_index() -> str | None:
    """URL overriding the ``pytorch-cpu`` index for this session, or None (see tests.install)."""
    return find_torch_index(torch_index_home())


@pytest.fixture(scope="session")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One mypy cache for every rendered project: checking torch's stubs is the slow part."""
    return tmp_path_factory.mktemp("mypy-cache")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Group the tests for pytest-xdist: one group per module, one per generated answer set.

    A group runs on one worker, so a module's fixtures are built once; the installed projects
    of ``test_generated_project.py`` (one per answer set, the slowest tests) spread over the
    workers, each answer set's checks together with its venv.
    """
    for item in items:
        group = item.path.stem
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "generated" in callspec.params:
            group = f"{group}[{callspec.params['generated']}]"
        item.add_marker(pytest.mark.xdist_group(group))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On a pytest-xdist worker, hand the step durations it measured to the controller."""
    worker_output = getattr(session.config, "workeroutput", None)
    if worker_output is not None:
        worker_output["timings"] = TIMINGS.seconds


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """On the pytest-xdist controller, gather a finished worker's step durations."""
    TIMINGS.merge(getattr(node, "workeroutput", {}).get("timings", {}))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the step durations the slow tests measured, with or without ``-s``."""
    lines = TIMINGS.report_lines()
    if not lines:
        return
    terminalreporter.write_sep("-", "step durations per answer set")
    for line in lines:
        terminalreporter.write_line(line)
