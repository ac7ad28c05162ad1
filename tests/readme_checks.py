"""What each of README.md's runnable blocks must print or write, checked by tests/test_readme.py.

A check finds its block by a line the block holds (line numbers move as the README grows); a
runnable block without a check, or a check without its block, fails the test. Values are
compared with references made here from the test's own data: the phantom the scan was
projected from (reconstructions: relative error and least-squares scale against the true slice,
bounds a mirrored, shifted or 1.3x-scaled slice breaks), the projections themselves (crops,
bins, differences, kernels), the camera's counter pattern (each frame holds its number).
`cost` is a scheduling hint (seconds on two cores): the longest blocks start first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import tifffile

from ufo.tomo.phantom import Phantom

from .readme_blocks import ANGLES, AXIS, EDGE, MU, ROWS, ROWS_360, WIDTH, phantom, phantom_360
from .readme_runner import Result


@dataclass(frozen=True)
class Check:
    key: str  # a line of the block
    verify: Callable[[Result, Path], None]  # (what the block did, the data folder)
    exprs: tuple[str, ...] = ()  # Python blocks: evaluated in the block's globals afterwards
    cost: float = 1.0


# -- references -------------------------------------------------------------------------------
def scan(data: Path) -> np.ndarray:
    with h5py.File(data / "scan.h5") as f:
        return f["data"][...].astype(np.float64)


def truth(rows: list[int] | range, size: int = WIDTH, big: bool = False, centre: float | None = None) -> np.ndarray:
    """The true slices (1/pixel) of the rows: the phantom's attenuation, centred where ufo puts the axis."""
    p, height = (phantom_360(), ROWS_360) if big else (phantom(), ROWS)
    return np.stack([MU * p.slice(r - height / 2, size=size, centre=centre) for r in rows])


def close_to_phantom(rec: np.ndarray, true: np.ndarray, what: str, error: float = 0.35) -> None:
    """Relative error and least-squares scale against the true slices. FBP of 90 angles at this
    size is 0.21-0.30 off (edges); mirrored or shifted by a pixel 0.40-0.60, scaled by 1.3 a scale of
    1.17-1.23: the bounds pass the first and fail the others."""
    rec, true = np.asarray(rec, np.float64), np.asarray(true, np.float64)
    assert rec.shape == true.shape, f"{what}: shape {rec.shape}, expected {true.shape}"
    assert np.isfinite(rec).all(), f"{what}: not finite"
    keep = np.linalg.norm(true.reshape(len(true), -1), axis=1) > 0  # rows the phantom reaches
    rec, true = rec[keep], true[keep]
    rel = np.linalg.norm(rec - true) / np.linalg.norm(true)
    scale = float((rec * true).sum() / (true * true).sum())
    assert rel < error and 0.85 < scale < 1.1, f"{what}: relative error {rel:.3f}, scale {scale:.3f}"


def mock_truth(height: int, width: int) -> np.ndarray:
    """The true slices of the mock camera's tomography pattern (ufo.camera.mock: the phantom scaled to
    the sensor, attenuation 0.01 a pixel), centred on the rotation axis as the reconstruction is."""
    p = Phantom(width, height=height)
    return np.stack([0.01 * p.slice(r - height / 2, size=width) for r in range(height)])


def summary(output: str, name: str) -> dict[str, str]:
    """The cells of the summary table row whose last cell is `name` (ufo reco's: slices ... axis, output)."""
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if len(cells) > 3 and cells[-1] == name:
            return {"slices": cells[0], "axis": cells[-2]}
    raise AssertionError(f"no summary row for {name} in:\n{output[-3000:]}")


def axis_printed(output: str, name: str, expected: float, tolerance: float = 0.5) -> None:
    axis = float(summary(output, name)["axis"])
    assert abs(axis - expected) < tolerance, f"{name}: axis {axis}, expected {expected}"


def described(path: Path) -> dict[str, Any]:
    return json.loads(tifffile.TiffFile(path).pages[0].description)


