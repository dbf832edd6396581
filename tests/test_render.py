"""What each answer set renders, checked without installing anything.

Every check runs on every answer set (see tests.helpers.ANSWER_SETS), each rendered once per
session. Empty files are allowed only where emptiness is the point: ``py.typed`` is the PEP 561
marker and carries no content. ``__init__.py`` files are not exempt: each one holds at least the
package docstring that ruff's pydocstyle rules require.
"""

from __future__ import annotations

import json
import re
import tomllib
from typing import TYPE_CHECKING, Any

import yaml

from tests.helpers import REPO_ROOT, computed_values, load_copier_config, version_key
from tests.workflows import matrix_pythons

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from tests.conftest import RenderedBy, RenderedProject

ALLOWED_EMPTY = frozenset({"py.typed"})

# Leftover Jinja: an expression, a statement or a comment. Literal braces in Python (an f-string
# or str.format escape such as ``f"{{key}}"``) have no space after ``{{`` and are not flagged.
JINJA_LEFTOVER = re.compile(r"\{\{[-\s]+[A-Za-z_][^{}\n]*\}\}|\{%-?\s*\w+|\{#.*?#\}")
# GitHub Actions expressions, legitimate in workflow files shipped verbatim.
ACTIONS_EXPRESSION = re.compile(r"\$\{\{.*?\}\}")
PYTHON_CLASSIFIER = re.compile(r"Programming Language :: Python :: (3\.\d+)")
PLACEHOLDER = re.compile(r"\bTODO\b|\bFIXME\b|\blorem\b|your code here", re.IGNORECASE)

LICENSE_TEXT = {
    "MIT": "MIT License",
    "Apache-2.0": "Apache License",
    "BSD-3-Clause": "Redistribution and use",
    "GPL-3.0-only": "GNU GENERAL PUBLIC LICENSE",
    "Proprietary": "proprietary",
}
LICENSE_SPDX = {
    "MIT": "MIT",
    "Apache-2.0": "Apache-2.0",
    "BSD-3-Clause": "BSD-3-Clause",
    "GPL-3.0-only": "GPL-3.0-only",
    "Proprietary": "LicenseRef-Proprietary",
}
SUPPORTED_PYTHONS = [str(version) for version in load_copier_config()["python_version"]["choices"]]


def _files(project: Path) -> Iterator[Path]:
    yield from sorted(
        path for path in project.rglob("*") if path.is_file() and ".git" not in path.parts
    )


def _text_files(project: Path) -> Iterator[tuple[Path, str]]:
    for path in _files(project):
        try:
            yield path, path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue


def _pyproject(project: Path) -> dict[str, Any]:
    return tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))


def _expected_pythons(rendered: RenderedProject) -> list[str]:
    oldest = version_key(str(rendered.recorded["python_version"]))
    return [version for version in SUPPORTED_PYTHONS if version_key(version) >= oldest]


def _jinja_leftovers(relative: Path, text: str) -> list[str]:
    """Locations (``path:line: match``) of Jinja syntax left in a file or its path."""
    if ".github" in relative.parts:
        text = ACTIONS_EXPRESSION.sub("", text)
    found = [
        f"{relative}:{text.count(chr(10), 0, match.start()) + 1}: {match.group()}"
        for match in JINJA_LEFTOVER.finditer(text)
    ]
    if "{{" in str(relative) or "{%" in str(relative):
        found.append(f"{relative}: unrendered path")
    return found


def test_no_unrendered_jinja(rendered: RenderedProject) -> None:
    """No file or path keeps a Jinja expression, statement or comment."""
    leftovers = [
        leftover
        for path, text in _text_files(rendered.path)
        for leftover in _jinja_leftovers(path.relative_to(rendered.path), text)
    ]
    assert not leftovers, "unrendered Jinja:\n" + "\n".join(leftovers)


def test_structured_files_parse(rendered: RenderedProject) -> None:
    """Every TOML, YAML and JSON file parses."""
    parsers: dict[str, Callable[[str], object]] = {
        ".toml": tomllib.loads,
        ".yaml": lambda text: list(yaml.safe_load_all(text)),
        ".yml": lambda text: list(yaml.safe_load_all(text)),
        ".json": json.loads,
    }
    checked = 0
    for path, text in _text_files(rendered.path):
        parse = parsers.get(path.suffix)
        if parse is not None:
            parse(text)
            checked += 1
    assert checked >= 2, "expected at least pyproject.toml and the answers file"


def test_no_empty_files(rendered: RenderedProject) -> None:
    """Only files whose emptiness is the point (ALLOWED_EMPTY) are empty."""
    empty = [
        str(path.relative_to(rendered.path))
        for path in _files(rendered.path)
        if path.name not in ALLOWED_EMPTY and not path.read_bytes().strip()
    ]
    assert not empty, f"empty files: {empty}"


def test_no_placeholder_text(rendered: RenderedProject) -> None:
    """No TODO, FIXME, lorem ipsum or "your code here" reaches a user."""
    found = [
        f"{path.relative_to(rendered.path)}: {match.group()}"
        for path, text in _text_files(rendered.path)
        for match in PLACEHOLDER.finditer(text)
    ]
    assert not found, "placeholder text:\n" + "\n".join(found)


def test_answers_file_records_the_render(rendered: RenderedProject, template_repo: Path) -> None:
    """The answers file holds what ``copier update`` needs and every answer given."""
    recorded = rendered.recorded
    assert recorded.get("_commit"), "no _commit: copier update could not find the base version"
    assert recorded.get("_src_path") == str(template_repo)
    for question, value in rendered.given.items():
        assert recorded.get(question) == value, (
            f"{question}: {recorded.get(question)!r} != {value!r}"
        )


