"""The layers go one way (edgeship -> webapp -> exporter), and `make lint` says so when an import does not.

The contract is import-linter's, configured in pyproject.toml ([tool.importlinter]); these tests run the real
`lint-imports` on the real tree, and on a copy of it with one import that goes the wrong way.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))
PACKAGES = ("edgeship", "webapp", "exporter")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    # --no-cache: nothing written into the tree. The copy's packages come first on the path (cwd), ahead
    # of the editable install that points at the checkout.
    return subprocess.run([LINT_IMPORTS, "--no-cache"], cwd=tree, capture_output=True, text=True, timeout=120)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("static", "__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_real_tree_keeps_every_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Contracts: 2 kept, 0 broken." in result.stdout


def test_the_library_importing_the_web_app_breaks_the_layers(tree: Path) -> None:
    config = tree / "exporter" / "config.py"
    lines = config.read_text().splitlines()
    at = lines.index("from enum import StrEnum") + 1
    config.write_text("\n".join([*lines[:at], "import webapp", *lines[at:]]) + "\n")

    result = lint_imports(tree)

    assert result.returncode == 1, result.stdout[-3000:]
    assert "one-way layers: edgeship -> webapp -> exporter BROKEN" in result.stdout
    assert "exporter is not allowed to import webapp:" in result.stdout
    assert f"- exporter.config -> webapp (l.{at + 1})" in result.stdout


def test_the_web_app_reaching_into_the_library_breaks_the_api_contract(tree: Path) -> None:
    site = tree / "webapp" / "site.py"
    site.write_text(site.read_text() + "\nfrom exporter.outdir import lock_file  # noqa: E402\n")

    result = lint_imports(tree)

    assert result.returncode == 1, result.stdout[-3000:]
    assert "webapp uses the exporter only through its public API BROKEN" in result.stdout
    assert "webapp is not allowed to import exporter.outdir:" in result.stdout
    assert "one-way layers: edgeship -> webapp -> exporter KEPT" in result.stdout
