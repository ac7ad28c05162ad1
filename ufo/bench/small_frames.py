"""What one small frame costs through a chain, in ufo and in UFO's C runtime (issue 22).

The whole command's wall time divided by the frames (the per-frame column of
benchmarks/ufo_launch.py) charges start-up to every frame: 0.2 s of Python start-up over 360
frames reads as 0.6 ms a frame. Here each tool runs the same flat-field string on a short and a
long stack of the same frames (72 and 720 frames of 16 x 512 float32, as that benchmark's
flat-field case), and the difference of the two times over the difference of the frame counts is
the cost of one more frame: start-up cancels out. Both tools alternate within each round; the
median of `repeat` rounds; wall and CPU (user + system) time, pinned to one core (`taskset`) or
not. The peer is `ufo-launch` on pocl's CPU OpenCL driver where no GPU is (`peer_environment`).
"""

from __future__ import annotations

import os
import resource
import shlex
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .ufolaunch import peer_environment, ufo_command

SHORT, LONG = 72, 720
PIPELINE = ("[read path=ffc/proj-{n}.tif, read path=ffc/darks.tif, read path=ffc/flats.tif] ! flat-field-correct "
            "! write filename={out}/c.tif")


@dataclass
class PerFrame:
    """Medians of one tool in one setting: the short and long runs, and the cost of one frame."""

    tool: str
    pinned: bool
    short_wall: float
    long_wall: float
    short_cpu: float
    long_cpu: float

    @property
    def frame_wall_ms(self) -> float:
        return 1e3 * (self.long_wall - self.short_wall) / (LONG - SHORT)

    @property
    def frame_cpu_ms(self) -> float:
        return 1e3 * (self.long_cpu - self.short_cpu) / (LONG - SHORT)


def make_data(root: Path) -> None:
    """Projections (a 72- and a 720-frame stack: the first 72 frames are the same), 10 darks and
    10 flats of 16 x 512 float32, as benchmarks/ufo_launch.py's flat-field case makes them."""
    import tifffile

    rng = np.random.default_rng(3)
    (root / "ffc").mkdir(parents=True, exist_ok=True)
    stacks = {name: (level + rng.uniform(0, level / 10, (count, 16, 512))).astype(np.float32)
              for name, count, level in (("proj", LONG, 900.0), ("darks", 10, 100.0), ("flats", 10, 2000.0))}
    for count in (SHORT, LONG):
        tifffile.imwrite(root / "ffc" / f"proj-{count}.tif", stacks["proj"][:count], photometric="minisblack")
    for name in ("darks", "flats"):
        tifffile.imwrite(root / "ffc" / f"{name}.tif", stacks[name], photometric="minisblack")


def _argv(tool: str, frames: int, out: str) -> list[str]:
    text = PIPELINE.format(n=frames, out=out)
    if tool == "ufo-launch":
        return ["ufo-launch", "-q", *shlex.split(text)]
    return [*ufo_command(), "run", "--ufo", "-q", text]


def _once(argv: list[str], root: Path, out: str, env: dict[str, str] | None, pinned: bool) -> tuple[float, float]:
    shutil.rmtree(root / out, ignore_errors=True)
    (root / out).mkdir()
    if pinned:
        argv = ["taskset", "-c", str(min(os.sched_getaffinity(0))), *argv]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, check=False, timeout=600)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {(done.stderr or done.stdout)[-400:]}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(root: Path, repeat: int = 5, pinned: bool = True, tools: tuple[str, ...] = ("ufo", "ufo-launch")) -> list[PerFrame]:
    """Per-frame cost of each tool (`root` holds `make_data`'s files); one uncounted round first."""
    envs = {"ufo": None, "ufo-launch": peer_environment()}
    runs: dict[tuple[str, int], list[tuple[float, float]]] = {(t, n): [] for t in tools for n in (SHORT, LONG)}
    for round_ in range(repeat + 1):
        for key in runs:
            tool, frames = key
            measured = _once(_argv(tool, frames, "out"), root, "out", envs[tool], pinned)
            if round_:
                runs[key].append(measured)

    def med(tool: str, frames: int, which: int) -> float:
        return statistics.median(r[which] for r in runs[(tool, frames)])

    return [PerFrame(tool, pinned, med(tool, SHORT, 0), med(tool, LONG, 0), med(tool, SHORT, 1), med(tool, LONG, 1))
            for tool in tools]


__all__ = ["LONG", "PIPELINE", "SHORT", "PerFrame", "make_data", "measure"]


def report(repeat: int, with_peer: bool, log: Callable[[str], None] = print) -> None:
    """Measure on data made in a temporary folder and print the table (benchmarks/startup.py --small-frames)."""
    tools = ("ufo", "ufo-launch") if with_peer else ("ufo",)
    folder = Path(tempfile.mkdtemp(prefix="ufo-small-frames-"))
    try:
        make_data(folder)
        log(f"\nflat-field, {SHORT} and {LONG} frames of 16 x 512 (median of {repeat}, tools alternating):")
        log("| tool | cores | wall 72 / 720 frames [s] | cpu 72 / 720 frames [s] | one more frame: wall / cpu [ms] |")
        log("| --- | --- | --- | --- | --- |")
        for pinned in (True, False):
            for r in measure(folder, repeat, pinned, tools):
                cores = "1 (taskset)" if pinned else f"all {len(os.sched_getaffinity(0))}"
                log(f"| {r.tool} | {cores} | {r.short_wall:.3f} / {r.long_wall:.3f} | {r.short_cpu:.3f} / "
                    f"{r.long_cpu:.3f} | {r.frame_wall_ms:.3f} / {r.frame_cpu_ms:.3f} |")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
