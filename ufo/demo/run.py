"""The simulated beamline end to end: what `ufo demo` runs.

A tomography experiment on the simulated beamline (rotation stage, flat-field motor,
shutter, mock camera over the 3-D phantom with noise, zingers, dead columns and an axis
off centre) streams darks, flats and projections at once into two consumers: the walker's
NXtomo file (the raw frames, zingers and dead columns included) and the streaming
reconstruction engine (ufo.tomo.streaming, through the OnlineReconstruction addon):
flat-field correction and filtered back-projection (a Hann-windowed ramp) of each batch
of projections into slices kept in memory, the axis found by Vo's method once the
projections cover a half turn. Before a frame goes to the engine, the zingers and dead
pixels of the reconstructed rows are replaced by their 3 x 3 median (in a copy: the file
keeps the raw frame). There is no ring (stripe) removal, so errors fixed to detector
columns show as rings. After the last frame the slices are written as TIFF files, read
back and compared with the phantom.

On the CPU the demo reconstructs a subset of the rows by default (`DemoOptions.row_slice`).
With `axis='auto'` on a 180-degree scan the half turn is complete only at the last
projection, so the engine keeps the reconstructed rows of every projection (rows x width
x projections x 2 bytes: 47 MB for the default 64 rows of 512 x 512 x 720) and
back-projects them after the last frame: that is the lag. With a given axis (`--axis
PIXELS`) each batch is back-projected while the scan runs and the slices are complete one
batch after the last frame.
"""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..control.addons import OnlineReconstruction
from ..control.experiment import Addon
from ..core.errors import UsageError

from .options import CPU_ROWS, DemoOptions, DemoResult  # noqa: F401 - re-exported

# What a real beamline's devices and its scientist would tell the scan (the simulated one has no
# optics): recorded in the NXtomo so that nabu, tomoscan and the nxtomo package need no overrides.
DEMO_INSTRUMENT = {"camera_pixel_size": 6.5e-6, "magnification": 5.0, "distance": 0.05, "energy": 20.0,
                   "sample": "Shepp-Logan phantom (simulated)", "beamline": "ufo demo (simulated)"}


class FrameCounter(Addon):
    """Frames and bytes the experiment delivered, with the monotonic times of the first and last."""

    def __init__(self, queue_size: int = 256):
        super().__init__(queue_size)
        self.frames = 0
        self.bytes = 0
        self.first: float | None = None
        self.last: float | None = None

    async def consume(self, acquisition: str, frame: Any) -> None:
        now = time.monotonic()
        self.first = now if self.first is None else self.first
        self.last = now
        self.frames += 1
        self.bytes += int(getattr(frame, "nbytes", 0))


def clean_rows(frame: np.ndarray, rows: slice, threshold: float) -> np.ndarray:
    """A copy of `frame` whose `rows` have zingers and dead pixels replaced by their 3 x 3 median
    (ufo.tomo.outliers, `threshold` robust sigmas); the other rows are copied unchanged."""
    from ..tomo.outliers import remove_outliers

    height = frame.shape[0]
    index = np.arange(height)[rows]
    if rows.step in (None, 1):  # a band, with a row of context above and below
        lo, hi = max(int(index[0]) - 1, 0), min(int(index[-1]) + 2, height)
        cleaned = remove_outliers(frame[lo:hi], 3, threshold)[index[0] - lo: index[-1] + 1 - lo]
    else:  # each row between its neighbours: the 3 x 3 median of the middle row of each triple is right
        near = np.clip(index[:, None] + np.array([-1, 0, 1]), 0, height - 1).ravel()
        cleaned = remove_outliers(frame[near], 3, threshold)[1::3]
    out = np.array(frame)
    out[index] = cleaned.astype(out.dtype, casting="unsafe")  # medians of integers are integers
    return out


class DemoReconstruction(OnlineReconstruction):
    """The OnlineReconstruction addon, with each frame's reconstructed rows cleaned (`clean_rows`) first."""

    tells = False  # the summary says the engine's warnings

    def __init__(self, rows: slice, threshold: float | None, **options: Any):
        super().__init__(rows=rows, **options)
        self.row_slice, self.threshold = rows, threshold

    def _add(self, frame: np.ndarray, meta: dict[str, Any]) -> None:
        if self.threshold is not None:
            frame = clean_rows(frame, self.row_slice, self.threshold)
        self.engine.add(frame, meta)

    async def consume(self, acquisition: str, frame: Any) -> None:
        await self._in_thread(self._add, np.asarray(frame), dict(getattr(frame, "meta", {})))

    async def finish(self, experiment: Any) -> None:
        if experiment.state in ("cancelled", "error"):
            return  # an interrupted scan: the raw file is closed by the writer, no slices to complete
        await super().finish(experiment)


