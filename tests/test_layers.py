"""The layer contracts in pyproject.toml ([tool.importlinter]) hold, and a wrong arrow breaks them.

`lint-imports` (import-linter) checks that every ufo package imports only from the layers below
it and that no package has import cycles. The second test plants wrong imports in a copy of
the source tree and shows that the same contracts catch them, so the check cannot pass vacuously.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))

pytestmark = pytest.mark.skipif(not Path(LINT).exists(), reason="import-linter is in the test extra")


def lint(cwd: Path, source_root: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(source_root))
    return subprocess.run([LINT, "--no-cache", str(cwd / "pyproject.toml")], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_layer_contracts_are_kept() -> None:
    result = lint(ROOT, ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken" in result.stdout


def copy_tree(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "ufo", tmp_path / "ufo", ignore=shutil.ignore_patterns("__pycache__", "static"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def plant(tree: Path, module: str, line: str) -> None:
    path = tree / (module.replace(".", "/") + ".py")
    path.write_text(path.read_text() + f"\n\ndef _planted():\n    {line}\n")


def test_an_upward_import_breaks_the_layers_contract(tmp_path: Path) -> None:
    """A lazy import inside a function counts: the core may not reach for the CLI, nor tomo for tasks."""
    tree = copy_tree(tmp_path)
    plant(tree, "ufo.core.errors", "from ufo.cli import main  # deliberately wrong")
    plant(tree, "ufo.tomo.fbp", "from ..tasks import io  # deliberately wrong")
    result = lint(tree, tree)
    assert result.returncode == 1, result.stdout
    assert "Layers point down only BROKEN" in result.stdout
    assert "ufo.core.errors -> ufo.cli" in result.stdout
    assert "ufo.tomo.fbp -> ufo.tasks.io" in result.stdout


def test_a_cycle_inside_a_package_breaks_the_acyclic_contract(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path)
    plant(tree, "ufo.core.errors", "from . import registry  # deliberately a cycle: registry imports errors")
    result = lint(tree, tree)
    assert result.returncode == 1, result.stdout
    assert "No import cycles between the modules of any ufo package BROKEN" in result.stdout
    assert "No cycles are allowed in ufo.core" in result.stdout


def test_independent_siblings_stay_independent(tmp_path: Path) -> None:
    """The GUI, the demo and the benchmarks share a layer and may not import each other."""
    tree = copy_tree(tmp_path)
    plant(tree, "ufo.gui.engine", "from ..demo import run  # deliberately wrong")
    result = lint(tree, tree)
    assert result.returncode == 1, result.stdout
    assert "ufo.gui.engine -> ufo.demo.run" in result.stdout


def test_every_package_has_a_layer(tmp_path: Path) -> None:
    """A new package must be placed in the contract (exhaustive): it cannot slip in unchecked."""
    tree = copy_tree(tmp_path)
    (tree / "ufo" / "newthing").mkdir()
    (tree / "ufo" / "newthing" / "__init__.py").write_text('"""Not yet in the contract."""\n')
    result = lint(tree, tree)
    assert result.returncode == 1, result.stdout
    assert "ufo.newthing" in result.stdout
