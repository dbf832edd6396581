"""The ``serving`` answer adds the HTTP service's files, dependencies and image target, or none.

Export and batch prediction exist either way.

Checked statically on every answer set; the generated service itself is tested by the generated
project's own suite (tests/engine/deploy/test_service.py there) and its benchmark by
test_generated_project.py.
"""

from __future__ import annotations

import io
import json
import re
import tomllib
from typing import TYPE_CHECKING, Any

import pytest
from dockerfile_parse import DockerfileParser  # type: ignore[import-untyped]

from tests.helpers import ANSWER_SETS, load_copier_config

if TYPE_CHECKING:
    from tests.conftest import RenderedBy, RenderedProject

CONFIG = load_copier_config()
WEB_PACKAGES = ("fastapi", "uvicorn", "httpx", "starlette")


def _answer(answers: dict[str, Any], question: str) -> Any:
    return answers.get(question, CONFIG[question]["default"])


SERVING_DOCKER_SETS = sorted(
    name for name, a in ANSWER_SETS.items() if _answer(a, "serving") and _answer(a, "docker")
)


def _requirement_names(requirements: list[str | dict[str, str]]) -> set[str]:
    """The distribution names in a requirement list (``{include-group = ...}`` entries left out)."""
    return {
        re.split(r"[\s<>=!~\[;]", requirement, maxsplit=1)[0]
        for requirement in requirements
        if isinstance(requirement, str)
    }


def _serving_files(rendered: RenderedProject) -> list[str]:
    package = rendered.recorded["package_name"]
    return [
        f"src/{package}/engine/deploy/service.py",
        f"src/{package}/engine/commands/serve.py",
        "tests/engine/deploy/test_service.py",
        "benchmarks/serving.py",
    ]


def test_serving_files_follow_the_answer(rendered: RenderedProject) -> None:
    """The app, its tests and its benchmark exist exactly when serving is answered yes."""
    serving = bool(rendered.recorded["serving"])
    wrong = [
        path for path in _serving_files(rendered) if (rendered.path / path).exists() != serving
    ]
    assert not wrong, f"{rendered.name} (serving={serving}): {wrong}"


def test_web_dependencies_follow_the_answer(rendered: RenderedProject) -> None:
    """The web packages are dependencies (httpx2 a dev dependency) only with serving."""
    pyproject = tomllib.loads((rendered.path / "pyproject.toml").read_text(encoding="utf-8"))
    serving = bool(rendered.recorded["serving"])
    dependencies = _requirement_names(pyproject["project"]["dependencies"])
    dev = _requirement_names(pyproject["dependency-groups"]["dev"])
    web = {"fastapi", "uvicorn"}
    assert web & dependencies == (web if serving else set())
    assert ("httpx2" in dev) == serving


def test_no_web_code_without_serving(rendered: RenderedProject) -> None:
    """Without serving, no file names a web package and the CLI has no serve command."""
    if rendered.recorded["serving"]:
        pytest.skip(f"{rendered.name} answers serving=true")
    mentions = [
        f"{path.relative_to(rendered.path)}: {name}"
        for path in sorted(rendered.path.rglob("*"))
        if path.is_file() and ".git" not in path.parts
        for name in WEB_PACKAGES
        if name in path.read_text(encoding="utf-8", errors="replace")
    ]
    assert not mentions, mentions
    engine = rendered.path / "src" / str(rendered.recorded["package_name"]) / "engine"
    assert not (engine / "commands" / "serve.py").exists()
    assert "from .serve import" not in (engine / "commands" / "app.py").read_text(encoding="utf-8")


def test_export_and_predict_exist_either_way(rendered: RenderedProject) -> None:
    """The model package and the predictor do not depend on the serving answer."""
    engine = rendered.path / "src" / str(rendered.recorded["package_name"]) / "engine"
    deploy = engine / "deploy"
    assert {"package.py", "predictor.py"} <= {path.name for path in deploy.iterdir()}
    commands = (engine / "commands" / "export.py").read_text(encoding="utf-8")
    assert "def export(" in commands
    assert "def predict(" in commands


def test_readme_documents_what_exists(rendered: RenderedProject) -> None:
    """The README shows export and predict always, the service only with serving."""
    readme = (rendered.path / "README.md").read_text(encoding="utf-8")
    slug = rendered.recorded["project_slug"]
    assert f"{slug} export" in readme
    assert f"{slug} predict" in readme
    assert (f"{slug} serve" in readme) == bool(rendered.recorded["serving"])


def test_template_version_is_read_at_run_time(rendered: RenderedProject) -> None:
    """No source file holds the template version, which would conflict on every update.

    ``provenance.py`` reads ``_commit`` from the answers file, which records it.
    """
    commit = str(rendered.recorded["_commit"])
    package = rendered.path / "src" / str(rendered.recorded["package_name"])
    holding = [
        str(path.relative_to(rendered.path))
        for path in package.rglob("*.py")
        if commit in path.read_text(encoding="utf-8")
    ]
    assert not holding
    provenance = (package / "engine" / "core" / "provenance.py").read_text(encoding="utf-8")
    assert 'ANSWERS_FILE = ".copier-answers.yml"' in provenance


def _stages(parser: DockerfileParser) -> dict[str, dict[str, list[str]]]:
    """Each stage's instructions by kind, in order (instruction name -> values)."""
    stages: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for item in parser.structure:
        if item["instruction"] == "FROM":
            current = {"FROM": [str(item["value"])]}
            stages[str(item["value"]).split()[-1]] = current
        else:
            current.setdefault(str(item["instruction"]), []).append(str(item["value"]))
    return stages


@pytest.mark.parametrize("name", SERVING_DOCKER_SETS)
def test_dockerfile_serve_target(rendered_by_name: RenderedBy, name: str) -> None:
    """`--target serve` runs `serve` on the mounted package; a plain build still trains."""
    project = rendered_by_name(name).path
    parser = DockerfileParser(fileobj=io.BytesIO((project / "Dockerfile").read_bytes()))
    stages = _stages(parser)
    serve = stages["serve"]
    assert serve["FROM"] == ["runtime AS serve"]
    assert serve["EXPOSE"] == ["8000"]
    # The health check asks the service's own /health on the exposed port, with the image's Python.
    [healthcheck] = serve["HEALTHCHECK"]
    options, probe = healthcheck.split(" CMD ", 1)
    assert "--interval=" in options
    assert "--start-period=" in options
    probe_command = json.loads(probe)
    assert probe_command[0] == "python"
    assert "http://127.0.0.1:8000/health" in probe_command[-1]
    command = json.loads(serve["CMD"][-1])
    assert command[:2] == ["serve", "/app/model"]
    assert command[command.index("--host") + 1] == "0.0.0.0"
    last = list(stages.values())[-1]
    assert json.loads(last["CMD"][-1])[0] == "train"
    readme = (project / "README.md").read_text(encoding="utf-8")
    docker = readme.split("## Docker", 1)[1].split("\n## ", 1)[0]
    assert "--target serve" in docker
    assert ":/app/model" in docker


def test_no_serve_target_without_serving(rendered: RenderedProject) -> None:
    """A Dockerfile without serving has no serve stage and exposes no port."""
    dockerfile = rendered.path / "Dockerfile"
    if rendered.recorded["serving"] or not dockerfile.exists():
        pytest.skip(f"{rendered.name}: no Dockerfile, or serving=true")
    parser = DockerfileParser(fileobj=io.BytesIO(dockerfile.read_bytes()))
    assert "serve" not in _stages(parser)
    assert "EXPOSE" not in {item["instruction"] for item in parser.structure}
