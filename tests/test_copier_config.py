"""copier.yml itself: help texts, reserved names, validators, choices and the answer sets.

Validators run through copier's API, so a test sees exactly the error a user would. copier reports a
failed validator as ``ValueError("Validation error for question '<name>': <message>")``.
"""

from __future__ import annotations

import keyword
import sys
from typing import TYPE_CHECKING, Any

import jinja2
import pytest

from tests.helpers import (
    ANSWER_SETS,
    asked_questions,
    load_copier_config,
    make_template_repo,
    render_project,
)

if TYPE_CHECKING:
    from pathlib import Path

CONFIG = load_copier_config()
BASE_ANSWERS = {"project_name": "My ML Project"}

GOOD_ANSWERS: list[tuple[str, str]] = [
    ("project_name", "X"),
    ("project_name", "Deep  Vision: Q3 Experiments!"),
    ("project_name", "Zoë's model (v2)"),
    ("project_slug", "a"),
    ("project_slug", "my-ml-project"),
    ("project_slug", "my.project_2"),
    ("package_name", "a"),
    ("package_name", "my_pkg2"),
    ("package_name", "torch_experiments"),
    ("description", "Finds cats & dogs: it's #1 at 100% {fun}"),
    ("author_name", "Zoë O'Brien-Łukasiewicz"),
    ("author_email", "first.last+tag@sub.example.co.uk"),
]

BAD_ANSWERS: list[tuple[str, str]] = [
    ("project_name", ""),
    ("project_name", "   "),
    ("project_name", 'Say "hi"'),
    ("project_name", "back\\slash"),
    ("project_name", "two\nlines"),
    ("project_slug", "My-Project"),
    ("project_slug", "-leading-dash"),
    ("project_slug", "trailing."),
    ("project_slug", "has space"),
    ("project_slug", "café"),
    ("project_slug", "a-distribution-name-much-longer-than-forty"),
    ("package_name", "1st_model"),
    ("package_name", "MyPackage"),
    ("package_name", "with-dash"),
    ("package_name", "_private"),
    ("package_name", "class"),
    ("package_name", "json"),
    ("package_name", "torch"),
    ("package_name", "a_package_name_much_longer_than_forty_chars"),
    ("description", ""),
    ("description", "  "),
    ("description", "line one\nline two"),
    ("description", 'Says "hi"'),
    ("author_name", ""),
    ("author_name", 'Ann "A" Lee'),
    ("author_name", "back\\slash"),
    ("author_email", "not-an-email"),
    ("author_email", "a@b"),
    ("author_email", "a b@example.com"),
    ("author_email", "@example.com"),
    ("author_email", "two@@example.com"),
]

BAD_CHOICES: list[tuple[str, str]] = [
    ("license", "WTFPL"),
    ("license", "mit"),
    ("python_version", "3.9"),
    ("python_version", "3.14"),
    ("python_version", "3"),
    ("experiment_tracker", "neptune"),
]


def _choices(question: str) -> list[str]:
    return [str(choice) for choice in CONFIG[question]["choices"]]


def _answer_id(pair: tuple[str, str]) -> str:
    question, value = pair
    return f"{question}={value!r}"


@pytest.mark.parametrize("question", sorted(asked_questions(CONFIG)))
def test_every_question_has_help(question: str) -> None:
    """Every question copier asks explains itself."""
    help_text: Any = CONFIG[question].get("help")
    assert isinstance(help_text, str), f"{question} has no help text"
    assert help_text.strip(), f"{question} has an empty help text"


def test_computed_values_are_never_asked() -> None:
    """The values the template derives are ``when: false``, so copier never asks for them."""
    computed = {
        "reserved_package_names",
        "python_versions",
        "python_target",
        "license_spdx",
        "cli_env_prefix",
        "has_update_check",
        "ruff_version",
    }
    for name in computed:
        assert CONFIG[name].get("when") is False, f"{name} would be asked"


