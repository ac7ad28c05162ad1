"""UFO's C runtime and ufo on the same UFO pipeline strings, in one run: numbers and time.

A beamline moving from UFO keeps its `ufo-launch` strings; they must give the same numbers
under `ufo run` and not take longer. This runs each string through both, as a user runs them
(one process per run, from the data folder, the string as written), compares every output
file of the two, and times both at real frame sizes.

The peer is Debian's `ufo-launch` (packages libufo-bin, ufo-filters): ufo-core + ufo-filters
on an OpenCL device. Without `UFO_DEVICE_TYPE` UFO asks for a GPU; on a machine without one
this sets `UFO_DEVICE_TYPE=cpu` (pocl's CPU driver), and every row says which it ran on.
ufo runs with `--ufo` (UFO's meaning where a spelling means something else here).
Times are wall times of the whole command (start-up included, as the user waits for it),
median of `repeat` runs, the two commands alternated; per core = both pinned to one core
(`taskset -c 0`), whole machine = both as they start by default.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .ufo_pipelines import GRAPHS, PAIRS


def installed() -> bool:
    return shutil.which("ufo-launch") is not None and shutil.which("ufo-runjson") is not None


def peer_environment() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("UFO_DEVICE_TYPE", "gpu" if shutil.which("nvidia-smi") else "cpu")
    return env


def peer_mode() -> str:
    """pocl's CPU driver cannot allocate OpenCL images (UFO's texture back-projection); the peer then
    back-projects with mode=nearest (said in the table)."""
    return " mode=nearest" if peer_environment()["UFO_DEVICE_TYPE"] == "cpu" else ""


def peer_label() -> str:
    """What the peer runs on, e.g. 'ufo-launch 0.16.0 (Debian), OpenCL cpu (pocl 3.1)'."""
    def version(package: str) -> str:
        done = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True,
                              check=False) if shutil.which("dpkg-query") else None
        return done.stdout.split("+")[0].split("-")[0] if done and done.returncode == 0 else "?"
    device = peer_environment()["UFO_DEVICE_TYPE"]
    driver = f" (pocl {version('pocl-opencl-icd')})" if device == "cpu" else ""
    return f"ufo-launch {version('libufo-bin')} (Debian), OpenCL {device}{driver}"


def ufo_command() -> list[str]:
    script = Path(sys.executable).with_name("ufo")
    return [str(script)] if script.exists() else [sys.executable, "-m", "ufo"]


@dataclass
class Comparison:
    text: str
    status: str  # "same", "differs", "ufo-launch failed", "ufo failed"
    detail: str = ""


def _outputs(folder: Path) -> dict[str, np.ndarray]:
    import tifffile

    return {p.name: tifffile.imread(p) for p in sorted(folder.glob("*.tif"))} if folder.is_dir() else {}


def compare_folders(theirs: Path, ours: Path, rtol: float = 1e-5) -> tuple[str, str]:
    """("same"|"differs", detail): same file names, shapes and values within `rtol` of the range."""
    a, b = _outputs(theirs), _outputs(ours)
    if not a or list(a) != list(b):
        return "differs", f"files: ufo-launch {sorted(a)[:3]}..., ufo {sorted(b)[:3]}..."
    worst, rms = 0.0, 0.0
    for name in a:
        x, y = np.asarray(a[name], np.float64), np.asarray(b[name], np.float64)
        if x.shape != y.shape:
            return "differs", f"{name}: shape {x.shape} vs {y.shape}"
        scale = max(float(np.abs(x).max()), 1e-30)
        worst = max(worst, float(np.abs(x - y).max()) / scale)
        rms = max(rms, float(np.sqrt(np.mean((x - y) ** 2))) / scale)
    return ("same" if worst <= rtol else "differs"), f"max / rms difference over the largest value: {worst:.1e} / {rms:.1e}"


def _run(command: list[str], cwd: Path, env: dict[str, str] | None = None,
         pin: bool = False) -> tuple[float, subprocess.CompletedProcess[str]]:
    if pin and shutil.which("taskset"):
        command = ["taskset", "-c", str(min(os.sched_getaffinity(0))), *command]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=600)
    return time.perf_counter() - start, done


def _last_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    return lines[-1][:120] if lines else f"exit {done.returncode}"


def compare_strings(data: Path) -> list[Comparison]:
    """Every UFO string and JSON graph of ufo.bench.ufo_pipelines through both runtimes."""
    rows = []
    env = peer_environment()
    for number, (text, _) in enumerate(PAIRS):
        _, theirs = _run(["ufo-launch", "-q", *shlex.split(text.replace("OUT", f"L{number}"))], data, env)
        _, ours = _run([*ufo_command(), "run", "--ufo", "-q", text.replace("OUT", f"U{number}")], data)
        rows.append(_judge(text, theirs, ours, data / f"L{number}", data / f"U{number}"))
    for number, (graph, _) in enumerate(GRAPHS):
        for side in ("L", "U"):
            (data / f"graph{side}{number}.json").write_text(json.dumps(graph).replace("OUT", f"G{side}{number}"))
        _, theirs = _run(["ufo-runjson", f"graphL{number}.json"], data, env)
        _, ours = _run([*ufo_command(), "run", "--ufo", "-q", "--json", f"graphU{number}.json"], data)
        rows.append(_judge(f"JSON graph {number}", theirs, ours, data / f"GL{number}", data / f"GU{number}"))
    return rows


def _judge(text: str, theirs: subprocess.CompletedProcess[str], ours: subprocess.CompletedProcess[str],
           their_folder: Path, our_folder: Path) -> Comparison:
    if theirs.returncode != 0 or not _outputs(their_folder):
        return Comparison(text, "ufo-launch failed", _last_line(theirs))
    if ours.returncode != 0:
        return Comparison(text, "ufo failed", _last_line(ours))
    return Comparison(text, *compare_folders(their_folder, our_folder))


@dataclass
class Timing:
    what: str
    frames: int
    shape: tuple[int, int]
    peer_s: float
    ufo_s: float
    pinned: bool
    numbers: str

    @property
    def per_frame_ms(self) -> tuple[float, float]:
        return 1e3 * self.peer_s / self.frames, 1e3 * self.ufo_s / self.frames


def make_timing_data(root: Path, scale: float = 1.0) -> list[tuple[str, str, int, tuple[int, int]]]:
    """Real-size inputs; returns (what, UFO string with OUT, frames, frame shape) per case."""
    import tifffile

    rng = np.random.default_rng(3)
    cases = []
    small = max(8, int(720 * scale))
    (root / "ffc").mkdir(parents=True, exist_ok=True)
    for name, count, level in (("proj", small, 900.0), ("darks", 10, 100.0), ("flats", 10, 2000.0)):
        stack = (level + rng.uniform(0, level / 10, (count, 16, 512))).astype(np.float32)
        tifffile.imwrite(root / "ffc" / f"{name}.tif", stack, photometric="minisblack")
    cases.append((f"flat-field, {small} frames of 16 x 512",
                  "[read path=ffc/proj.tif, read path=ffc/darks.tif, read path=ffc/flats.tif] ! flat-field-correct "
                  "! write filename=OUT/c.tif", small, (16, 512)))
    big = max(2, int(20 * scale))
    (root / "big").mkdir(exist_ok=True)
    for name, count, level in (("proj", big, 9000), ("darks", 4, 100), ("flats", 4, 20000)):
        stack = (level + rng.integers(0, level // 10 + 1, (count, 2048, 2048))).astype(np.uint16)
        tifffile.imwrite(root / "big" / f"{name}.tif", stack, photometric="minisblack")
    cases.append((f"flat-field + absorption, {big} frames of 2048 x 2048 uint16",
                  "[read path=big/proj.tif, read path=big/darks.tif, read path=big/flats.tif] "
                  "! flat-field-correct absorption-correct=true ! write filename=OUT/c-%05i.tif", big, (2048, 2048)))
    sinos, width = max(2, int(8 * scale)), 1024
    (root / "sino").mkdir(exist_ok=True)
    phantom_sino = _disk_sinogram(width, width)
    for i in range(sinos):
        tifffile.imwrite(root / "sino" / f"sino-{i:04d}.tif", phantom_sino * (1 + 0.1 * i))
    cases.append((f"fft ! filter ! ifft ! backproject, {sinos} slices, {width} angles x {width}",
                  f"read path=sino/*.tif ! fft dimensions=1 ! filter ! ifft dimensions=1 crop-width={width} "
                  f"! backproject axis-pos={width / 2}{{MODE}} ! write filename=OUT/s-%05i.tif", sinos, (width, width)))
    cases.append(("start-up: dummy-data number=10 ! null", "dummy-data number=10 ! null", 10, (1024, 1024)))
    return cases


def _disk_sinogram(angles: int, width: int) -> np.ndarray:
    """The sinogram of an off-centre disk (closed form), so both back-project the same object."""
    theta = np.arange(angles) * np.pi / angles
    s = np.arange(width) - (width - 1) / 2
    centre = 0.2 * width * np.cos(theta)[:, None]
    chord = np.clip((0.15 * width) ** 2 - (s[None, :] - centre) ** 2, 0, None)
    return (2 * np.sqrt(chord)).astype(np.float32)


def time_cases(root: Path, cases: list[tuple[str, str, int, tuple[int, int]]], repeat: int,
               pinned: bool) -> list[Timing]:
    env = peer_environment()
    rows = []
    for number, (what, text, frames, shape) in enumerate(cases):
        peer, ours = [], []
        for k in range(repeat):
            for side in ("L", "U") if k % 2 == 0 else ("U", "L"):
                out = root / f"T{side}{number}"
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir()
                text_here = text.replace("OUT", out.name).replace("{MODE}", peer_mode() if side == "L" else "")
                if side == "L":
                    seconds, done = _run(["ufo-launch", "-q", *shlex.split(text_here)], root, env, pinned)
                    peer.append(seconds)
                else:
                    seconds, done = _run([*ufo_command(), "run", "--ufo", "-q", text_here], root, None, pinned)
                    ours.append(seconds)
                if done.returncode != 0:
                    raise RuntimeError(f"{'ufo-launch' if side == 'L' else 'ufo run'} failed on '{text_here}': "
                                       f"{_last_line(done)}")
        numbers = "-" if "null" in text else " ".join(compare_folders(root / f"TL{number}", root / f"TU{number}",
                                                                      rtol=1e-3))
        rows.append(Timing(what, frames, shape, statistics.median(peer), statistics.median(ours), pinned, numbers))
    return rows