def tiffs(folder: Path) -> np.ndarray:
    return np.stack([tifffile.imread(p) for p in sorted(folder.glob("*.tif"))])


def counter_frames(frames: np.ndarray, n: int, shape: tuple[int, int], what: str) -> None:
    """The mock camera's counter pattern: each frame holds its frame number everywhere, numbers rising
    from 0 (with no gaps unless the camera dropped frames, which a busy host may make it do)."""
    assert frames.shape == (n, *shape), f"{what}: {frames.shape}"
    numbers = frames.reshape(n, -1)
    first = numbers[:, 0].astype(np.int64)
    assert (numbers == numbers[:, :1]).all() and first[0] == 0 and (np.diff(first) > 0).all(), f"{what}: {first}"


def image_keys(path: Path) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """(image_key, rotation angles in radians, frame shape) of an NXtomo file, wherever the datasets are."""
    found: dict[str, Any] = {}

    def visit(name: str, obj: Any) -> None:  # returns None: h5py stops at the first other value
        last = name.rsplit("/", 1)[-1]
        if isinstance(obj, h5py.Dataset) and last in ("image_key", "rotation_angle"):
            degrees = str(obj.attrs.get("units", "")).startswith("deg")
            found.setdefault(last, np.radians(obj[...]) if degrees else obj[...])
        elif isinstance(obj, h5py.Dataset) and obj.ndim == 3:
            found.setdefault("shape", obj.shape[1:])

    with h5py.File(path) as f:
        f.visititems(visit)
    return found["image_key"], found["rotation_angle"], found["shape"]


# -- the blocks -------------------------------------------------------------------------------
def python_api(r: Result, data: Path) -> None:
    p = scan(data)
    written = tiffs(r.folder / "out")
    assert np.array_equal(written, p[:, :, 32:96]), "out/frame-*.tif: not the projections' columns 32..95"
    printed = [line.split() for line in r.output.splitlines() if re.fullmatch(r"\d+ \S+", line.strip())]
    assert [int(i) for i, _ in printed] == list(range(ANGLES)), r.output[-2000:]
    np.testing.assert_allclose([float(m) for _, m in printed], 2 * p.mean(axis=(1, 2)), rtol=1e-5)
    assert r.values["stack.shape"] == (10, 100, 64) and r.values["(stack.min(), stack.max())"] == (1, 1)
    with h5py.File(r.folder / "cropped.h5") as f:
        assert np.array_equal(f["data"][...], p[:, :, 32:96])


def ufo_run(r: Result, data: Path) -> None:
    p = scan(data)
    with h5py.File(r.folder / "binned.h5") as f:
        d = f["data"]
        stored, low, step = d[...], float(d.attrs["scale_min"]), float(d.attrs["scale_step"])
    assert stored.dtype == np.uint16
    binned = p[:, 16:48].reshape(ANGLES, 16, 2, 64, 2).mean(axis=(2, 4))
    np.testing.assert_allclose(low + step * stored, binned, atol=step)
    a, b = tifffile.imread(data / "a.tif"), tifffile.imread(data / "b.tif")
    assert np.array_equal(tifffile.imread(r.folder / "diff.tif"), a.astype(np.float32) - b)
    events = json.loads((r.folder / "trace.json").read_text())["traceEvents"]
    assert sum(e["name"].startswith("rotate") and e["ph"] == "X" for e in events) == 100
    graph = json.loads((r.folder / "graph.json").read_text())
    assert [n["plugin"] for n in graph["nodes"]] == ["dummy-data", "rotate", "null"]
    assert np.isclose(graph["nodes"][1]["properties"]["angle"], np.radians(5)) and graph["nodes"][1]["replicas"] == 2
    assert r.output.count("100/100 frames") == 2 and "90/90 frames" in r.output and "1/1 frames" in r.output
    tasks = ("read", "backproject", "flat-field-correct", "jit")  # `ufo tasks` lists them
    assert all(re.search(rf"│ {task}\s+│", r.output) for task in tasks)