def test_computed_values_stay_out_of_answers(rendered: RenderedProject) -> None:
    """Derived values are recomputed on update, never stored as answers."""
    computed = computed_values(load_copier_config())
    assert "license_spdx" in computed  # guards against an empty set passing vacuously
    stored = computed & set(rendered.recorded)
    assert not stored, f"computed values stored in the answers file: {sorted(stored)}"


def test_package_layout(rendered: RenderedProject) -> None:
    """The package lives in src/<package_name>/, typed (PEP 561)."""
    package = rendered.path / "src" / str(rendered.recorded["package_name"])
    assert (package / "__init__.py").is_file(), (
        f"no package at {package.relative_to(rendered.path)}"
    )
    assert (package / "py.typed").is_file()


def test_license_text(rendered: RenderedProject) -> None:
    """LICENSE holds the chosen licence's text."""
    licence = str(rendered.recorded["license"])
    text = (rendered.path / "LICENSE").read_text(encoding="utf-8")
    expected = LICENSE_TEXT[licence]
    found = expected.lower() in text.lower() if licence == "Proprietary" else expected in text
    assert found, f"LICENSE for {licence} does not contain {expected!r}"


def test_license_metadata(rendered: RenderedProject) -> None:
    """pyproject.toml declares the licence as its SPDX expression."""
    licence = str(rendered.recorded["license"])
    assert _pyproject(rendered.path)["project"]["license"] == LICENSE_SPDX[licence]


def test_project_identity(rendered: RenderedProject) -> None:
    """Distribution name and console script follow project_slug; the script calls the package."""
    project = _pyproject(rendered.path)["project"]
    slug = str(rendered.recorded["project_slug"])
    assert project["name"] == slug
    assert project["scripts"][slug].startswith(f"{rendered.recorded['package_name']}.")


def test_front_pages_give_the_description_once(rendered: RenderedProject) -> None:
    """The README and the docs site's home say what the project does, once each."""
    description = str(rendered.recorded["description"])
    pages = [rendered.path / "README.md", rendered.path / "docs" / "index.md"]
    for page in (path for path in pages if path.is_file()):
        assert page.read_text(encoding="utf-8").count(description) == 1, page.name


def test_python_versions_agree(rendered: RenderedProject, tmp_path: Path) -> None:
    """requires-python, classifiers, ruff, mypy and the CI test matrix name the same Pythons.

    The CI matrix is read from pyproject.toml by a workflow step; that step is run here.
    """
    expected = _expected_pythons(rendered)
    oldest = expected[0]
    pyproject = _pyproject(rendered.path)
    classified = [
        match.group(1)
        for classifier in pyproject["project"]["classifiers"]
        if (match := PYTHON_CLASSIFIER.fullmatch(classifier))
    ]
    assert pyproject["project"]["requires-python"] == f">={oldest}"
    assert classified == expected
    assert pyproject["tool"]["ruff"]["target-version"] == f"py{oldest.replace('.', '')}"
    assert str(pyproject["tool"]["mypy"]["python_version"]) == oldest
    matrices = list(matrix_pythons(rendered.path, tmp_path))
    if rendered.recorded["ci"] == "github":
        assert matrices, "the GitHub workflows hold no Python matrix"
    for workflow, versions in matrices:
        assert versions == expected, f"{workflow}: matrix {versions!r} != {expected!r}"


def test_odd_name_derives_valid_identifiers(rendered_by_name: RenderedBy) -> None:
    """Spaces, capitals and punctuation in the name reduce to a clean slug and package name."""
    answers = rendered_by_name("apache_py310_odd_names").recorded
    assert answers["project_slug"] == "deep-vision-q3-experiments"
    assert answers["package_name"] == "deep_vision_q3_experiments"


def test_lines_fit_any_package_name() -> None:
    """No Python line of the template passes the line length once the longest name fills it in.

    A rendered project is checked by ruff for the names of the answer sets its task has; this
    catches a long ``from {{ package_name }}...`` line in the files of every task at once.
    """
    longest = "deep_vision_q3_experiments"  # the odd names' package, the longest of the sets
    limit = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "ruff"
    ]["line-length"]
    long_lines = [
        f"{path.relative_to(REPO_ROOT)}:{number}"
        for path in sorted((REPO_ROOT / "template").rglob("*.py*"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "{{ package_name }}" in line and len(line.replace("{{ package_name }}", longest)) > limit
    ]
    assert not long_lines, f"over {limit} characters with package {longest!r}: {long_lines}"


def test_dogfood(rendered_by_name: RenderedBy) -> None:
    """This repository lints its tests with the ruff settings the generated project ships."""
    shipped = _pyproject(rendered_by_name("defaults").path)["tool"]["ruff"]
    ours = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["ruff"]
    assert ours["line-length"] == shipped["line-length"]
    assert sorted(ours["lint"]["select"]) == sorted(shipped["lint"]["select"])
    assert ours["lint"]["pydocstyle"] == shipped["lint"]["pydocstyle"]


def test_license_tables_cover_every_choice() -> None:
    """The expectations above know every licence copier.yml offers, and no other."""
    choices = {str(choice) for choice in load_copier_config()["license"]["choices"]}
    assert set(LICENSE_TEXT) == choices
    assert set(LICENSE_SPDX) == choices
