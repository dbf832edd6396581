"""The install helpers: where torch comes from and what a rendered project's commands see."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from tests.install import (
    find_torch_index,
    project_env,
    torch_index_home,
    torch_version,
    write_simple_index,
)

if TYPE_CHECKING:
    from pathlib import Path

    import pytest


def test_torch_index_setting_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``TEMPLATE_TORCH_INDEX`` is used as given, and nothing is downloaded."""
    monkeypatch.setenv("TEMPLATE_TORCH_INDEX", "https://torch.example.invalid/simple")
    assert find_torch_index(tmp_path) == "https://torch.example.invalid/simple"
    assert not any(tmp_path.iterdir())


def test_torch_version_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """``TEMPLATE_TORCH_VERSION`` picks the release; 2.13.0 without it."""
    monkeypatch.delenv("TEMPLATE_TORCH_VERSION", raising=False)
    assert torch_version() == "2.13.0"
    monkeypatch.setenv("TEMPLATE_TORCH_VERSION", "2.6.0")
    assert torch_version() == "2.6.0"


def test_simple_index_links_the_wheel(tmp_path: Path) -> None:
    """The generated PEP 503 folder lists torch and links the wheel by file URI."""
    wheel = tmp_path / "wheels" / "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"
    wheel.parent.mkdir()
    wheel.write_bytes(b"not a real wheel")
    url = write_simple_index(tmp_path / "simple", [wheel])
    assert url == (tmp_path / "simple").resolve().as_uri()
    assert 'href="torch/"' in (tmp_path / "simple" / "index.html").read_text(encoding="utf-8")
    page = (tmp_path / "simple" / "torch" / "index.html").read_text(encoding="utf-8")
    assert f'href="{wheel.resolve().as_uri()}"' in page


def test_project_env_overrides_the_cpu_index(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Venv first on PATH, the CPU index overridden by name, the session's pytest state left out."""
    monkeypatch.setenv("PYTEST_ADDOPTS", "-x")
    monkeypatch.setenv("PYTHONPATH", "elsewhere")
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    env = project_env(tmp_path / ".venv", torch_index="file:///index", mypy_cache=tmp_path / "mc")
    assert env["PATH"].split(os.pathsep)[0] == str(tmp_path / ".venv" / "bin")
    assert env["UV_INDEX"] == "pytorch-cpu=file:///index"
    assert env["UV_PYTHON_DOWNLOADS"] == "never"
    assert env["MYPY_CACHE_DIR"] == str(tmp_path / "mc")
    assert "PYTEST_ADDOPTS" not in env
    assert "PYTHONPATH" not in env
    # Imports in the throw-away venvs write their bytecode once, not compile it every command.
    assert "PYTHONDONTWRITEBYTECODE" not in env


def test_project_env_keeps_the_declared_index(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without a local torch the project's own PyTorch CPU index stays in force."""
    monkeypatch.setenv("UV_INDEX", "pytorch-cpu=file:///stale")
    env = project_env(tmp_path / ".venv", torch_index=None, mypy_cache=tmp_path / "mc")
    assert "UV_INDEX" not in env


def test_project_env_hardlinks_from_uv_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Venvs hardlink uv's cache (a copied torch is 1.5 GB each) unless told otherwise."""
    monkeypatch.delenv("UV_LINK_MODE", raising=False)
    env = project_env(tmp_path / ".venv", torch_index=None, mypy_cache=tmp_path / "mc")
    assert env["UV_LINK_MODE"] == "hardlink"
    monkeypatch.setenv("UV_LINK_MODE", "copy")
    env = project_env(tmp_path / ".venv", torch_index=None, mypy_cache=tmp_path / "mc")
    assert env["UV_LINK_MODE"] == "copy"


def test_local_index_keeps_its_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A second session gets the same index URL and wheel: uv unpacks torch into its cache once."""
    monkeypatch.delenv("TEMPLATE_TORCH_INDEX", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def fake_download(wheel_dir: Path, version: str) -> list[Path]:
        wheel = wheel_dir / f"torch-{version}+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"
        if not wheel.exists():
            wheel_dir.mkdir(parents=True, exist_ok=True)
            wheel.write_bytes(b"not a real wheel")
        return [wheel]

    monkeypatch.setattr("tests.install._download_local_torch", fake_download)
    home = torch_index_home()
    assert home.is_relative_to(tmp_path / "cache")
    first = find_torch_index(home)
    wheel = next((home / "wheels").iterdir())
    stamp = wheel.stat().st_mtime_ns
    assert find_torch_index(home) == first
    assert wheel.stat().st_mtime_ns == stamp
