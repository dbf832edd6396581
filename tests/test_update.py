"""``copier update`` between tagged versions of the template keeps its promises.

The template under test (the working-tree snapshot of tests/conftest.py) is cloned once per module
into a repository with two PEP 440 tags: ``0.2.0`` is the snapshot as it is, ``0.3.0`` adds a
template change (see ``release_next_version``) to standards files (the generated pyproject.toml's
coverage floor, the ``seed`` utility), to user-owned files (``configs/default.yaml``,
``models/mlp.py``, ``README.md``) and adds a new file (``configs/example.yaml``).

Projects are copied from it and committed to git, edited the way a team would, committed again
and updated, always through copier's API with ``unsafe=False``. The user-owned files are the
``_skip_if_exists`` patterns of copier.yml; docs/updating.md states the rules tested here.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from copier import VcsRef, run_copy, run_update
from copier.errors import UserMessageError
from packaging.version import InvalidVersion, Version
from pathspec import PathSpec

from tests.helpers import (
    ANSWER_SETS,
    REPO_ROOT,
    TIMINGS,
    StepRunner,
    asked_questions,
    load_copier_config,
    read_answers,
    run_static_gate,
    with_copier,
)
from tests.install import create_venv_command, install_project_command, project_env

OLD, NEW = "0.2.0", "0.3.0"
ANSWERS = ANSWER_SETS["defaults"]
TIMED = f"update {OLD} -> {NEW}"  # the name update durations are reported under

CONFIG = load_copier_config()
USER_OWNED: list[str] = list(CONFIG.get("_skip_if_exists", []))

# What 0.3.0 changes in the template, and what a user changes in the project.
TEMPLATE_LINE = "# This line arrived with template version 0.3.0."
README_LINE = "This line arrived with template version 0.3.0."
USER_README = "\n## Our results\n\nSee NOTES.md.\n"
USER_CONFIG_LINE = "# Our runs start from this file.\n"
USER_NOTES = "# Notes\n\nOur own file: the template knows nothing about it.\n"
USER_VERSION = 'version = "1.2.0"'
USER_FUNCTION = '''

def seed_for_rank(seed: int, *, rank: int) -> int:
    """Return the seed of process ``rank``: ``seed`` shifted so that ranks differ."""
    return seed + rank
'''

# The engine files 0.3.0 changes: a utility, the training loop and evaluation.
ENGINE_CHANGES = ("engine/core/seed.py", "engine/trainer/loop.py", "engine/evaluation/loop.py")

# Labels copier gives the two sides of an inline conflict.
CONFLICT_START = b"<<<<<<< before updating"
CONFLICT_END = b">>>>>>> after updating"


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------
def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` and return its standard output."""
    result = subprocess.run(
        ["git", "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"git {' '.join(args)} failed in {cwd}:\n{result.stderr}"
    return result.stdout


def commit_all(project: Path, message: str) -> None:
    """Commit every change in ``project``: copier only updates a clean work tree."""
    git(project, "add", "-A")
    git(project, "commit", "-q", "--no-verify", "--allow-empty", "-m", message)


def edit(path: Path, change: Callable[[str], str]) -> None:
    """Rewrite ``path`` with ``change``, failing when the change found nothing to change."""
    before = path.read_text(encoding="utf-8")
    after = change(before)
    assert after != before, f"the edit found nothing to change in {path}"
    path.write_text(after, encoding="utf-8")


def replace(old: str, new: str) -> Callable[[str], str]:
    """A change that replaces the one occurrence of ``old``."""

    def change(text: str) -> str:
        assert text.count(old) == 1, f"expected {old!r} once"
        return text.replace(old, new)

    return change


def replace_line(pattern: str, new: str) -> Callable[[str], str]:
    """A change that replaces the one whole line matching ``pattern`` with ``new``."""

    def change(text: str) -> str:
        result, count = re.subn(f"^{pattern}$", new, text, flags=re.MULTILINE)
        assert count == 1, f"expected one line matching {pattern!r}, found {count}"
        return result

    return change


def coverage_floor(pyproject: Path) -> int:
    """The ``fail_under`` of a rendered pyproject.toml."""
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    return int(data["tool"]["coverage"]["report"]["fail_under"])


def copy_project(template: Path, dst: Path, ref: str, **answers: str) -> Path:
    """Copy ``ref`` of the template into ``dst`` and commit it, as the README tells users to."""
    with TIMINGS.measure(TIMED, f"copy {ref}"):
        run_copy(
            str(template),
            str(dst),
            data={**ANSWERS, **answers},
            vcs_ref=ref,
            defaults=True,
            unsafe=False,
            quiet=True,
        )
    git(dst, "init", "-q")
    commit_all(dst, f"Start from the template {ref}")
    return dst


def update_project(project: Path, ref: str | VcsRef = NEW, **options: Any) -> None:
    """Update ``project`` to ``ref`` the way docs/updating.md says, without prompts."""
    with TIMINGS.measure(TIMED, "update"):
        run_update(
            str(project),
            vcs_ref=ref,
            defaults=True,
            overwrite=True,
            unsafe=False,
            conflict="inline",
            quiet=True,
            **options,
        )


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` but git's own, by relative POSIX path."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(root).parts
    }


def files_with_conflict_markers(root: Path) -> list[str]:
    """Files holding a line that opens or closes a conflict."""
    return [
        name
        for name, content in tree(root).items()
        if any(line.rstrip() in {CONFLICT_START, CONFLICT_END} for line in content.splitlines())
    ]


def unmerged_paths(project: Path) -> list[str]:
    """What ``git diff --name-only --diff-filter=U`` reports: the files git sees in conflict."""
    return git(project, "diff", "--name-only", "--diff-filter=U").split()


def user_owned(path: str) -> bool:
    """Whether copier.yml's ``_skip_if_exists`` patterns cover a project-relative path."""
    return PathSpec.from_lines("gitignore", USER_OWNED).match_file(path)


def package_dir(project: Path) -> Path:
    """``src/<package_name>`` of a rendered project."""
    return project / "src" / str(read_answers(project)["package_name"])


# --------------------------------------------------------------------------------------------------
# The template with two tags
# --------------------------------------------------------------------------------------------------
def release_next_version(repo: Path) -> None:
    """Change the template the way a 0.3.0 release would: standards and user-owned files."""
    edit(repo / "template" / "pyproject.toml.jinja", lower_coverage_floor)
    for pattern in (*ENGINE_CHANGES, "models/*mlp.py"):
        (module,) = repo.glob(f"template/src/*/{pattern}*")
        edit(module, lambda text: f"{TEMPLATE_LINE}\n{text}")
    (config,) = repo.glob("template/configs/*'classification'*default.yaml*")
    edit(config, lambda text: f"{TEMPLATE_LINE}\n{text}")
    # A new config is one per task, as the default configs are.
    shutil.copyfile(config, config.with_name(config.name.replace("default", "example")))
    edit(repo / "template" / "README.md.jinja", lambda text: f"{text}\n{README_LINE}\n")


def tagged_versions(template_repo: Path, repo: Path) -> Path:
    """Clone ``template_repo`` to ``repo``, tagged ``OLD`` as it is and ``NEW`` one release on."""
    git(repo.parent, "clone", "-q", str(template_repo), repo.name)
    git(repo, "tag", OLD)
    release_next_version(repo)
    commit_all(repo, "Release 0.3.0")
    git(repo, "tag", NEW)
    return repo.resolve()


def lower_coverage_floor(text: str) -> str:
    """The 0.3.0 change to the generated pyproject.toml: the coverage floor drops by 5."""
    match = re.search(r"^fail_under = (\d+)$", text, flags=re.MULTILINE)
    assert match, "no fail_under line in template/pyproject.toml.jinja"
    return replace_line(r"fail_under = \d+", f"fail_under = {int(match[1]) - 5}")(text)


@pytest.fixture(scope="module")
def versions(template_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Absolute path of a template repository tagged 0.2.0 (the snapshot) and 0.3.0."""
    repo = tmp_path_factory.mktemp("versions") / "template"
    return tagged_versions(template_repo, repo)


@pytest.fixture(scope="module")
def pristine(versions: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A committed, untouched copy of each version; tests work on clones of it."""
    root = tmp_path_factory.mktemp("pristine")
    return {ref: copy_project(versions, root / ref, ref) for ref in (OLD, NEW)}


Clone = Callable[[str], Path]


@pytest.fixture
def clone(pristine: dict[str, Path], tmp_path: Path) -> Clone:
    """``clone(ref)``: a private copy, git history included, of the pristine copy of ``ref``."""

    def _clone(ref: str) -> Path:
        return Path(shutil.copytree(pristine[ref], tmp_path / f"project-{ref}", symlinks=True))

    return _clone


# --------------------------------------------------------------------------------------------------
# A project copied from 0.2.0, edited by its team, updated to 0.3.0
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Updated:
    """A project updated from 0.2.0 to 0.3.0 after edits of its own; treat it as read-only."""

    path: Path
    answers_before: dict[str, Any]
    committed: dict[str, bytes]  # the tree the team committed before updating
    floor: int  # the coverage floor of 0.2.0


def edit_as_user(project: Path) -> None:
    """Edit as a team would: standards files, user-owned files, and a file of its own."""
    edit(project / "pyproject.toml", replace_line(r'version = "[^"]*"', USER_VERSION))
    edit(package_dir(project) / "engine" / "core" / "seed.py", lambda text: text + USER_FUNCTION)
    edit(project / "configs" / "default.yaml", lambda text: text + USER_CONFIG_LINE)
    edit(project / "README.md", lambda text: text + USER_README)
    (project / "NOTES.md").write_text(USER_NOTES, encoding="utf-8")


@pytest.fixture(scope="module")
def updated(pristine: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Updated:
    """Copy 0.2.0, edit as a team would, commit, update to 0.3.0 (left uncommitted)."""
    project = tmp_path_factory.mktemp("updated") / "project"
    shutil.copytree(pristine[OLD], project, symlinks=True)
    answers_before = read_answers(project)
    floor = coverage_floor(project / "pyproject.toml")
    edit_as_user(project)
    commit_all(project, "Our changes")
    committed = tree(project)
    update_project(project, NEW)
    return Updated(project, answers_before, committed, floor)


def test_answers_file_records_the_tag(updated: Updated) -> None:
    """A project copied from a tag names that tag in ``_commit``: its template version."""
    assert updated.answers_before["_commit"] == OLD
    assert Path(updated.answers_before["_src_path"]).is_absolute()


def test_answers_file_moves_to_the_new_tag(updated: Updated) -> None:
    """After the update ``_commit`` names the new version; the answers stay as they were."""
    after = read_answers(updated.path)
    assert after["_commit"] == NEW
    assert {k: v for k, v in after.items() if k != "_commit"} == {
        k: v for k, v in updated.answers_before.items() if k != "_commit"
    }


def test_template_changes_arrive(updated: Updated) -> None:
    """Standards files take the new version's changes; new files arrive, in any folder."""
    assert coverage_floor(updated.path / "pyproject.toml") == updated.floor - 5
    for name in ENGINE_CHANGES:
        module = (package_dir(updated.path) / name).read_text(encoding="utf-8")
        assert module.startswith(TEMPLATE_LINE), f"{name} did not take 0.3.0's change"
    example = updated.path / "configs" / "example.yaml"
    assert example.read_text(encoding="utf-8").startswith(TEMPLATE_LINE)


def test_user_edits_to_standards_files_merge(updated: Updated) -> None:
    """The team's edits elsewhere in the files the template changed are kept."""
    pyproject = (updated.path / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(f"^{re.escape(USER_VERSION)}$", pyproject, flags=re.MULTILINE)
    seed = (package_dir(updated.path) / "engine" / "core" / "seed.py").read_text(encoding="utf-8")
    assert seed.endswith(USER_FUNCTION), "the function the team added to seed.py is gone"


def test_user_owned_files_are_untouched(updated: Updated) -> None:
    """User-owned files keep the team's content, edited (configs, README) or not (mlp.py)."""
    now = tree(updated.path)
    owned = sorted(name for name in updated.committed if user_owned(name))
    assert "configs/default.yaml" in owned
    assert "README.md" in owned
    changed = [name for name in owned if now.get(name) != updated.committed[name]]
    assert not changed, f"the update changed user-owned files: {changed}"
    assert now["NOTES.md"] == USER_NOTES.encode()


def test_update_leaves_no_conflict(updated: Updated) -> None:
    """Edits apart from the template's merge without markers, rejects or unmerged paths."""
    assert not files_with_conflict_markers(updated.path)
    assert not [name for name in tree(updated.path) if name.endswith(".rej")]
    assert not unmerged_paths(updated.path)


def test_only_expected_files_changed(updated: Updated) -> None:
    """The update touches the answers file and the files the template changed, nothing else."""
    changed = git(updated.path, "status", "--porcelain").splitlines()
    names = sorted(line[3:] for line in changed)
    package = package_dir(updated.path).relative_to(updated.path).as_posix()
    # No source file records the template version: it is read from the answers file.
    assert names == sorted(
        [
            ".copier-answers.yml",
            "configs/example.yaml",
            "pyproject.toml",
            *(f"{package}/{name}" for name in ENGINE_CHANGES),
        ]
    )


# --------------------------------------------------------------------------------------------------
# Conflicts, fresh copies, answers, deletions
# --------------------------------------------------------------------------------------------------
def test_conflicting_edit_is_an_inline_conflict(clone: Clone) -> None:
    """Team and template change the same line: git reports one conflict, nothing else is lost."""
    project = clone(OLD)
    floor = coverage_floor(project / "pyproject.toml")
    edit_as_user(project)
    edit(project / "pyproject.toml", replace_line(r"fail_under = \d+", f"fail_under = {floor + 5}"))
    commit_all(project, "Our changes, one on the line the template changes")
    committed = tree(project)

    update_project(project, NEW)

    assert unmerged_paths(project) == ["pyproject.toml"]
    assert files_with_conflict_markers(project) == ["pyproject.toml"]
    pyproject = (project / "pyproject.toml").read_text(encoding="utf-8")
    ours, theirs = f"fail_under = {floor + 5}", f"fail_under = {floor - 5}"
    assert re.search(
        rf"^<<<<<<< before updating\n(.*\n)*{ours}\n(.*\n)*=======\n(.*\n)*{theirs}\n"
        r"(.*\n)*>>>>>>> after updating$",
        pyproject,
        flags=re.MULTILINE,
    ), f"no inline conflict between {ours!r} and {theirs!r}:\n{pyproject}"
    assert USER_VERSION in pyproject
    seed = (package_dir(project) / "engine" / "core" / "seed.py").read_text(encoding="utf-8")
    assert seed.startswith(TEMPLATE_LINE)
    assert seed.endswith(USER_FUNCTION)
    now = tree(project)
    kept = [name for name in committed if user_owned(name) or name == "NOTES.md"]
    assert [name for name in kept if now.get(name) != committed[name]] == []


def test_update_equals_a_fresh_copy(pristine: dict[str, Path], clone: Clone) -> None:
    """Copy 0.2.0 and update gives the tree of a 0.3.0 copy, but for the user-owned files.

    Those keep their 0.2.0 content even when the team never edited them: they are the team's
    from the first copy on.
    """
    updated = clone(OLD)
    update_project(updated, NEW)
    fresh = pristine[NEW]

    got, want = tree(updated), tree(fresh)
    assert sorted(got) == sorted(want), "the two trees hold different files"
    differing = sorted(name for name in want if got[name] != want[name])
    assert differing, "0.3.0 changes user-owned files, so their content must differ"
    assert [name for name in differing if not user_owned(name)] == []
    for name in differing:
        at_copy = git(updated, "show", f"HEAD:{name}").encode()
        assert got[name] == at_copy, f"{name} is not what 0.2.0 rendered"


@pytest.mark.parametrize(
    ("question", "answer"), [("license", "Apache-2.0"), ("python_version", "3.12")]
)
def test_changed_answer_rerenders_consistently(
    versions: Path, clone: Clone, tmp_path: Path, question: str, answer: str
) -> None:
    """``copier update --vcs-ref=:current: -d question=answer`` gives what a copy with it gives."""
    project = clone(NEW)
    update_project(project, VcsRef.CURRENT, data={question: answer})
    fresh = copy_project(versions, tmp_path / "fresh", NEW, **{question: answer})

    assert tree(project) == tree(fresh)
    assert read_answers(project)[question] == answer
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    if question == "license":
        assert pyproject["project"]["license"] == answer
        assert "Apache License" in (project / "LICENSE").read_text(encoding="utf-8")
    else:
        assert pyproject["project"]["requires-python"] == f">={answer}"
        assert pyproject["tool"]["ruff"]["target-version"] == f"py{answer.replace('.', '')}"
        assert pyproject["tool"]["mypy"]["python_version"] == answer
        classifiers = pyproject["project"]["classifiers"]
        assert "Programming Language :: Python :: 3.11" not in classifiers
        assert f"Programming Language :: Python :: {answer}" in classifiers


def test_deleted_files(clone: Clone) -> None:
    """A deleted standards file stays deleted; a deleted user-owned file comes back.

    copier recreates a ``_skip_if_exists`` file that is missing, at the new version. This also
    covers the path where copier matches the patterns before loading the answers.
    """
    project = clone(OLD)
    package = package_dir(project)
    (package / "engine" / "core" / "seed.py").unlink()
    (package / "models" / "mlp.py").unlink()
    commit_all(project, "Delete a standards file and a user-owned one")

    update_project(project, NEW)

    seed = package / "engine" / "core" / "seed.py"
    assert not seed.exists(), "a deleted standards file came back"
    mlp = package / "models" / "mlp.py"
    assert mlp.is_file(), "a deleted user-owned file stayed deleted"
    assert mlp.read_text(encoding="utf-8").startswith(TEMPLATE_LINE), "not the 0.3.0 version"


def test_exclude_keeps_a_user_owned_file_deleted(clone: Clone) -> None:
    """``copier update --exclude PATTERN`` is the way to keep a user-owned file deleted."""
    project = clone(OLD)
    mlp = package_dir(project) / "models" / "mlp.py"
    mlp.unlink()
    commit_all(project, "Delete the example model")

    update_project(project, NEW, exclude=["src/*/models/mlp.py"])

    assert not mlp.exists()
    assert not files_with_conflict_markers(project)


# --------------------------------------------------------------------------------------------------
# check-update and the common mistakes of docs/updating.md
# --------------------------------------------------------------------------------------------------
def check_update(project: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """Run ``copier check-update`` in ``project``."""
    return subprocess.run(
        [sys.executable, "-m", "copier", "check-update", *options],
        cwd=project,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_check_update(clone: Clone) -> None:
    """``check-update --quiet`` exits 2 while a newer tag exists, 0 once updated."""
    project = clone(OLD)
    assert check_update(project, "--quiet").returncode == 2
    report = check_update(project, "--output-format", "json")
    assert json.loads(report.stdout) == {
        "update_available": True,
        "current_version": OLD,
        "latest_version": NEW,
    }
    update_project(project, NEW)
    commit_all(project, "Update to 0.3.0")
    result = check_update(project, "--quiet")
    assert result.returncode == 0, result.stderr


def test_dirty_work_tree_is_refused(clone: Clone) -> None:
    """Uncommitted changes, even a new untracked file, stop the update before it starts."""
    project = clone(OLD)
    (project / "NOTES.md").write_text(USER_NOTES, encoding="utf-8")
    with pytest.raises(UserMessageError, match="dirty"):
        update_project(project, NEW)
    assert read_answers(project)["_commit"] == OLD


def test_relative_source_path_breaks_updates(
    versions: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A project copied from a relative path updates only after ``_src_path`` is made absolute."""
    git(tmp_path, "clone", "-q", str(versions), "template")
    monkeypatch.chdir(tmp_path)
    project = copy_project(Path("template"), tmp_path / "project", OLD)
    assert read_answers(project)["_src_path"] == "template"

    monkeypatch.chdir(project)
    with pytest.raises(ValueError, match="Local template must be a directory"):
        update_project(project, NEW)

    edit(
        project / ".copier-answers.yml",
        replace_line("_src_path: template", f"_src_path: {versions}"),
    )
    commit_all(project, "Record the template's absolute path")
    update_project(project, NEW)
    assert read_answers(project)["_commit"] == NEW


# --------------------------------------------------------------------------------------------------
# The rule itself: copier.yml, the docs, the changelog
# --------------------------------------------------------------------------------------------------
def test_nothing_needs_trust() -> None:
    """No tasks, extensions or migrations: copy and update never ask for ``--trust``."""
    unsafe = {"_tasks", "_jinja_extensions", "_migrations"} & set(CONFIG)
    assert not unsafe, f"copier.yml sets {sorted(unsafe)}: updates would need --trust"


def test_user_owned_patterns_are_plain_globs() -> None:
    """No Jinja in ``_skip_if_exists``: on update copier matches it before loading the answers.

    A pattern such as ``src/{{ package_name }}/...`` then fails with StrictUndefined as soon as
    the user has deleted any file.
    """
    assert USER_OWNED, "copier.yml lists no user-owned files"
    assert [pattern for pattern in USER_OWNED if "{" in pattern or "%" in pattern] == []


def test_user_owned_patterns_each_match_a_file(template_repo: Path, tmp_path: Path) -> None:
    """Every pattern names a file that a render with every option turned on produces.

    The text task renders every file the other tasks do and its tokenizer besides.
    """
    everything_on = {
        name: True for name, spec in asked_questions(CONFIG).items() if spec.get("type") == "bool"
    }
    run_copy(
        str(template_repo),
        str(tmp_path),
        data={**ANSWERS, **everything_on, "task": "text_classification"},
        vcs_ref="HEAD",
        defaults=True,
        unsafe=False,
        quiet=True,
    )
    names = list(tree(tmp_path))
    unmatched = [
        pattern
        for pattern in USER_OWNED
        if not any(PathSpec.from_lines("gitignore", [pattern]).match_file(n) for n in names)
    ]
    assert not unmatched, f"_skip_if_exists patterns that match no rendered file: {unmatched}"


def test_user_owned_files_are_documented() -> None:
    """docs/updating.md lists exactly the patterns copier.yml protects."""
    doc = (REPO_ROOT / "docs" / "updating.md").read_text(encoding="utf-8")
    missing = [pattern for pattern in USER_OWNED if f"`{pattern}`" not in doc]
    assert not missing, f"docs/updating.md does not list {missing}"


def changelog_sections() -> dict[str, str]:
    """CHANGELOG.md's version sections, by the version in their ``## [x.y.z]`` heading."""
    text = (REPO_ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    parts = re.split(r"^## \[([^\]]+)\].*$", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_changelog_versions() -> None:
    """Every CHANGELOG entry is a PEP 440 version and says what an update asks of the user."""
    sections = changelog_sections()
    assert any(version != "Unreleased" for version in sections), "CHANGELOG.md has no release"
    for version, body in sections.items():
        if version == "Unreleased":
            continue
        try:
            Version(version)
        except InvalidVersion:
            pytest.fail(f"CHANGELOG entry [{version}] is not a PEP 440 version")
        assert "**Updating:**" in body, f"CHANGELOG entry [{version}] has no **Updating:** line"


# --------------------------------------------------------------------------------------------------
# The updated project still passes its own gate
# --------------------------------------------------------------------------------------------------


def test_template_diff_knows_the_team_files() -> None:
    """The generated ``template-diff`` compares exactly the files an update leaves to the team."""
    module = REPO_ROOT / "template" / "src" / "{{ package_name }}" / "engine" / "commands"
    tree = ast.parse((module / "template_diff.py").read_text(encoding="utf-8"))
    [listed] = [
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "TEAM_FILES"
    ]
    assert [pattern.lstrip("/") for pattern in USER_OWNED] == list(listed)


@pytest.mark.slow
def test_updated_project_passes_its_gate(
    updated: Updated, tmp_path: Path, torch_index: str | None, mypy_cache: Path
) -> None:
    """After the update (team edits merged), ruff, mypy and pytest pass in the project.

    pytest runs the tests the update can break: the team's, the API's, and those of the engine
    files it merged; the rest of the engine's suite is the render matrix's. ``template-diff``
    then shows what 0.3.0 changed in the team's own files, which the update left alone.
    """
    project = tmp_path / "project"
    shutil.copytree(updated.path, project, symlinks=True)
    venv = project / ".venv"
    steps = StepRunner(
        TIMED, project, project_env(venv, torch_index=torch_index, mypy_cache=mypy_cache)
    )
    steps.run("venv", create_venv_command(venv))
    steps.run("install", install_project_command(venv))
    run_static_gate(steps)
    # The team's tests, the API, and the tests of the engine files the update merged.
    tests = [
        "tests/test_task.py",
        "tests/test_data.py",
        "tests/models",
        "tests/engine/test_api.py",
        "tests/engine/core/test_seed.py",
        "tests/engine/evaluation/test_loop.py",
    ]
    steps.run("pytest", ["python", "-m", "pytest", "-p", "no:cacheprovider", "--no-cov", *tests])
    # copier from this suite's environment, as a team's from theirs.
    diff = StepRunner(TIMED, project, with_copier(steps.env)).run(
        "template-diff", ["my-ml-project", "template-diff"]
    )
    assert "+++ template/src/my_ml_project/models/mlp.py" in diff
    assert f"+{TEMPLATE_LINE}" in diff
    assert "engine/" not in diff, "template-diff showed a file the template keeps current"
