"""The simulated beamline end to end: what `ufo demo` runs.

A tomography experiment on the simulated beamline (rotation stage, flat-field motor,
shutter, mock camera over the 3-D phantom with noise, zingers, dead columns and an axis
off centre) streams darks, flats and projections at once into two consumers: the walker's
NXtomo file and an online reconstruction graph (flat-field, zinger and ring removal,
automatic axis, filtered back-projection) that writes the slices. Afterwards the slices
are read back from their files and compared with the phantom.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import UsageError


@dataclass
class DemoOptions:
    size: int = 512  # detector width and height, pixels
    projections: int = 720  # over 180 degrees
    gpu: bool = False
    output: str = "ufo-demo"
    rows: str | None = None  # 'from:to' detector rows to reconstruct (default: all)
    darks: int = 20
    flats: int = 20
    axis_offset: float | None = None  # pixels from the detector centre; default size / 40 + 0.37
    noise: float = 20.0  # counts (flat level 3000)
    zingers: int | None = None  # per frame; default scales with the frame area (20 at 512 x 512)
    dead_columns: int = 3
    frame_rate: float = 0.0  # camera frames per second (0: as fast as the simulation renders)
    replicas: int = field(default_factory=lambda: os.cpu_count() or 1)

    @property
    def true_axis(self) -> float:
        return self.size / 2 + self.offset

    @property
    def offset(self) -> float:
        return self.axis_offset if self.axis_offset is not None else self.size / 40 + 0.37

    def row_range(self) -> tuple[int, int]:
        if not self.rows:
            return 0, self.size
        try:
            first, stop = (int(p) for p in self.rows.split(":"))
        except ValueError:
            raise UsageError(f"--rows '{self.rows}' must be FROM:TO (detector rows, TO excluded)") from None
        if not 0 <= first < stop <= self.size:
            raise UsageError(f"--rows '{self.rows}' must lie within 0:{self.size} with FROM < TO")
        return first, stop

    def check(self) -> None:
        if not 32 <= self.size <= 8192:
            raise UsageError(f"--size {self.size} must lie between 32 and 8192 pixels")
        if self.projections < 16:
            raise UsageError(f"--projections {self.projections}: a reconstruction needs at least 16")
        if abs(self.offset) > self.size / 8:
            raise UsageError(f"--axis-offset {self.offset} is too far off centre for a {self.size}-pixel detector "
                             f"(at most {self.size / 8:g} pixels)")
        self.row_range()


@dataclass
class DemoResult:
    options: DemoOptions
    scan: str  # experiment directory
    raw_file: str
    slices_path: str
    montage: str
    frames: int
    acquisition_s: float
    bytes_written: int
    slices: int
    reco_after_scan_s: float  # from the last frame to the last slice on disk
    total_s: float
    found_axis: float
    psnr: float
    ssim: float
    compared_slices: int

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.acquisition_s

    @property
    def mb_per_s(self) -> float:
        return self.bytes_written / 1e6 / self.acquisition_s

    @property
    def slices_per_s(self) -> float:
        return self.slices / self.total_s

    @property
    def axis_error(self) -> float:
        return self.found_axis - self.options.true_axis


class Demo:
    """One demo run; the counters tell a progress display how far each part has come."""

    def __init__(self, options: DemoOptions):
        options.check()
        self.options = options
        self.phase = "starting"
        self.frames_total = options.darks + options.flats + options.projections
        first, stop = options.row_range()
        self.slices_total = stop - first
        self._writer: Any = None
        self._reco: Any = None
        self._counter: Any = None
        self._axis_task: Any = None
        self._slice_path = ""

    # -- progress -----------------------------------------------------------------------
    @property
    def acquired(self) -> int:
        if self._counter is None:
            return 0
        return sum(int(entry["frames"]) for entry in self._counter.results.values())

    @property
    def written(self) -> int:
        return self._writer.frames if self._writer is not None else 0

    @property
    def reconstructed(self) -> int:
        handle = self._reco.handle if self._reco is not None else None
        if handle is None:
            return 0
        return handle.stats["write"].frames_in

    # -- the graph ------------------------------------------------------------------------
    def _build(self, feeds: dict[str, Any], experiment: Any) -> Any:
        from ..core.registry import create

        o = self.options
        first, stop = o.row_range()
        self._slice_path = str(Path(o.output) / experiment.current / "slices" / "slice-%05i.tif")
        cpu_replicas = 1 if o.gpu else o.replicas
        frames = create("flat-field-correct", absorption=True, dark_reduction="median",
                        replicas=cpu_replicas)(feeds["projections"], feeds["darks"], feeds["flats"])
        frames = create("remove-outliers", threshold=6.0, replicas=cpu_replicas)(frames)
        if (first, stop) != (0, o.size):
            frames = create("crop", y=first, height=stop - first)(frames)
        sinograms = create("transpose-projections", number=o.projections)(frames)
        stripe_window = min(31, max(5, o.size // 24 | 1))  # 21 at 512 pixels; wide windows blur small detectors
        sinograms = create("remove-stripes", size=stripe_window, replicas=cpu_replicas)(sinograms)
        self._axis_task = create("auto-axis", row=(o.size // 2 - first) if first <= o.size // 2 < stop else None)
        sinograms = self._axis_task(sinograms)
        stacks = create("stack", number=16, partial=True)(sinograms)
        slices = create("backproject", angle_step=math.pi / o.projections, replicas=cpu_replicas)(stacks)
        writer = create("write", path=self._slice_path, overwrite=True, start=first)
        return writer(create("unstack")(slices))

    # -- the run --------------------------------------------------------------------------
    async def run(self) -> DemoResult:
        from ..control import GraphAddon, ImageWriter, SimulatedBeamline, Tomography
        from ..control.addons import Benchmarker
        from ..storage.walker import walker

        o = self.options
        device = self._device()
        out = Path(o.output)
        out.mkdir(parents=True, exist_ok=True)
        zingers = o.zingers if o.zingers is not None else max(1, round(20 * o.size * o.size / 512**2))
        t0 = time.perf_counter()
        async with SimulatedBeamline(width=o.size, height=o.size, axis_offset=o.offset, noise=o.noise,
                                     zingers=zingers, dead_columns=o.dead_columns) as beamline:
            beamline.camera.camera.frames_per_second = o.frame_rate
            scan = Tomography(beamline, walker(str(out)), projections=o.projections, darks=o.darks, flats=o.flats)
            self._counter = scan.attach(Benchmarker())
            self._writer = scan.attach(ImageWriter("scan.nx"))
            self._reco = scan.attach(GraphAddon(self._build, ("darks", "flats", "projections"),
                                                counts={"projections": o.projections}, device=device))
            self.phase = "acquiring"
            acquired_at: list[float] = []
            watcher = asyncio.ensure_future(self._note_end_of_acquisition(acquired_at))
            try:
                name = await scan.run()
            finally:
                watcher.cancel()
        t_end = time.perf_counter()
        self.phase = "comparing"
        acquisition = self._counter.results
        first_frame = min(entry["start"] for entry in acquisition.values())
        last_frame = max(entry.get("end", entry["start"]) for entry in acquisition.values())
        scan_dir = out / name
        raw = scan_dir / "scan.nx"
        psnr_value, ssim_value, compared = await asyncio.to_thread(self._compare)
        montage_path = str(scan_dir / "montage.png")
        await asyncio.to_thread(self._montage, montage_path)
        self.phase = "done"
        end_of_scan = acquired_at[0] if acquired_at else last_frame
        return DemoResult(
            options=o, scan=str(scan_dir), raw_file=str(raw), slices_path=self._slice_path, montage=montage_path,
            frames=self.acquired, acquisition_s=max(last_frame - first_frame, 1e-9),
            bytes_written=raw.stat().st_size, slices=self.reconstructed, reco_after_scan_s=max(t_end - end_of_scan, 0.0),
            total_s=t_end - t0, found_axis=float(self._axis_task.axis), psnr=psnr_value, ssim=ssim_value,
            compared_slices=compared)

    async def _note_end_of_acquisition(self, at: list[float]) -> None:
        while self.acquired < self.frames_total:
            await asyncio.sleep(0.02)
        at.append(time.perf_counter())
        self.phase = "reconstructing"

    def _device(self) -> str:
        if not self.options.gpu:
            return "cpu"
        from ..gpu import available

        if not available():
            raise UsageError("--gpu: no GPU is usable here (CuPy with CUDA and an NVIDIA GPU are needed: "
                             "pip install -e '.[gpu]'); leave --gpu out to run on the CPU")
        return "all"

    # -- checking the result --------------------------------------------------------------
    def _truth(self, row: int) -> np.ndarray:
        from ..tomo.phantom import Phantom

        o = self.options
        mock_attenuation = 0.01  # the mock camera's default: counts = flat x exp(-attenuation x line integral)
        return mock_attenuation * Phantom(o.size, height=o.size).slice(z=row - o.size / 2, size=o.size)

    def _rows_inside(self, count: int) -> list[int]:
        """Up to `count` reconstructed rows, evenly spread over those the sample fills."""
        from ..tomo.phantom import Phantom

        o = self.options
        first, stop = o.row_range()
        reach = float(Phantom(o.size, height=o.size).c.max()) * 0.95
        inside = [r for r in range(first, stop) if abs(r - o.size / 2) < reach]
        if len(inside) <= count:
            return inside
        return [inside[int(i)] for i in np.linspace(0, len(inside) - 1, count)]

    def _slice(self, row: int) -> np.ndarray:
        import tifffile

        return tifffile.imread(self._slice_path % row)

    def _compare(self) -> tuple[float, float, int]:
        from .quality import psnr, ssim

        rows = self._rows_inside(24)
        if not rows:
            return math.nan, math.nan, 0
        span = 0.01 * 1.0  # attenuation x the phantom's densest part: one grey scale for every slice
        values = [(psnr(t, s, span), ssim(t, s, span)) for t, s in ((self._truth(r), self._slice(r)) for r in rows)]
        return float(np.mean([v[0] for v in values])), float(np.mean([v[1] for v in values])), len(rows)

    def _montage(self, path: str) -> None:
        from .montage import montage, write_png

        inside = self._rows_inside(1000)
        rows = [inside[int(f * (len(inside) - 1))] for f in (0.3, 0.5, 0.7)] if inside else [self.options.row_range()[0]]
        pictures = [[self._truth(r) for r in rows], [self._slice(r) for r in rows]]  # phantom above, ufo below
        write_png(path, montage(pictures, 0.0, 0.005))  # 0 .. half the densest part: soft tissue shows
