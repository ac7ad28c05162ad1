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
import resource
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
        Command(f'ufo run -q "{PIPELINE}"', [*ufo, "run", "-q", PIPELINE], ["ufo-launch", "-q", *PIPELINE.split()]),
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


@dataclass
class Timing:
    """Medians over the runs of one command: the wall time a user waits and the CPU time (user +
    system) the process spent. On a shared machine the wall time carries other people's load;
    the CPU time says what the command itself costs."""

    wall: float
    cpu: float


def _once(argv: list[str], env: dict[str, str] | None) -> tuple[float, float]:
    """One run of `argv` (output discarded): its wall and CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False, env=env)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.decode()[-500:]}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def timings(commands: list[tuple[list[str], dict[str, str] | None]], repeat: int = 5) -> list[Timing]:
    """Median wall and CPU time of each command over `repeat` rounds, after one round that is not
    counted (it fills the file and bytecode caches). The commands alternate within each round, so a
    change of load on a shared machine falls on all of them alike, not on whichever ran last."""
    runs: list[list[tuple[float, float]]] = [[] for _ in commands]
    for round_ in range(repeat + 1):
        for k, (argv, env) in enumerate(commands):
            measured = _once(argv, env)
            if round_:
                runs[k].append(measured)
    return [Timing(statistics.median(w for w, _ in r), statistics.median(c for _, c in r)) for r in runs]


def wall(argv: list[str], repeat: int = 5, env: dict[str, str] | None = None) -> float:
    """Median wall time in seconds of running `argv` `repeat` times (output discarded), after one
    run that is not counted (it fills the file and bytecode caches)."""
    return timings([(argv, env)], repeat)[0].wall


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


def before_command(folder: str, args: list[str]) -> list[str]:
    """`ufo ARGS` run from another copy of the `ufo` package, in `folder` (e.g. an older commit's,
    `git archive COMMIT ufo | tar -x -C FOLDER`): ahead of the installed one on the path, with the same
    installed entry points (which name modules, found in that copy)."""
    code = (f"import sys; sys.path.insert(0, {folder!r}); sys.argv[0] = 'ufo'; "
            "from ufo.cli.main import main; sys.exit(main())")
    return [sys.executable, "-c", code, *args]


def measure(repeat: int = 5, bytecode: bool = False, before: str | None = None) -> list[Measure]:
    """The start-up figures: import time of the CLI and each command's median wall time beside
    its peer's, ufo and peer alternating (`bytecode`: see `environment`). Each Measure's `note`
    gives the median CPU seconds, ufo's and the peer's. `before`: a folder holding another copy of
    the `ufo` package (`before_command`), timed in the same rounds; its rows are named '... [before]'."""
    have_peer = peer_installed()
    env = environment(bytecode)
    import_time(env=env)  # fills the bytecode cache
    imports = import_time(env=env)
    results = [Measure("startup", "import ufo.cli.main (-X importtime)", imports.total, "-", None, "s",
                       higher_is_better=False)]
    for command in commands():
        runs: list[tuple[list[str], dict[str, str] | None]] = [(command.ufo, env)]
        if before:
            runs.append((before_command(before, command.ufo[len(_ufo_command()):]), env))
        if have_peer and command.peer and shutil.which(command.peer[0]):
            from .ufolaunch import peer_environment  # UFO_DEVICE_TYPE=cpu where there is no GPU

            runs.append((command.peer, peer_environment()))
        measured = timings(runs, repeat)
        ours, old = measured[0], (measured[1] if before else None)
        peer = measured[-1] if len(measured) > (2 if before else 1) else None
        note = "ufo-launch not installed" if not have_peer else ""
        cpu = f"cpu {ours.cpu:.3f} s" + (f" / peer {peer.cpu:.3f} s" if peer else "")
        results.append(Measure("startup", command.what, ours.wall, " ".join(command.peer or ["-"]),
                               peer.wall if peer else None, "s", f"{cpu}{'; ' + note if note else ''}",
                               higher_is_better=False))
        if old is not None:
            results.append(Measure("startup", f"{command.what} [before]", old.wall, " ".join(command.peer or ["-"]),
                                   peer.wall if peer else None, "s", f"cpu {old.cpu:.3f} s", higher_is_better=False))
    return results


__all__ = ["Command", "ImportTime", "PIPELINE", "Timing", "before_command", "bytecode_written", "commands", "environment", "import_time",
           "measure", "peer_installed", "timings", "wall"]
