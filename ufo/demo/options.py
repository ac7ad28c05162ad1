"""What `ufo demo` is asked (DemoOptions: size, projections, rows, axis, ...) and what it measured (DemoResult)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..core.errors import UsageError

CPU_ROWS = 64  # slices the CPU reconstructs by default, spread over the detector (see DemoOptions.row_slice)


@dataclass
class DemoOptions:
    size: int = 512  # detector width and height, pixels
    projections: int = 720  # over 180 degrees
    gpu: bool = False
    output: str = "ufo-demo"
    rows: str | None = None  # 'FROM:TO[:STEP]' detector rows or 'all'; default: see row_slice
    darks: int = 20
    flats: int = 20
    axis_offset: float | None = None  # pixels from the detector centre; default size / 40 + 0.37
    noise: float = 20.0  # counts (flat level 3000)
    zingers: int | None = None  # per frame; default scales with the frame area (20 at 512 x 512)
    dead_columns: int = 3
    frame_rate: float = 0.0  # camera frames per second (0: as fast as the simulation renders)
    axis: float | str = "auto"  # rotation axis for the reconstruction (px), or 'auto' (Vo's method)
    filter: str = "hann"  # FBP filter (ufo.tomo.filters): a windowed ramp, the data are noisy
    outlier_threshold: float | None = 6.0  # zingers and dead pixels: robust sigmas from the 3 x 3 median; None: off
    replicas: int = field(default_factory=lambda: os.cpu_count() or 1)  # CPU threads of the back-projection

    @property
    def true_axis(self) -> float:
        return self.size / 2 + self.offset

    @property
    def offset(self) -> float:
        return self.axis_offset if self.axis_offset is not None else self.size / 40 + 0.37

    def row_slice(self) -> slice:
        """The detector rows to reconstruct (the engine's `rows`).

        Default on the CPU: CPU_ROWS rows spread evenly over the detector (every 8th row of
        512), so the slices show the whole sample; all of them would make the back-projection
        8 times longer (512 x 512^2 x 720 = 97 G voxel updates, ~35 s at the ~2.8 G/s of two
        cores, and with the axis found at the end of a 180-degree scan that all comes after
        the last frame). With --gpu, and on detectors of up to 2 x CPU_ROWS pixels: all rows."""
        size = self.size
        if not self.rows:
            if self.gpu or size <= 2 * CPU_ROWS:
                return slice(0, size, 1)
            step = -(-size // CPU_ROWS)
            return slice(step // 2, size, step)
        if self.rows.strip().lower() == "all":
            return slice(0, size, 1)
        try:
            parts = [int(p) for p in self.rows.split(":")]
            if len(parts) not in (2, 3):
                raise ValueError
        except ValueError as err:
            raise UsageError(f"--rows '{self.rows}' must be FROM:TO or FROM:TO:STEP (detector rows, TO excluded) "
                             "or 'all'") from err
        first, stop, step = (*parts, 1)[:3]
        if not 0 <= first < stop <= size or step < 1:
            raise UsageError(f"--rows '{self.rows}' must lie within 0:{size} with FROM < TO (and STEP >= 1)")
        return slice(first, stop, step)

    def _check_memory(self) -> None:
        """The CPU slices (and, with --axis auto, the rows of every projection kept until the axis is
        found at the end of the half turn) must fit in the host's free memory: refused before the
        scan, not at its first frame (`--size 2048 --rows all`: 34 GB of slices)."""
        if self.gpu:
            return
        per_row = self.size * self.size * 4 + (self.size * self.projections * 2 if self.axis == "auto" else 0)
        need = len(self.row_list()) * per_row
        from ..core.resources import available_memory

        free = available_memory()
        if need > 0.8 * free:
            step = next((s for s in range(1, self.size + 1) if -(-self.size // s) * per_row <= 0.8 * free), self.size)
            raise UsageError(f"{self.describe_rows()} of {self.size} x {self.size} take {need / 1e9:.1f} GB on the CPU "
                             f"(slices{' and the projections kept to find the axis' if self.axis == 'auto' else ''}), "
                             f"this host has {free / 1e9:.1f} GB free: reconstruct fewer rows (--rows 0:{self.size}:"
                             f"{step}) or use --gpu")

    def row_list(self) -> list[int]:
        return list(range(self.size)[self.row_slice()])

    def describe_rows(self) -> str:
        """'all 512 rows', 'rows 200:300', 'rows 4:512:8, one in 8'."""
        rows = self.row_slice()
        if (rows.start, rows.stop, rows.step) == (0, self.size, 1):
            return f"all {self.size} rows"
        if rows.step == 1:
            return f"rows {rows.start}:{rows.stop}"
        return f"rows {rows.start}:{rows.stop}:{rows.step}, one in {rows.step}"

    def check(self) -> None:
        if not 32 <= self.size <= 8192:
            raise UsageError(f"--size {self.size} must lie between 32 and 8192 pixels")
        if self.projections < 16:
            raise UsageError(f"--projections {self.projections}: a reconstruction needs at least 16")
        if abs(self.offset) > self.size / 8:
            raise UsageError(f"--axis-offset {self.offset} is too far off centre for a {self.size}-pixel detector "
                             f"(at most {self.size / 8:g} pixels)")
        self._check_memory()
        if isinstance(self.axis, str) and self.axis != "auto":
            raise UsageError(f"--axis '{self.axis}' must be 'auto' or a detector column in pixels")
        if not isinstance(self.axis, str) and not 0 < float(self.axis) < self.size:
            raise UsageError(f"--axis {self.axis} must lie within the detector (0 .. {self.size} px)")
        if self.frame_rate and not 0.1 <= self.frame_rate <= 100000:  # 1e-300: 10 s waited, then emergency stops
            raise UsageError(f"--frame-rate {self.frame_rate:g}: 0 (as fast as the simulation renders) or 0.1 to "
                             "100000 frames per second")
        output = os.path.expanduser(self.output)
        if os.path.exists(output) and not os.path.isdir(output):  # /dev/null: failed once the scan had begun
            raise UsageError(f"--output '{self.output}' is not a folder; give the folder the scans go into")


@dataclass
class DemoResult:
    options: DemoOptions
    scan: str  # experiment directory
    raw_file: str
    slices_path: str
    montage: str
    rows: list[int]  # detector rows reconstructed
    frames: int  # frames received from the camera
    frames_expected: int
    frames_dropped: int  # by the camera (gaps in its frame numbers), or frames missing
    acquisition_s: float
    bytes_written: int
    slices: int
    lag_s: float  # from the last frame the engine received to complete slices (engine.stats.lag)
    reco_after_scan_s: float  # from the camera's last frame to complete slices in memory
    slices_written_s: float  # from the camera's last frame to the last slice file written
    total_s: float
    found_axis: float  # the axis the slices were reconstructed with: found ('auto') or given
    psnr: float
    ssim: float
    compared_slices: int
    device: str = "cpu"
    axis_auto: bool = True
    warnings: list[str] = field(default_factory=list)
    check: str = ""  # why the slices fail the comparison with the phantom; '' where they pass (quality.verdict)

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
