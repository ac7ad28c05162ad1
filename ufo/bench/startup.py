"""Start-up time of the `ufo` command: what a user waits for before anything happens.

A beamline user types `ufo --help`, `ufo tasks` or a short `ufo run` many times a day, and
UFO's C `ufo-launch` answers in under 0.1 s; a Python command that imports numpy, numba,
scipy and every task before parsing its arguments takes over a second. Each command runs
in a fresh interpreter (a subprocess, as the user runs it), so nothing imported by one
measurement speeds up the next; the median of several runs damps a busy machine.

`python -X importtime -c "import ufo.cli.main"` is measured too: its per-module table says
*which* import costs, where the wall time only says that something does.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

from .measure import Measure

PIPELINE = "dummy-data number=10 ! null"


@dataclass
class Command:
    """One command line to time, with the same job done by UFO's C tools where they exist."""

    what: str
    ufo: list[str]
    peer: list[str] | None  # the ufo-launch / ufo-query equivalent (None: there is none)


def commands() -> list[Command]:
    """The commands of issue 22's start-up target, run as the installed `ufo` script is."""
    ufo = _ufo_command()
    return [
        Command("ufo --help", [*ufo, "--help"], ["ufo-launch", "--help"]),
        Command("ufo tasks", [*ufo, "tasks"], ["ufo-query", "--list"]),
        Command(f'ufo run "{PIPELINE}"', [*ufo, "run", PIPELINE], ["ufo-launch", *PIPELINE.split()]),
    ]


def _ufo_command() -> list[str]:
    """The `ufo` script beside this interpreter (so a venv's ufo is timed, not another one on PATH)."""
    script = os.path.join(os.path.dirname(sys.executable), "ufo")
    if os.path.exists(script):
        return [script]
    return [sys.executable, "-m", "ufo"]


def environment(bytecode: bool) -> dict[str, str]:
    """The environment the commands run in. `bytecode=True`: compiled modules are cached (in a
    temporary PYTHONPYCACHEPREFIX, not in the source tree), as in an installed ufo, whose .pyc
    files pip writes; False: as this process's environment says (PYTHONDONTWRITEBYTECODE=1 makes
    every start compile each imported ufo module from source, ~1 ms per module)."""
    env = dict(os.environ)
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = os.path.join(tempfile.gettempdir(), "ufo-startup-pycache")
    return env


def bytecode_written() -> bool:
    """Whether this environment lets Python cache compiled modules."""
    return not os.environ.get("PYTHONDONTWRITEBYTECODE")


def wall(argv: list[str], repeat: int = 5, env: dict[str, str] | None = None) -> float:
    """Median wall time in seconds of running `argv` `repeat` times (output discarded), after one
    run that is not counted (it fills the file and bytecode caches)."""
    times = []
    for _ in range(repeat + 1):
        start = time.perf_counter()
        result = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False, env=env)
        times.append(time.perf_counter() - start)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.decode()[-500:]}")
    return statistics.median(times[1:])


@dataclass
class ImportTime:
    """`python -X importtime` of one module: the total and the costliest top-level imports."""

    total: float  # seconds, cumulative time of the module's own import line
    largest: list[tuple[str, float]]  # (module, cumulative seconds), costliest first


def import_time(module: str = "ufo.cli.main", top: int = 12, env: dict[str, str] | None = None) -> ImportTime:
    """Import `module` in a fresh interpreter under `-X importtime` and read its table."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"],
                            capture_output=True, text=True, check=True, env=env)
    rows: list[tuple[str, float, int]] = []  # (module, cumulative s, nesting depth)
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line[len("import time:"):].split("|")
        depth = (len(name) - len(name.lstrip())) // 2
        rows.append((name.strip(), int(cumulative) / 1e6, depth))
    total = sum(seconds for _, seconds, depth in rows if depth == 0)
    outer = sorted(((n, s) for n, s, d in rows if d <= 1 and n != module), key=lambda r: -r[1])
    return ImportTime(total, outer[:top])


def peer_installed() -> bool:
    """Whether UFO's C launcher (Debian's libufo-bin) is on PATH."""
    return shutil.which("ufo-launch") is not None


def measure(repeat: int = 5, bytecode: bool = False) -> list[Measure]:
    """The start-up figures: import time of the CLI and each command's median wall time
    (`bytecode`: see `environment`)."""
    have_peer = peer_installed()
    env = environment(bytecode)
    import_time(env=env)  # fills the bytecode cache
    imports = import_time(env=env)
    results = [Measure("startup", "import ufo.cli.main (-X importtime)", imports.total, "-", None, "s",
                       higher_is_better=False)]
    for command in commands():
        peer_value = None
        note = "ufo-launch not installed" if not have_peer else ""
        if have_peer and command.peer and shutil.which(command.peer[0]):
            from .ufolaunch import peer_environment  # UFO_DEVICE_TYPE=cpu where there is no GPU

            peer_value = wall(command.peer, repeat, peer_environment())
        results.append(Measure("startup", command.what, wall(command.ufo, repeat, env),
                               " ".join(command.peer or ["-"]), peer_value, "s", note, higher_is_better=False))
    return results


__all__ = ["Command", "ImportTime", "PIPELINE", "bytecode_written", "commands", "environment", "import_time", "measure",
           "peer_installed", "wall"]