class Demo:
    """One demo run; the counters tell a progress display how far each part has come."""

    def __init__(self, options: DemoOptions):
        options.check()
        self.options = options
        self.phase = "starting"
        self.frames_total = options.darks + options.flats + options.projections
        self.rows = options.row_list()
        self.slices_total = len(self.rows)
        self.slices_written = 0
        self._writer: Any = None
        self._reco: Any = None
        self._counter: FrameCounter | None = None
        self._slices: np.ndarray | None = None
        self._slice_path = ""

    # -- progress -----------------------------------------------------------------------
    @property
    def acquired(self) -> int:
        return self._counter.frames if self._counter is not None else 0

    @property
    def written(self) -> int:
        return self._writer.frames if self._writer is not None else 0

    @property
    def backprojected(self) -> int:
        """Projections the engine has back-projected into the slices so far."""
        return self._reco.stats.backprojected if self._reco is not None else 0

    @property
    def reconstructed(self) -> int:
        """Slice files written (after the last batch)."""
        return self.slices_written

    # -- the run --------------------------------------------------------------------------
    def _engine(self) -> DemoReconstruction:
        o = self.options
        return DemoReconstruction(rows=o.row_slice(), threshold=o.outlier_threshold,
                                  axis=o.axis if o.axis == "auto" else float(o.axis), filter=o.filter,
                                  angle_span=math.pi, device="gpu" if o.gpu else "cpu",
                                  threads=None if o.gpu else o.replicas)

    async def run(self) -> DemoResult:
        from ..control import ImageWriter, SimulatedBeamline, Tomography
        from ..storage.walker import walker

        o = self.options
        device = self._device()
        out = Path(o.output)
        out.mkdir(parents=True, exist_ok=True)
        zingers = o.zingers if o.zingers is not None else max(1, round(20 * o.size * o.size / 512**2))
        t0 = time.monotonic()
        async with SimulatedBeamline(width=o.size, height=o.size, axis_offset=o.offset, noise=o.noise,
                                     zingers=zingers, dead_columns=o.dead_columns) as beamline:
            camera = beamline.camera.camera
            camera.frames_per_second = o.frame_rate
            scan = Tomography(beamline, walker(str(out)), projections=o.projections, darks=o.darks, flats=o.flats,
                              metadata=DEMO_INSTRUMENT)
            self._counter = scan.attach(FrameCounter())
            self._reco = scan.attach(self._engine())  # before the writer: its slices complete first at the end
            self._writer = scan.attach(ImageWriter("scan.nx"))
            self.phase = "acquiring"
            watcher = asyncio.ensure_future(self._note_end_of_acquisition())
            try:
                name = await scan.run()
            finally:
                watcher.cancel()
            received, dropped = self._frames_received_and_dropped(scan, camera)
        engine = self._reco.engine
        stats = engine.stats
        self._slices = engine.current()  # the complete slices, on the host
        scan_dir = out / name
        self._slice_path = str(scan_dir / "slices" / "slice-%05i.tif")
        self.phase = "writing slices"
        await asyncio.to_thread(self._write_slices)
        t_written = time.monotonic()
        self.phase = "comparing"
        raw = scan_dir / "scan.nx"
        psnr_value, ssim_value, compared, check = await asyncio.to_thread(self._compare)
        montage_path = str(scan_dir / "montage.png")
        await asyncio.to_thread(self._montage, montage_path)
        t_end = time.monotonic()
        self.phase = "done"
        counter = self._counter
        first_frame = counter.first if counter.first is not None else t0
        last_frame = counter.last if counter.last is not None else t0
        finished = stats.finished if stats.finished is not None else t_written
        return DemoResult(
            options=o, scan=str(scan_dir), raw_file=str(raw), slices_path=self._slice_path, montage=montage_path,
            rows=list(self.rows), frames=received, frames_expected=self.frames_total,
            frames_dropped=dropped, acquisition_s=max(last_frame - first_frame, 1e-9),
            bytes_written=raw.stat().st_size, slices=self.slices_written,
            lag_s=float(stats.lag) if stats.lag is not None else math.nan,
            reco_after_scan_s=max(finished - last_frame, 0.0), slices_written_s=max(t_written - last_frame, 0.0),
            total_s=t_end - t0,
            found_axis=self._used_axis(engine), psnr=psnr_value, ssim=ssim_value, compared_slices=compared, check=check,
            device=device, axis_auto=o.axis == "auto", warnings=list(stats.warnings) + self._outside_note())

    def _outside_note(self) -> list[str]:
        """A word where no reconstructed row passes through the sample: an axis found there is not the
        sample's (--rows 0:2 reported 14.72 px against 33.97, with no word) and nothing is compared."""
        if self._rows_inside(1):
            return []
        o, reach = self.options, self._reach()
        low, high = math.ceil(o.size / 2 - reach), math.floor(o.size / 2 + reach)
        found = "the axis found there is not the sample's and " if o.axis == "auto" else ""
        return [f"the rows reconstructed ({o.describe_rows()}) hold no part of the sample, which fills rows "
                f"{low}..{high}: {found}nothing is compared with the phantom; choose rows through it (--rows)"]

    def _used_axis(self, engine: Any) -> float:
        if self.options.axis != "auto":
            return float(self.options.axis)
        return float(engine.found_axis) if engine.found_axis is not None else math.nan

    def _frames_received_and_dropped(self, scan: Any, camera: Any) -> tuple[int, int]:
        """Frames received and dropped: the experiment's per-acquisition counts (gaps in the camera's
        frame numbers) where it keeps them, else the camera's own, else what arrived against what was asked."""
        received = self.acquired
        counted = getattr(scan, "frame_stats", None)
        dropped: int | None = None
        if counted:
            dropped = sum(int(getattr(s, "dropped", 0)) for s in counted.values())
        else:
            stats = getattr(camera, "stats", None)
            if stats is not None and not callable(stats) and hasattr(stats, "dropped"):
                dropped = int(stats.dropped)  # of the camera's last recording only
        missing = max(self.frames_total - received, 0)
        return received, max(dropped or 0, missing)

    async def _note_end_of_acquisition(self) -> None:
        while self.acquired < self.frames_total:
            await asyncio.sleep(0.02)
        self.phase = "reconstructing"

    def _device(self) -> str:
        if not self.options.gpu:
            return "cpu"
        from ..core.resources import available

        if not available():
            raise UsageError("--gpu: no GPU is usable here (CuPy with CUDA and an NVIDIA GPU are needed: "
                             "pip install 'ufo[gpu]'); leave --gpu out to run on the CPU")
        return "gpu"

    def _write_slices(self) -> None:
        from ..storage.writers import open_writer

        if self._slices is None:
            return
        for row, image in zip(self.rows, self._slices):  # slice-NNNNN.tif: NNNNN is the detector row
            with open_writer(self._slice_path, overwrite=True, start=row) as writer:
                writer.write(image, {"row": row})
            self.slices_written += 1

    # -- checking the result --------------------------------------------------------------
    def _truth(self, row: int) -> np.ndarray:
        from ..tomo.phantom import Phantom

        o = self.options
        mock_attenuation = 0.01  # the mock camera's default: counts = flat x exp(-attenuation x line integral)
        return mock_attenuation * Phantom(o.size, height=o.size).slice(z=row - o.size / 2, size=o.size)

    def _reach(self) -> float:
        """Rows from the detector's middle that the sample fills."""
        from ..tomo.phantom import Phantom

        return float(Phantom(self.options.size, height=self.options.size).c.max()) * 0.95

    def _rows_inside(self, count: int) -> list[int]:
        """Up to `count` reconstructed rows, evenly spread over those the sample fills."""
        reach = self._reach()
        inside = [r for r in self.rows if abs(r - self.options.size / 2) < reach]
        if len(inside) <= count:
            return inside
        return [inside[int(i)] for i in np.linspace(0, len(inside) - 1, count)]

    def _slice(self, row: int) -> np.ndarray:
        import tifffile

        return tifffile.imread(self._slice_path % row)  # read back from its file: what a user gets

    def _compare(self) -> tuple[float, float, int, str]:
        from .quality import psnr, ssim, verdict

        rows = self._rows_inside(24)
        if not rows:
            return math.nan, math.nan, 0, ""
        span = 0.01 * 1.0  # attenuation x the phantom's densest part: one grey scale for every slice
        pairs = [(self._truth(r), self._slice(r)) for r in rows]
        values = [(psnr(t, s, span), ssim(t, s, span)) for t, s in pairs]
        return float(np.mean([v[0] for v in values])), float(np.mean([v[1] for v in values])), len(rows), verdict(pairs)

    def _montage(self, path: str) -> None:
        from .montage import montage, write_png

        inside = self._rows_inside(1000)
        if inside:
            rows = [inside[int(f * (len(inside) - 1))] for f in (0.3, 0.5, 0.7)]
        else:
            rows = [self.rows[len(self.rows) // 2]]
        pictures = [[self._truth(r) for r in rows], [self._slice(r) for r in rows]]  # phantom above, ufo below
        write_png(path, montage(pictures, 0.0, 0.005))  # 0 .. half the densest part: soft tissue shows