def test_strict_undefined_is_configured() -> None:
    """copier.yml makes an undefined variable an error rather than an empty string."""
    assert CONFIG["_envops"]["undefined"] == "jinja2.StrictUndefined"


# copier leaves a directory iterator open when a render fails half-way; that leak is copier's.
@pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <posix.ScandirIterator:pytest.PytestUnraisableExceptionWarning"
)
def test_undefined_variable_fails_the_render(tmp_path: Path) -> None:
    """A file that names an unknown answer stops the render instead of rendering it empty."""
    template = make_template_repo(
        tmp_path / "template",
        extra_files={"template/strict-probe.txt.jinja": "{{ not_an_answer_of_this_template }}\n"},
    )
    with pytest.raises(jinja2.UndefinedError, match="not_an_answer_of_this_template"):
        render_project(template, tmp_path / "project", BASE_ANSWERS)


def test_reserved_names_cover_keywords() -> None:
    """Every lower-case Python keyword is a reserved package name."""
    reserved = set(CONFIG["reserved_package_names"]["default"])
    missing = sorted(word for word in keyword.kwlist if word.islower() and word not in reserved)
    assert not missing, f"keywords missing from includes/reserved-package-names.yml: {missing}"


def test_reserved_names_cover_this_pythons_stdlib() -> None:
    """Every public lower-case standard-library module of this Python is a reserved name."""
    reserved = set(CONFIG["reserved_package_names"]["default"])
    stdlib = {name for name in sys.stdlib_module_names if name.islower() and name[0] != "_"}
    missing = sorted(stdlib - reserved)
    assert not missing, (
        f"stdlib modules missing from includes/reserved-package-names.yml: {missing}"
    )


@pytest.mark.parametrize(("question", "value"), GOOD_ANSWERS, ids=map(_answer_id, GOOD_ANSWERS))
def test_validator_accepts(template_repo: Path, tmp_path: Path, question: str, value: str) -> None:
    """A valid answer passes its validator and the whole render (nothing is written)."""
    render_project(template_repo, tmp_path, {**BASE_ANSWERS, question: value}, pretend=True)


@pytest.mark.parametrize(("question", "value"), BAD_ANSWERS, ids=map(_answer_id, BAD_ANSWERS))
def test_validator_rejects(template_repo: Path, tmp_path: Path, question: str, value: str) -> None:
    """An invalid answer fails with a message that names the question and repeats the value."""
    with pytest.raises(ValueError, match="Validation error") as caught:
        render_project(template_repo, tmp_path, {**BASE_ANSWERS, question: value}, pretend=True)
    message = str(caught.value)
    assert f"question '{question}'" in message
    if value.strip():
        assert value in message, f"the message does not repeat {value!r}: {message}"
    else:
        assert "empty" in message, f"the message does not say the answer is empty: {message}"


@pytest.mark.parametrize(("question", "value"), BAD_CHOICES, ids=map(_answer_id, BAD_CHOICES))
def test_choice_rejects(template_repo: Path, tmp_path: Path, question: str, value: str) -> None:
    """An answer outside a question's choices is refused."""
    with pytest.raises(ValueError, match="Invalid choice") as caught:
        render_project(template_repo, tmp_path, {**BASE_ANSWERS, question: value}, pretend=True)
    assert repr(value) in str(caught.value)


def test_every_validator_is_exercised() -> None:
    """Each validated question gets good and bad answers; at least 15 bad ones in all."""
    assert len(BAD_ANSWERS) >= 15
    validated = {name for name, spec in asked_questions(CONFIG).items() if "validator" in spec}
    assert validated <= {question for question, _ in BAD_ANSWERS}
    assert validated <= {question for question, _ in GOOD_ANSWERS}


@pytest.mark.parametrize("question", ["license", "python_version", "ci", "experiment_tracker"])
def test_answer_sets_cover_every_choice(question: str) -> None:
    """Every licence, Python version, CI and tracker choice is rendered by an answer set."""
    default = str(CONFIG[question]["default"])
    used = {answers.get(question, default) for answers in ANSWER_SETS.values()}
    assert used == set(_choices(question))
