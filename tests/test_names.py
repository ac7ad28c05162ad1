"""Names that explain themselves: one class per public name, no product code importing the tests.

The source is read with `ast` rather than imported, so modules that need a GPU, Tango or a
cluster are checked on every machine and the check costs no import time.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _modules(folder: str) -> dict[str, ast.Module]:
    """Every Python file under `folder`, parsed, by dotted module name."""
    found = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = ast.parse(path.read_text(), str(path))
    return found


def test_ufo_camera_is_the_device_api_and_the_task_is_camera_source():
    import ufo.camera
    from ufo.tasks.camera import CameraSource

    assert ufo.Camera is ufo.camera.Camera
    assert ufo.CameraSource is CameraSource
    assert type(ufo.task("camera")) is CameraSource and CameraSource.name == "camera"
    assert ufo.camera.Camera.__module__ == "ufo.camera.base"


def test_ufo_tasks_is_the_package_and_task_names_lists_the_tasks():
    import ufo
    import ufo.tasks.camera  # noqa: F401 - importing a task module binds ufo.tasks to the package

    assert isinstance(ufo.tasks, type(ufo)) and "camera" in ufo.task_names() and "read" in ufo.task_names()


def test_the_name_camera_means_one_class():
    defining = {module for module, tree in _modules("ufo").items()
                for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "Camera"}
    assert defining == {"ufo.camera.base"}, f"classes named Camera in {sorted(defining)}: one name, one class"


def test_no_product_module_or_benchmark_imports_the_tests():
    offenders = []
    for folder in ("ufo", "benchmarks"):
        for module, tree in _modules(folder).items():
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    names = [node.module or ""]
                else:
                    continue
                offenders += [f"{module}: import {n}" for n in names if n == "tests" or n.startswith("tests.")]
    assert not offenders, "the product and the benchmarks must not depend on the tests: " + "; ".join(offenders)


def test_benchmark_scripts_are_thin_entries_over_ufo_bench():
    """The measuring code lives once, in ufo.bench; a script parses arguments and prints."""
    for module, tree in _modules("benchmarks").items():
        sources = {node.module for node in tree.body if isinstance(node, ast.ImportFrom) and node.module}
        assert any(name.startswith("ufo.bench") for name in sources), f"{module} measures without ufo.bench"
        functions = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
        assert functions <= {"main", "check"}, f"{module} defines {sorted(functions - {'main', 'check'})}: move to ufo.bench"
