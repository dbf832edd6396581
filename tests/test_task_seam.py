"""The seam between the engine (the template's) and the task (the team's) holds.

- Every ``task`` answer renders the same standards files, byte for byte: a task differs only in
  files the team owns (copier.yml's ``_skip_if_exists``).
- Teams change their task the ways teams did before the seam existed, each in its own files only,
  and updates that change the training loop and evaluation arrive without a conflict: one team
  adds 8x8 image data, a small CNN chosen from the config, a focal-loss setting and a balanced
  accuracy that picks the best checkpoint; another turns its project into a regression (MSE loss,
  MAE metric) by taking the files a ``task=regression`` render gives. Their projects pass their
  gate after the update (``slow``).

The two template versions are those of tests/test_update.py: 0.3.0 changes
``engine/core/seed.py``, ``engine/trainer/loop.py`` and ``engine/evaluation/loop.py`` among others.
"""

from __future__ import annotations

import shutil
import textwrap
from typing import TYPE_CHECKING

import pytest
from copier import VcsRef, run_copy

from tests.helpers import TIMINGS, StepRunner, render_project, run_static_gate
from tests.install import create_venv_command, install_project_command, project_env
from tests.test_update import (
    ANSWERS,
    NEW,
    OLD,
    TEMPLATE_LINE,
    commit_all,
    copy_project,
    edit,
    files_with_conflict_markers,
    git,
    package_dir,
    replace,
    tagged_versions,
    tree,
    unmerged_paths,
    update_project,
    user_owned,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

TASKS = ("classification", "regression", "image_classification", "text_classification")
TIMED = "team work across an update"

# The classification team's new model: a CNN over square images given as rows of pixels.
CNN_MODULE = '''\
"""A small CNN for square images that arrive as rows of pixels (8x8 images: 64 features)."""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import Field
from torch import nn

from ..engine.api import ModelError, ModelSection, register_model


class CNNConfig(ModelSection):
    """Settings of the CNN (config section ``model`` with ``name: cnn``)."""

    name: Literal["cnn"] = "cnn"
    channels: int = Field(default=8, ge=1, le=256, description="Channels of the convolutions.")


class FlatImageCNN(nn.Module):
    """Rows of ``side * side`` pixels in, ``out_features`` logits out."""

    def __init__(self, in_features: int, out_features: int, *, channels: int) -> None:
        """Create the layers for images of ``in_features`` pixels."""
        super().__init__()
        self.side = math.isqrt(in_features)
        if self.side * self.side != in_features:
            raise ModelError(f"cnn needs square images, got {in_features} features")
        self.net = nn.Sequential(
            nn.Conv2d(1, channels, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, channels, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),  # (N, C, H, W) -> (N, C, 1, 1)
            nn.Flatten(),
            nn.Linear(channels, out_features),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Map pixels ``(N, side * side)`` to logits ``(N, out_features)``."""
        images = features.reshape(-1, 1, self.side, self.side)  # (N, 1, H, W)
        logits: torch.Tensor = self.net(images)
        return logits


@register_model(CNNConfig)
def build_cnn(config: CNNConfig, *, in_features: int, out_features: int) -> FlatImageCNN:
    """Build the CNN for the data's sizes."""
    return FlatImageCNN(in_features, out_features, channels=config.channels)
'''

CNN_TEST = '''\
"""Tests of the CNN for images as rows of pixels."""

from __future__ import annotations

import pytest
import torch

from {package}.engine.api import ModelError, build_model
from {package}.models.cnn import CNNConfig


@pytest.mark.parametrize("rows", [1, 5])
def test_output_shape(rows: int) -> None:
    model = build_model(CNNConfig(), in_features=64, out_features=3)
    assert model(torch.randn(rows, 64)).shape == (rows, 3)


def test_images_must_be_square() -> None:
    with pytest.raises(ModelError, match="square images"):
        build_model(CNNConfig(), in_features=60, out_features=3)
'''

IMAGES_FUNCTION = '''

def make_images(
    num_samples: int, *, num_classes: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """8x8 images of one random pattern per class, with noise, as rows of 64 pixels."""
    patterns = torch.randn(num_classes, 64, generator=generator).sign()  # (C, 64)
    labels = torch.randint(num_classes, (num_samples,), generator=generator)  # (N,)
    noise = 0.5 * torch.randn(num_samples, 64, generator=generator)  # (N, 64)
    return patterns[labels] + noise, labels
'''

BALANCED_ACCURACY = '''
class BalancedAccuracy(Metric):
    """Mean over classes of the share of that class's rows predicted right."""

    def __init__(self, num_classes: int) -> None:
        """Count hits and rows of each class."""
        super().__init__(2, num_classes)  # row 0: hits per class, row 1: rows per class

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        """Add the batch's hits and rows, per class."""
        hits = (outputs.argmax(dim=1) == targets).to(self.state.dtype)
        self.state[0].index_add_(0, targets, hits)
        self.state[1].index_add_(0, targets, torch.ones_like(hits))

    def compute(self) -> float:
        """The mean recall over the classes."""
        hits, rows = self.state
        return float((hits / rows.clamp_min(1)).mean())
'''

FOCAL_LOSS = '''\
    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Cross-entropy, focused on hard rows when ``task.focal_gamma`` is above zero."""
        per_row = F.cross_entropy(
            outputs, targets, label_smoothing=self.settings.label_smoothing, reduction="none"
        )
        right = torch.exp(-per_row)  # the probability given to the true class
        return ((1 - right) ** self.settings.focal_gamma * per_row).mean()
'''


def classification_team(project: Path) -> None:
    """Image data and a CNN chosen from the config, a loss setting and a monitored metric."""
    package = package_dir(project)
    (package / "models" / "cnn.py").write_text(CNN_MODULE, encoding="utf-8")
    (project / "tests" / "models" / "test_cnn.py").write_text(
        CNN_TEST.format(package=package.name), encoding="utf-8"
    )
    data = package / "data.py"
    edit(data, lambda text: text + IMAGES_FUNCTION)
    edit(
        data,
        replace(
            "    class_separation: float = Field(\n",
            '    kind: Literal["blobs", "images"] = Field(\n'
            '        default="blobs", description="blobs, or 8x8 images (synthetic only)."\n'
            "    )\n"
            "    class_separation: float = Field(\n",
        ),
    )
    edit(
        data,
        replace(
            '    if config.source == "synthetic":\n',
            '    if config.source == "synthetic" and config.kind == "images":\n'
            "        features, labels = make_images(\n"
            "            config.num_samples, num_classes=config.num_classes,"
            " generator=make_generator(seed)\n"
            "        )\n"
            "        num_classes = config.num_classes\n"
            '    elif config.source == "synthetic":\n',
        ),
    )
    task = package / "task.py"
    edit(task, lambda text: text.replace("\nTASK = ", BALANCED_ACCURACY + "\n\nTASK = "))
    edit(
        task,
        replace(
            "\n\nclass Classification(",
            "\n    focal_gamma: float = Field(\n"
            "        default=0.0, ge=0.0, le=10.0,"
            ' description="Focal exponent; 0: cross-entropy."\n'
            "    )\n\n\nclass Classification(",
        ),
    )
    edit(
        task,
        replace(
            '    monitor = Monitor("loss", mode="min")',
            '    monitor = Monitor("balanced_accuracy", mode="max")',
        ),
    )
    edit(
        task,
        replace(
            '        return {"accuracy": Accuracy(),'
            ' "per_class": ConfusionMatrix(sizes["num_classes"])}',
            "        return {\n"
            '            "accuracy": Accuracy(),\n'
            '            "balanced_accuracy": BalancedAccuracy(sizes["num_classes"]),\n'
            '            "per_class": ConfusionMatrix(sizes["num_classes"]),\n'
            "        }",
        ),
    )
    start = task.read_text(encoding="utf-8").index("    def loss(")
    end = task.read_text(encoding="utf-8").index("    def metrics(")
    edit(task, lambda text: text[:start] + FOCAL_LOSS + "\n" + text[end:])
    # The new metric and the loss need torch and Metric at run time, not only for types.
    edit(task, replace("    import torch\n", ""))
    edit(
        task,
        replace(
            "    from .engine.api import Data, Metric, ModelSection, OutputSpec, Sizes\n",
            "    from .engine.api import Data, ModelSection, OutputSpec, Sizes\n",
        ),
    )
    edit(
        task, replace("from pydantic import Field\n", "import torch\nfrom pydantic import Field\n")
    )
    edit(task, replace("    ConfusionMatrix,\n", "    ConfusionMatrix,\n    Metric,\n"))
    (project / "configs" / "images.yaml").write_text(
        textwrap.dedent(
            """\
            data: {kind: images}
            model: {name: cnn, channels: 8}
            task: {focal_gamma: 2.0}
            """
        ),
        encoding="utf-8",
    )


def regression_team(project: Path, *, regression_render: Path) -> None:
    """The task becomes a regression: the team takes the files a regression render has.

    It records the new answer as docs/updating.md says, so that later updates bring the
    regression variant of any new file of its own kind (a new config, say).
    """
    for name in ("task.py", "data.py"):
        shutil.copyfile(package_dir(regression_render) / name, package_dir(project) / name)
    for name in ("configs/default.yaml", "tests/test_data.py"):
        shutil.copyfile(regression_render / name, project / name)
    commit_all(project, "Train a regression")
    update_project(project, VcsRef.CURRENT, data={"task": "regression"})


# --------------------------------------------------------------------------------------------------
# The task answer changes only the team's files
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def by_task(template_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The default answers rendered once with each ``task``."""
    root = tmp_path_factory.mktemp("tasks")
    return {
        task: render_project(template_repo, root / task, {**ANSWERS, "task": task})
        for task in TASKS
    }


# The dependencies a task's own files need, which pyproject.toml adds for that task alone.
TASK_DEPENDENCIES = {"image_classification": ["pillow>=11.0"]}


def without_task_dependencies(pyproject: bytes, task: str) -> bytes:
    """``pyproject.toml`` without the lines adding ``task``'s dependencies (and their comments)."""
    lines = pyproject.decode("utf-8").splitlines(keepends=True)
    kept: list[str] = []
    for line in lines:
        if any(line.strip().startswith(f'"{spec}"') for spec in TASK_DEPENDENCIES.get(task, [])):
            while kept and kept[-1].strip().startswith("#"):
                kept.pop()  # the comment that says why
            continue
        kept.append(line)
    return "".join(kept).encode("utf-8")


def test_every_task_renders_the_same_standards_files(by_task: dict[str, Path]) -> None:
    """Standards files (the engine, its tests, tooling) are byte-identical across the answers.

    pyproject.toml differs only by the dependencies of a task's own files (Pillow for images).
    """
    trees = {task: tree(path) for task, path in by_task.items()}
    standards = {
        task: {name: content for name, content in files.items() if not user_owned(name)}
        for task, files in trees.items()
    }
    for task, files in standards.items():
        files.pop(".copier-answers.yml")
        for spec in TASK_DEPENDENCIES.get(task, []):
            assert f'"{spec}"'.encode() in files["pyproject.toml"], f"task={task}: no {spec}"
        files["pyproject.toml"] = without_task_dependencies(files["pyproject.toml"], task)
    reference = standards["classification"]
    assert any(name.startswith("src/my_ml_project/engine/") for name in reference)
    for task, files in standards.items():
        differing = sorted(
            name
            for name in files.keys() | reference.keys()
            if files.get(name) != reference.get(name)
        )
        assert not differing, f"task={task} changes standards files: {differing}"


def test_every_task_has_its_own_task_data_and_model(by_task: dict[str, Path]) -> None:
    """Each answer renders its own task.py and data.py, and models of its own."""
    tasks = {task: (package_dir(path) / "task.py").read_bytes() for task, path in by_task.items()}
    assert len(set(tasks.values())) == len(TASKS)
    models = {
        task: sorted(p.name for p in (package_dir(path) / "models").glob("*.py"))
        for task, path in by_task.items()
    }
    assert models == {
        "classification": ["__init__.py", "mlp.py"],
        "regression": ["__init__.py", "mlp.py"],
        "image_classification": ["__init__.py", "cnn.py"],
        "text_classification": ["__init__.py", "transformer.py"],
    }


# --------------------------------------------------------------------------------------------------
# Teams change their task in their own files; updates arrive without a conflict
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def versions(template_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template tagged 0.2.0 (the snapshot) and 0.3.0 (engine and other changes)."""
    repo = tmp_path_factory.mktemp("seam-versions") / "template"
    return tagged_versions(template_repo, repo)


@pytest.fixture(scope="module")
def teams(versions: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each team's project: copied at 0.2.0, changed in its own files, committed, updated."""
    root = tmp_path_factory.mktemp("teams")
    regression_render = root / "regression-render"
    run_copy(
        str(versions),
        str(regression_render),
        data={**ANSWERS, "task": "regression"},
        vcs_ref=OLD,
        defaults=True,
        unsafe=False,
        quiet=True,
    )
    changes: dict[str, Callable[[Path], None]] = {
        "classification": classification_team,
        "regression": lambda project: regression_team(project, regression_render=regression_render),
    }
    projects = {}
    for team, change in changes.items():
        project = copy_project(versions, root / team, OLD)
        git(project, "tag", f"{OLD}-copy")
        change(project)
        commit_all(project, f"The {team} team's changes")
        with TIMINGS.measure(TIMED, f"update {team}"):
            update_project(project, NEW)
        projects[team] = project
    return projects


@pytest.mark.parametrize("team", ["classification", "regression"])
def test_teams_change_only_their_own_files(teams: dict[str, Path], team: str) -> None:
    """Everything the team's commit touched is a file the team owns."""
    touched = git(teams[team], "diff", "--name-only", f"{OLD}-copy", "HEAD").split()
    assert touched
    # The answers file records a changed answer (task=regression), nothing else.
    assert [name for name in touched if not user_owned(name)] in ([], [".copier-answers.yml"])


@pytest.mark.parametrize("team", ["classification", "regression"])
def test_update_arrives_without_a_conflict(teams: dict[str, Path], team: str) -> None:
    """The training loop and evaluation take 0.3.0's change; nothing conflicts."""
    project = teams[team]
    assert not files_with_conflict_markers(project)
    assert not unmerged_paths(project)
    package = package_dir(project)
    for name in ("trainer/loop.py", "evaluation/loop.py"):
        text = (package / "engine" / name).read_text(encoding="utf-8")
        assert text.startswith(TEMPLATE_LINE), f"engine/{name} did not take 0.3.0's change"
    assert (package / "task.py").read_text(encoding="utf-8") != ""


@pytest.mark.slow
@pytest.mark.parametrize("team", ["classification", "regression"])
def test_updated_team_project_passes_its_gate(
    teams: dict[str, Path],
    team: str,
    tmp_path: Path,
    torch_index: str | None,
    mypy_cache: Path,
) -> None:
    """After the update, lint, types and the team's tests pass, and the changed task trains."""
    project = tmp_path / "project"
    shutil.copytree(teams[team], project, symlinks=True)
    venv = project / ".venv"
    steps = StepRunner(
        f"{TIMED}: {team}",
        project,
        project_env(venv, torch_index=torch_index, mypy_cache=mypy_cache),
    )
    steps.run("venv", create_venv_command(venv))
    steps.run("install", install_project_command(venv))
    run_static_gate(steps)
    user_tests = ["tests/test_task.py", "tests/test_data.py", "tests/models"]
    # The coverage floor counts the whole suite; the engine's tests are run by the render matrix.
    pytest = ["python", "-m", "pytest", "-p", "no:cacheprovider", "--no-cov", *user_tests]
    steps.run("pytest", pytest)
    if team == "classification":
        command = ["my-ml-project", "train", "--config", "configs/images.yaml"]
        command += ["--set", "train.epochs=2", "--set", "data.num_samples=256"]
        output = steps.run("train images", command)
        assert "val balanced_accuracy" in output
