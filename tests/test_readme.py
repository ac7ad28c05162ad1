"""The README tells the truth: every fenced block of README.md, read from the file at test time, runs as
written on data this module makes, or is marked in the README with why it does not.

A block is marked by an HTML comment on the line before its fence:
  <!-- not run: REASON -->            not run (a GPU, an install, a server that blocks, minutes of benchmark)
  <!-- file: NAME -->                 written as NAME into the folder of every block that runs
  <!-- servers for the next block --> each line started in the background (its --port awaited) while the
                                      next block runs, then stopped
  <!-- output of: COMMAND -->         what COMMAND prints: the test runs COMMAND on a small problem and checks
                                      that its lines say the same things (labels, units, wording; not figures)
Unmarked ```bash blocks run as one bash script (set -e), unmarked ```python blocks as a program with top-level
await (as IPython, Jupyter and `python -m asyncio` run them); any other unmarked block fails the test.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile

from ufo.storage import open_writer
from ufo.tomo.phantom import Phantom

README = Path(__file__).resolve().parents[1] / "README.md"
FENCE = re.compile(r"^```(\S*)\s*$")
MARK = re.compile(r"^<!--\s*(.*?)\s*-->$")

# The scan the README's examples are written for: a 128-pixel-wide detector, 48 rows, 180 degrees.
WIDTH, ROWS, ANGLES, AXIS = 128, 48, 90, 66.5  # AXIS: the --axis the README gives
DARK, FLAT, MU = 100.0, 4100.0, 0.02


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    mark: str  # the HTML comment before the fence, '' if none

    @property
    def id(self) -> str:
        return f"README.md:{self.line}:{self.lang or 'text'}"


def blocks(text: str) -> list[Block]:
    """The fenced blocks of `text`, each with the comment on the last non-blank line before it."""
    found, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        before = [line.strip() for line in lines[:i] if line.strip()]
        mark = MARK.match(before[-1]) if before else None
        end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), None)
        assert end is not None, f"README.md:{i + 1}: the block is not closed"
        found.append(Block(i + 1, fence.group(1), "\n".join(lines[i + 1:end]) + "\n", mark.group(1) if mark else ""))
        i = end + 1
    return found


BLOCKS = blocks(README.read_text())
SERVERS = "servers for the next block"
RUNNABLE = [b for b in BLOCKS if not b.mark and b.lang in ("bash", "python")]


# -- the data the examples read ---------------------------------------------------------------
def _projections(phantom: Phantom, angles: np.ndarray, axis: float, columns: slice = slice(None)) -> np.ndarray:
    return np.stack([DARK + (FLAT - DARK) * np.exp(-MU * phantom.projection(a, axis)[:, columns])
                     for a in angles]).astype(np.uint16)


def _nxtomo(path: Path, projections: np.ndarray, angles: np.ndarray) -> None:
    """NXtomo through ufo's own writer: 2 darks, 2 flats, the projections with their angles."""
    shape = projections.shape[1:]
    with open_writer(str(path)) as writer:
        for key, frame in [(2, np.full(shape, DARK, np.uint16))] * 2 + [(1, np.full(shape, FLAT, np.uint16))] * 2:
            writer.write(frame, {"image_key": key})
        for frame, angle in zip(projections, angles):
            writer.write(frame, {"image_key": 0, "angle": float(angle)})


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_data(tmp_path_factory.mktemp("readme-data"))