def ufo_reco(r: Result, data: Path) -> None:
    out = r.folder
    close_to_phantom(tiffs(out / "slices"), truth(range(ROWS)), "slices/ (--axis auto)")
    axis_printed(r.output, "slices/slice-%05i.tif", AXIS)
    with h5py.File(out / "slices.h5") as f:
        close_to_phantom(f["data"][...], truth(range(8, 40, 4)), "slices.h5 (--region 8:40:4)")
        assert (f["data"].attrs["first_row"], f["data"].attrs["row_step"]) == (8, 4)
    files = sorted((out / "sinos-reco").glob("*.tif"))
    stored = np.stack([tifffile.imread(p) for p in files])
    meta = described(files[0])
    assert stored.dtype == np.uint16 and meta["bits"] == 16
    close_to_phantom(meta["scale_min"] + meta["scale_step"] * stored.astype(np.float64), truth(range(ROWS)),
                     "sinos-reco (16 bits, shepp-logan)")
    phase = tifffile.imread(out / "phase.tif")
    assert phase.shape == (ROWS, WIDTH, WIDTH) and np.isfinite(phase).all()
    inner = slice(8, 40)  # Paganin's low-pass blurs; the object still shows
    assert np.corrcoef(phase[inner].ravel(), truth(range(ROWS))[inner].ravel())[0, 1] > 0.5
    assert "spacing=1.4" in tifffile.TiffFile(out / "phase.tif").pages[0].description  # --pixel-size 1.4um
    close_to_phantom(tifffile.imread(out / "middle.tif")[None], truth([ROWS // 2]), "middle.tif (--slice middle)")
    axis_printed(r.output, "middle.tif", AXIS)
    wide = tifffile.imread(out / "wide.tif")
    from ufo.tomo.halftomo import slice_centre, stitched_geometry

    big = phantom_360().width  # the detector sees the columns from the axis - EDGE to the object's edge
    axis = float(summary(r.output, "wide.tif")["axis"])
    centre = slice_centre(stitched_geometry(min(WIDTH, big - (big // 2 - EDGE)), axis)[2])  # the axis's pixel
    close_to_phantom(wide, truth(range(ROWS_360), size=wide.shape[-1], big=True, centre=centre),
                     "wide.tif (--half-acquisition)")
    axis_printed(r.output, "wide.tif", EDGE)


def walker(r: Result, data: Path) -> None:
    with h5py.File(r.folder / "experiment.h5") as f:
        frames = f["sample-1/projections"][...]
        assert json.loads(f["sample-1"].attrs["ufo_start"])["energy"] == "20 keV"
    assert frames.shape == (10, 64, 64) and (frames == np.arange(10)[:, None, None]).all()


def cameras(r: Result, data: Path) -> None:
    listed = r.output.split()
    assert {"mock", "file", "net"} <= set(listed), r.output[:500]
    assert re.search(r"│ sensor-width\s+│ 512\s+│", r.output), "ufo camera info mock: no sensor-width 512"
    with h5py.File(r.folder / "frames.h5") as f:
        counter_frames(f["data"][...], 100, (512, 512), "frames.h5")
    counter_frames(tifffile.imread(r.folder / "out.tif"), 100, (512, 512), "out.tif")


def net_camera(r: Result, data: Path) -> None:
    counter_frames(tifffile.imread(r.folder / "remote.tif"), 10, (2048, 2048), "remote.tif")
    assert "10 frames of (2048, 2048) uint16 written to remote.tif" in r.output


def open_camera(r: Result, data: Path) -> None:
    v = r.values
    assert v["frame.shape"] == (512, 512) and v["frame.meta['frame_number']"] >= 0 and v["frame.meta['timestamp']"] > 0
    assert re.fullmatch(r"\d+", r.output.strip()), f"print(camera.dropped) printed {r.output!r}"


def experiment(r: Result, data: Path) -> None:
    keys, angles, shape = image_keys(r.folder / "experiment" / "scan_0000" / "scan.nx")
    assert shape == (32, 256)
    assert (keys == 0).sum() == 360 and (keys == 1).sum() > 0 and keys[-1] == 1, "no flats after the projections"
    assert np.allclose(np.diff(angles[keys == 0]), np.pi / 360)
    assert r.values["reco.slices.shape"] == (32, 256, 256)
    close_to_phantom(r.values["reco.slices"], mock_truth(32, 256), "the online reconstruction's slices")
    assert abs(r.values["reco.found_axis"] - (128 + 3.5)) < 0.5, r.values  # the sample in the beam, axis_offset=3.5


def jit_python(r: Result, data: Path) -> None:
    saxpy, mapped = r.values["shown"]
    assert np.array_equal(saxpy, np.full((512, 512), 2.0, np.float32))
    p = scan(data)
    e = np.pad(p, ((0, 0), (1, 1), (1, 1)), mode="edge")  # boundary="nearest"
    laplace = e[:, :-2, 1:-1] + e[:, 2:, 1:-1] + e[:, 1:-1, :-2] + e[:, 1:-1, 2:] - 4 * p
    assert mapped.shape == p.shape
    np.testing.assert_allclose(np.asarray(mapped, np.float64), laplace.astype(mapped.dtype), atol=1e-3)


def jit_pipelines(r: Result, data: Path) -> None:
    p = scan(data)
    assert np.array_equal(tifffile.imread(r.folder / "out.tif"), 2 * p + 100)
    a, b = tifffile.imread(data / "a.tif"), tifffile.imread(data / "b.tif")
    assert np.array_equal(tifffile.imread(r.folder / "diff.tif"), b.astype(np.int64) - a)


def tango(r: Result, data: Path) -> None:
    assert r.values["slices.shape"] == (32, 256, 256)
    close_to_phantom(r.values["slices"], mock_truth(32, 256), "the reconstruction server's slices")
    assert abs(r.values["online.found_axis"] - 130.5) < 0.5, r.values  # the mock camera: 128 + 2.5
    shape, axis = r.output.strip().splitlines()[-1].rsplit(" ", 1)
    assert shape == "(32, 256, 256)" and abs(float(axis) - 130.5) < 0.5, r.output[-500:]
    keys, angles, frame = image_keys(r.folder / "experiment" / "scan_0000" / "scan.nx")
    assert (keys == 0).sum() == 180 and frame == (32, 256)


def dask(r: Result, data: Path) -> None:
    with h5py.File(r.folder / "volume.h5") as f:
        close_to_phantom(f["slices"][...], truth(range(ROWS)), "volume.h5 (--cluster local:2)")
    assert summary(r.output, "volume.h5:/slices")["slices"] == str(ROWS)
    axis_printed(r.output, "volume.h5:/slices", AXIS)


CHECKS = [
    Check("write(crop(read())).run().wait()", python_api, ("stack.shape", "(stack.min(), stack.max())")),
    Check('ufo run --json graph.json', ufo_run, cost=6),
    Check("ufo reco --projections scan.nx --axis auto --slice middle --output middle.tif", ufo_reco, cost=12),
    Check('w.descend("sample-1")', walker),
    Check("ufo camera list", cameras, cost=5),
    Check("ufo camera grab net -p port=5555 -n 10 -o remote.tif", net_camera, cost=3),
    Check("print(camera.dropped)", open_camera,
          ("frame.shape", "frame.meta['frame_number']", "frame.meta['timestamp']")),
    Check("async with SimulatedBeamline(", experiment, ("reco.slices.shape", "reco.found_axis", "reco.slices"), cost=6),
    Check("from kernels import laplace, saxpy", jit_python, cost=3),
    Check("jit file=kernels.py function=saxpy a=-1", jit_pipelines, cost=4),
    Check("    slices = await reco.slices()", tango, ("slices.shape", "online.found_axis", "slices"), cost=14),
    Check("--cluster local:2", dask, cost=8),
]


def check_for(block_text: str) -> Check:
    found = [c for c in CHECKS if c.key in block_text]
    assert len(found) == 1, f"{len(found)} checks for the block:\n{block_text}"
    return found[0]
