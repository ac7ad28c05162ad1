"""README.md's fenced blocks and the data its examples read, for tests/test_readme.py.

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
import sys
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import tifffile

from ufo.storage import open_writer
from ufo.tomo.phantom import Phantom

README = Path(__file__).resolve().parents[1] / "README.md"
FENCE = re.compile(r"^```(\S*)\s*$")
MARK = re.compile(r"^<!--\s*(.*?)\s*-->$")
SERVERS = "servers for the next block"

# The scan the README's examples are written for: a 128-pixel-wide detector, 48 rows, 180 degrees.
WIDTH, ROWS, ANGLES, AXIS = 128, 48, 90, 66.5  # AXIS: the --axis the README gives
DARK, FLAT, MU = 100.0, 4100.0, 0.02
# The 360-degree scan: an object 1.5 detectors wide, 8 rows, the axis EDGE px from the detector's left
# edge, inside the outer quarter where `--axis auto --half-acquisition` looks for it.
EDGE, ROWS_360 = 24, 8


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


def runnable(found: list[Block]) -> list[Block]:
    return [b for b in found if not b.mark and b.lang in ("bash", "python")]


def servers_for(found: list[Block], block: Block) -> Block | None:
    """The servers block right before `block`, if there is one."""
    i = found.index(block)
    return found[i - 1] if i and found[i - 1].mark == SERVERS else None


def problems(found: list[Block]) -> list[str]:
    """Blocks that are neither run nor marked, marks the test does not know or that say no why, and
    servers that no runnable block follows."""
    run = runnable(found)
    out = []
    for block, after in zip(found, found[1:] + [None]):
        kind, _, detail = block.mark.partition(":")
        if block.mark == SERVERS:
            if after not in run:
                out.append(f"{block.id}: no block after the servers runs")
        elif block.mark:
            if kind not in ("not run", "file", "output of") or not detail.strip():
                out.append(f"{block.id}: unknown mark or no why: '{block.mark}'")
        elif block not in run:
            out.append(f"{block.id}: a block the test can neither run nor check")
    return out


# -- the data the examples read ---------------------------------------------------------------
def projections(phantom: Phantom, angles: np.ndarray, axis: float, columns: slice = slice(None)) -> np.ndarray:
    return np.stack([DARK + (FLAT - DARK) * np.exp(-MU * phantom.projection(a, axis)[:, columns])
                     for a in angles]).astype(np.uint16)


def nxtomo(path: Path, frames: np.ndarray, angles: np.ndarray) -> None:
    """NXtomo through ufo's own writer: 2 darks, 2 flats, the projections with their angles."""
    shape = frames.shape[1:]
    with open_writer(str(path)) as writer:
        for key, frame in [(2, np.full(shape, DARK, np.uint16))] * 2 + [(1, np.full(shape, FLAT, np.uint16))] * 2:
            writer.write(frame, {"image_key": key})
        for frame, angle in zip(frames, angles):
            writer.write(frame, {"image_key": 0, "angle": float(angle)})


def phantom() -> Phantom:
    return Phantom(WIDTH, height=ROWS)


def phantom_360() -> Phantom:
    return Phantom(3 * WIDTH // 2, height=ROWS_360)


def make_data(root: Path) -> Path:
    """Every input the README names, made once and shared (read-only) by every block: the scan as TIFF
    folders, HDF5, NXtomo and sinograms, a 360-degree scan with the axis near the detector's edge, and
    two single frames."""
    angles = np.arange(ANGLES) * np.pi / ANGLES
    scan = projections(phantom(), angles, AXIS)
    dark, flat = np.full((ROWS, WIDTH), DARK, np.uint16), np.full((ROWS, WIDTH), FLAT, np.uint16)
    for name, frames in (("projections", scan), ("darks", [dark] * 4), ("flats", [flat] * 4)):
        (root / "scan" / name).mkdir(parents=True)
        for i, frame in enumerate(frames):
            tifffile.imwrite(root / "scan" / name / f"{name[:-1]}-{i:04d}.tif", frame)
    with h5py.File(root / "scan.h5", "w") as f:
        f["data"] = scan
    tifffile.imwrite(root / "darks.tif", np.stack([dark] * 4), photometric="minisblack")
    tifffile.imwrite(root / "flats.tif", np.stack([flat] * 4), photometric="minisblack")
    sinograms = -np.log((scan - DARK) / (FLAT - DARK)).transpose(1, 0, 2).astype(np.float32)
    (root / "sinos").mkdir()
    for row, sinogram in enumerate(sinograms):
        tifffile.imwrite(root / "sinos" / f"sino-{row:04d}.tif", sinogram)
    nxtomo(root / "scan.nx", scan, angles)
    turn = np.arange(2 * ANGLES) * np.pi / ANGLES
    big = phantom_360()
    columns = slice(big.width // 2 - EDGE, big.width // 2 - EDGE + WIDTH)
    nxtomo(root / "scan360.nx", projections(big, turn, big.width / 2, columns), turn)
    tifffile.imwrite(root / "a.tif", scan[0])
    tifffile.imwrite(root / "b.tif", scan[ANGLES // 2])
    return root


def folder(data: Path, path: Path, found: list[Block]) -> Path:
    """A fresh working folder holding links to the shared data and the README's files."""
    path.mkdir(parents=True, exist_ok=True)
    for item in data.iterdir():
        (path / item.name).symlink_to(item)
    for block in found:
        if block.mark.startswith("file:"):
            (path / block.mark.partition(":")[2].strip()).write_text(block.text)
    return path


def env() -> dict[str, str]:
    """The venv's `ufo` first on PATH; wide lines; no GPU (CI has none)."""
    bin_dir = os.path.dirname(sys.executable)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "COLUMNS": "200",
            "UFO_DEVICES": "cpu", "PYTHONUNBUFFERED": "1"}