def make_data(root: Path) -> Path:
    """Every input the README names, made once: the scan as TIFF folders, HDF5, NXtomo and sinograms,
    a 360-degree scan with the axis near the detector's edge, and two single frames."""
    angles = np.arange(ANGLES) * np.pi / ANGLES
    projections = _projections(Phantom(WIDTH, height=ROWS), angles, AXIS)
    dark, flat = np.full((ROWS, WIDTH), DARK, np.uint16), np.full((ROWS, WIDTH), FLAT, np.uint16)
    for name, frames in (("projections", projections), ("darks", [dark] * 4), ("flats", [flat] * 4)):
        (root / "scan" / name).mkdir(parents=True)
        for i, frame in enumerate(frames):
            tifffile.imwrite(root / "scan" / name / f"{name[:-1]}-{i:04d}.tif", frame)
    with h5py.File(root / "scan.h5", "w") as f:
        f["data"] = projections
    tifffile.imwrite(root / "darks.tif", np.stack([dark] * 4), photometric="minisblack")
    tifffile.imwrite(root / "flats.tif", np.stack([flat] * 4), photometric="minisblack")
    sinograms = -np.log((projections - DARK) / (FLAT - DARK)).transpose(1, 0, 2).astype(np.float32)
    (root / "sinos").mkdir()
    for row, sinogram in enumerate(sinograms):
        tifffile.imwrite(root / "sinos" / f"sino-{row:04d}.tif", sinogram)
    _nxtomo(root / "scan.nx", projections, angles)
    edge = 40  # a 360-degree scan of an object 1.5 detectors wide, the axis 40 px from the detector's left edge
    turn = np.arange(2 * ANGLES) * np.pi / ANGLES
    big = Phantom(3 * WIDTH // 2, height=8)
    columns = slice(big.width // 2 - edge, big.width // 2 - edge + WIDTH)
    _nxtomo(root / "scan360.nx", _projections(big, turn, big.width / 2, columns), turn)
    tifffile.imwrite(root / "a.tif", projections[0])
    tifffile.imwrite(root / "b.tif", projections[ANGLES // 2])
    return root


def _folder(data: Path, tmp_path: Path) -> Path:
    """A fresh working folder holding (links to) the data and the README's files."""
    for item in data.iterdir():
        (tmp_path / item.name).symlink_to(item)
    for block in BLOCKS:
        if block.mark.startswith("file:"):
            (tmp_path / block.mark.partition(":")[2].strip()).write_text(block.text)
    return tmp_path


def _env() -> dict[str, str]:
    """The venv's `ufo` first on PATH; wide lines; no GPU (CI has none)."""
    bin_dir = os.path.dirname(sys.executable)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "COLUMNS": "200",
            "UFO_DEVICES": "cpu", "PYTHONUNBUFFERED": "1"}


# How a Python block runs: top-level await as in IPython, Jupyter and `python -m asyncio`.
RUN_PYTHON = """
import ast, asyncio, sys
code = compile(open(sys.argv[1]).read(), sys.argv[2], "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
result = eval(code, {"__name__": "__main__"})
if asyncio.iscoroutine(result):
    asyncio.run(result)
"""


def _run(block: Block, folder: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    script = folder / f"block-{block.line}.{'py' if block.lang == 'python' else 'sh'}"
    script.write_text(block.text)
    if block.lang == "python":
        command = [sys.executable, "-c", RUN_PYTHON, str(script), block.id]
    else:
        command = ["bash", "-e", "-o", "pipefail", str(script)]
    proc = subprocess.Popen(command, cwd=folder, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        _stop([proc])  # and whatever the block left running in its session
    return subprocess.CompletedProcess(command, proc.returncode, out, "")


def _signal(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)  # the process's session: what it started goes too
    except ProcessLookupError:
        pass


def _stop(procs: list[subprocess.Popen]) -> None:
    """Ctrl-C to all at once (servers take seconds to close), then wait; what is still there is killed."""
    for proc in procs:
        _signal(proc, signal.SIGINT)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
        _signal(proc, signal.SIGKILL)
        proc.wait()


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _start_servers(block: Block, folder: Path) -> list[subprocess.Popen]:
    """Each line of `block` in the background, all at once; returns once each listens on its --port."""
    started: list[tuple[str, int, subprocess.Popen]] = []
    for line in block.text.splitlines():
        command = line.split("#")[0].strip()
        if not command:
            continue
        words = shlex.split(command)
        assert "--port" in words, f"{block.id}: '{command}' names no --port, so the test cannot tell it is up"
        port = int(words[words.index("--port") + 1])
        assert not _port_open(port), f"{block.id}: port {port} is taken; the README's servers need it"
        started.append((command, port, subprocess.Popen(["bash", "-c", f"exec {command}"], cwd=folder, env=_env(),
                                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                                        start_new_session=True)))
    servers = [proc for _, _, proc in started]
    deadline = time.monotonic() + 60  # a start-up bound, not a timing claim
    for command, port, proc in started:
        while not _port_open(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                _stop(servers)
                pytest.fail(f"{block.id}: '{command}' did not start:\n{proc.stdout.read() if proc.stdout else ''}")
            time.sleep(0.1)
    return servers


# -- the tests ---------------------------------------------------------------------------------
def test_the_readme_keeps_the_ci_test_command_first():
    """.ci/run takes the first line with `pytest` right after a ```bash fence as CI's test command."""
    lines = README.read_text().splitlines()
    after_fence = [b for a, b in zip(lines, lines[1:]) if a.strip() == "```bash" and "pytest" in b]
    assert after_fence[0] == 'pip install -e ".[test]" && python -m pytest -q'


def problems(found: list[Block]) -> list[str]:
    """Blocks that are neither run nor marked, marks the test does not know or that say no why, and
    servers that no runnable block follows."""
    runnable = [b for b in found if not b.mark and b.lang in ("bash", "python")]
    out = []
    for block, after in zip(found, found[1:] + [None]):
        kind, _, detail = block.mark.partition(":")
        if block.mark == SERVERS:
            if after not in runnable:
                out.append(f"{block.id}: no block after the servers runs")
        elif block.mark:
            if kind not in ("not run", "file", "output of") or not detail.strip():
                out.append(f"{block.id}: unknown mark or no why: '{block.mark}'")
        elif block not in runnable:
            out.append(f"{block.id}: a block the test can neither run nor check")
    return out


def test_every_block_is_run_or_marked():
    assert len(RUNNABLE) > 10 and not problems(BLOCKS), problems(BLOCKS)
    sample = blocks("```bash\nls\n```\n\n<!-- not run: a GPU -->\n```bash\nnvidia-smi\n```\n```text\nout\n```\n"
                    "<!-- not run: -->\n```bash\nx\n```\n<!-- servers for the next block -->\n```bash\ny\n```\n")
    assert [b.mark for b in sample] == ["", "not run: a GPU", "", "not run:", SERVERS]
    assert problems(sample) == ["README.md:9:text: a block the test can neither run nor check",
                                "README.md:13:bash: unknown mark or no why: 'not run:'",
                                "README.md:17:bash: no block after the servers runs"]


@pytest.mark.parametrize("block", RUNNABLE, ids=[b.id for b in RUNNABLE])
def test_block_runs_as_written(block, data, tmp_path):
    folder = _folder(data, tmp_path)
    before = BLOCKS[BLOCKS.index(block) - 1] if BLOCKS.index(block) else None
    servers = _start_servers(before, folder) if before and before.mark == SERVERS else []
    try:
        proc = _run(block, folder)
    finally:
        _stop(servers)
    assert proc.returncode == 0, f"{block.id} exited {proc.returncode}:\n{block.text}\n{proc.stdout[-4000:]}"


# -- shown output ------------------------------------------------------------------------------
# The commands whose output the README shows, and the options (documented in the README beside the
# output) that make them small enough for CI; the output's wording does not depend on the size.
SMALL = {"ufo demo": ["--size", "64", "--projections", "60", "--rows", "4:64:8"]}
BOX = re.compile(r"[\u2500-\u257f\u2580-\u259f]")  # box drawing and block characters: borders and bars
NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")


def said(text: str) -> list[str]:
    """What output says, figures aside: each table row as '|label: text', the text outside tables between
    them as one item (so wrapping at another width does not matter); numbers become '#', borders, bars and
    runs of spaces go."""
    rows: list[str] = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("\u2502").split("\u2502")]
        if line.lstrip().startswith("\u2502") and len(cells) == 2:
            if cells[0] or not rows or not rows[-1].startswith("|"):
                rows.append(f"|{cells[0]}: {cells[1]}")
            else:
                rows[-1] += f" {cells[1]}"
        elif not BOX.sub("", line).strip():
            rows.append("|")  # a border: what follows is a new item
        elif rows and not rows[-1].startswith("|"):
            rows[-1] += f" {line}"
        else:
            rows.append(line)
    return [" ".join(NUMBER.sub("#", BOX.sub(" ", row)).split()) for row in rows if row != "|"]


SHOWN = [b for b in BLOCKS if b.mark.startswith("output of:")]


@pytest.mark.parametrize("block", SHOWN, ids=[b.id for b in SHOWN])
def test_shown_output_is_what_the_command_prints(block, tmp_path):
    command = block.mark.partition(":")[2].strip()
    assert command in SMALL, f"{block.id}: the test does not know how to run '{command}' small"
    width = max(len(line) for line in block.text.splitlines())
    proc = subprocess.run([*shlex.split(command), *SMALL[command]], cwd=tmp_path, capture_output=True, text=True,
                          env={**_env(), "COLUMNS": str(width)}, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    shown, printed = said(block.text), said(proc.stdout + proc.stderr)
    assert len(shown) > 5 and shown == printed, "\n".join(
        f"{'  ' if a == b else '!='} README: {a}\n   printed: {b}" for a, b in zip(shown, printed))
