"""The `ufo` command starts at once (issue 22): nothing heavy is imported before it is used.

What is checked is which modules a fresh interpreter has loaded, not a time (a timed assert
fails on a busy machine and passes on a fast one for the wrong reasons); the times are in
benchmarks/startup.py. And what is read without importing (the command list of `ufo --help`,
the task list of `ufo tasks`) must say the same as the imported objects would.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("numba", "scipy", "tifffile", "h5py", "zmq")


def loaded_after(code: str) -> set[str]:
    """Top-level package names loaded in a fresh interpreter after running `code`."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_importing_the_command_imports_nothing_heavy() -> None:
    loaded = loaded_after("import ufo.cli.main")
    assert not loaded & {*HEAVY, "numpy", "rich"}, sorted(loaded & {*HEAVY, "numpy", "rich"})


def test_import_ufo_is_lazy_and_its_names_still_work() -> None:
    assert not loaded_after("import ufo") & {*HEAVY, "numpy"}
    import ufo
    import ufo.core
    from ufo import Graph, Task, jit, run  # noqa: F401 - resolved through __getattr__
    from ufo.core import Kind, Spec  # noqa: F401
    from ufo.core.api import Graph as ApiGraph

    assert Graph is ApiGraph and ufo.Graph is ApiGraph and ufo.core.Graph is ApiGraph
    assert {"Graph", "Task", "jit", "run"} <= set(dir(ufo))
    with pytest.raises(AttributeError):
        ufo.core.NoSuchName  # noqa: B018


@pytest.mark.parametrize("argv,absent", [
    (["--help"], {*HEAVY, "numpy"}),
    (["tasks"], {*HEAVY, "numpy"}),  # the list is read from the task modules' source
    (["run", "--help"], set(HEAVY)),  # `run` needs the runtime (numpy), not the task modules
])
def test_help_and_task_list_import_no_task_module(argv: list[str], absent: set[str]) -> None:
    code = (f"import sys, ufo.cli.main as m\nsys.argv = ['ufo', *{argv!r}]\n"
            "try:\n    m.cli(prog_name='ufo')\nexcept SystemExit:\n    pass")
    loaded = loaded_after(code)
    assert not loaded & absent, sorted(loaded & absent)


def test_a_small_run_imports_only_what_it_uses() -> None:
    """`ufo run` of built-in tasks that read and write no files: no entry-point machinery
    (importlib.metadata), no storage layer, no TIFF library, no unit parser, no event loop; and it
    still ran (the frames counted by the summary, printed on stdout)."""
    code = ("import io, sys, contextlib, ufo.cli.main as m\nsys.argv = ['ufo', 'run', 'dummy-data number=7 ! null']\n"
            "out = io.StringIO()\nwith contextlib.redirect_stdout(out):\n    try:\n        m.main()\n"
            "    except SystemExit as exc:\n        assert not exc.code, exc.code\n"
            "assert ' 7 ' in out.getvalue(), out.getvalue()\n"
            "assert 'importlib.metadata' not in sys.modules and 'ufo.storage' not in sys.modules")
    loaded = loaded_after(code)
    assert not loaded & {*HEAVY, "pint", "asyncio"}, sorted(loaded & {*HEAVY, "pint", "asyncio"})


@pytest.mark.parametrize("given,expected", [(None, "4"), ("28", "28")])
def test_the_command_lets_idle_blas_threads_sleep_unless_told_otherwise(given: str | None, expected: str) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    if given is not None:
        env["OPENBLAS_THREAD_TIMEOUT"] = given
    code = ("import os, sys, ufo.cli.main as m\nsys.argv = ['ufo', '--version']\ntry:\n    m.main()\n"
            "except SystemExit:\n    pass\nprint(os.environ['OPENBLAS_THREAD_TIMEOUT'])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == expected


def test_the_stored_short_help_is_each_commands_own() -> None:
    from ufo.cli.main import COMMANDS, load_command

    for name, (_, short) in COMMANDS.items():
        assert load_command(name).get_short_help_str(limit=1000) == short, f"COMMANDS['{name}'] is stale"


def test_help_lists_every_command_and_a_command_still_runs() -> None:
    from click.testing import CliRunner

    from ufo.cli.main import COMMANDS, cli

    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0 and all(f"  {name} " in result.output for name in COMMANDS)
    assert CliRunner().invoke(cli, ["tasks", "--help"]).exit_code == 0
    assert CliRunner().invoke(cli, ["nosuch"]).exit_code == 2


def test_the_task_list_read_from_source_matches_the_classes() -> None:
    from ufo.core import catalog, registry

    listed = catalog.summaries()
    assert [s.name for s in listed] == registry.names()
    for summary in listed:
        cls = registry.get(summary.name)
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        assert (summary.kind, summary.doc) == (cls.kind.value, doc), summary.name


def test_the_outline_drops_function_bodies_and_their_decorators() -> None:
    from ufo.core.catalog import outline

    source = ("import numba\n\n@numba.njit(cache=True)\ndef kernel(x):\n    return x\n\n\n"
              "@decorated\nclass A(Base):\n    \"\"\"Doc.\"\"\"\n\n    kind = Kind.SINK\n\n"
              "    @property\n    def p(self):\n        return 1\n\n    def q(\n        self,\n    ) -> None:\n"
              "        pass\n\nX = 1\n")
    text = outline(source)
    assert "numba.njit" not in text and "def " not in text and "X = 1" not in text
    assert "@decorated\nclass A(Base):" in text and "kind = Kind.SINK" in text
    compile(text, "outline", "exec")


def test_the_gpu_axis_search_of_ufo_reco_needs_neither_scipy_nor_numba() -> None:
    """`ufo reco --axis auto` on the GPU decides and searches with numpy and CuPy alone: SciPy and
    numba would be imported from the disk the scan is being read from (about a second, cold).
    The path's modules are imported and its host-side parts run (the angles' coverage, Vo's mask,
    the flat-field class chosen); the CuPy kernels run in the gpu-marked tests."""
    code = ("import numpy as np\nfrom ufo.reco import resident, axis_choice, resident_reader\n"
            "from ufo.tomo import axis_vo, halftomo, stream_geometry, backends\n"
            "a = halftomo.regular_angles(90)\nassert halftomo.first_half(a) == 90 and halftomo.coverage(a) < 1.9 * np.pi\n"
            "assert axis_vo._vo_mask(64, 32, 8.0, 2).any()\nassert backends.backend('cpu')[0].__name__ == 'FlatField'")
    loaded = loaded_after(code)
    assert not loaded & {"numba", "scipy"}, sorted(loaded & {"numba", "scipy"})


def test_the_quality_hints_of_ufo_reco_need_neither_scipy_nor_numba() -> None:
    """`ufo reco` without -q warms the hints' checks while the frames are read and checks the
    middle row while the slices are written: on the GPU path neither may import SciPy or numba
    (from the disk the scan is read from, holding the GIL the reader and writer need)."""
    code = ("import numpy as np\nfrom ufo.cli.reco import _warm_hints\nfrom ufo.tomo.quality_hints import check_sinogram\n"
            "_warm_hints()\nassert check_sinogram(np.random.default_rng(0).random((64, 64), dtype=np.float32)).hints() == []")
    loaded = loaded_after(code)
    assert not loaded & {"numba", "scipy"}, sorted(loaded & {"numba", "scipy"})
