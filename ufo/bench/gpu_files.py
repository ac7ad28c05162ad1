"""The GPU reconstruction users run, file to file, against its I/O floor and GPU peers, one run.

Published GPU figures mix paths: a peer's "N seconds" may include reading the scan, writing
the slices and initialising, while ufo's was taken from pinned host memory after a warm-up.
This module measures, on one machine and in one run:

1. the file-to-file path: `ufo reco` on a uint16 NXtomo scan (darks, flats, projections of
   the 3-D phantom) into HDF5, wall time of the command as a user starts it (process start,
   imports, CUDA initialisation, reading, reconstruction, writing), with the axis given,
   with `--axis auto` and with `--output-bits 16`; each also as `ufo reco --on-server`, the
   command sent to a warm `ufo reco --serve` process started before the runs (the client's own
   start from the dropped cache counted, the server's start not: it happens once a beam time);
2. its I/O floor on the same disk: reading the scan file's bytes and writing the output's
   bytes (64 MiB calls, like the writers through the page cache, no fsync: `ufo reco` does not
   fsync either; appended, into a file sized first or into reserved blocks, the fastest). When reading and
   writing overlap, as in ufo and tomocupy, the floor is the larger of the two; the sum is what
   a tool that does not overlap them pays;
3. host memory to host memory, every tool warmed up first, on the same flat-corrected data:
   ufo's Backproject (sinograms), httomolibgpu's FBP3d_tomobar and LPRec3d_tomobar
   (projections, the layout they take), ASTRA's 2-D FBP_CUDA (a slice a call).

Runs interleave (read floor, the `ufo reco` variants, write floors) `repeat` times, each
from a dropped page cache where the machine allows it (root); medians are reported. CuPy is
imported inside the functions, so `have_gpu()` can say "no GPU" on any machine.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from .reco_fair import rmse_best
from .storage import drop_caches

BLOCK = 64 * 2**20
ATTENUATION = 0.01  # render_scan's intensities: exp(-0.01 x the phantom's line integral)


def have_gpu() -> bool:
    """Whether CuPy sees a CUDA device here."""
    from ..core.resources import available

    return available() > 0


def read_floor(path: str, queued: bool = False) -> float:
    """Seconds to read the file's bytes with 64 MiB reads (cold when the cache could be dropped);
    `queued`: the whole file asked for first (POSIX_FADV_WILLNEED), so that the disk has every
    request queued at once, as ufo's prefetch child asks for a pass's bands (on the H200 host's
    disk faster than reads in order: 1.13-1.28 s against 1.45 s for a 2.2 GB scan)."""
    buffer = bytearray(BLOCK)
    t0 = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        if queued and hasattr(os, "posix_fadvise"):
            size = os.fstat(f.fileno()).st_size
            for offset in range(0, size, BLOCK):
                os.posix_fadvise(f.fileno(), offset, BLOCK, os.POSIX_FADV_WILLNEED)
        while f.readinto(buffer):
            pass
    return time.perf_counter() - t0


def write_floor(path: str, nbytes: int, layout: str | None = None, cold: bool = True) -> float:
    """Seconds to write `nbytes` with 64 MiB calls through the page cache (no fsync, as `ufo reco`):
    appended to a new file (`layout="appended"`), into a new file given its size first ("sized",
    sparse: on a lent H200 VM 0.95 s against 1.43 s appended for 4.29 GB, 2026-12-04), or into
    one whose blocks were reserved first ("reserved", as ufo's HDF5 volume is since 2026-12-04:
    ufo.storage.preallocate); by default the fastest (each from a dropped page cache where allowed
    and `cold`), so the floor stays a ceiling whichever way ufo writes."""
    if layout is None:
        best = []
        for kind in ("appended", "sized", "reserved"):
            if cold and best:
                drop_caches()
            best.append(write_floor(path, nbytes, kind))
        return min(best)
    block = memoryview(np.random.default_rng(0).random(BLOCK // 4, dtype=np.float32).view(np.uint8))
    t0 = time.perf_counter()
    with open(path, "wb", buffering=0) as f:
        if layout in ("sized", "reserved"):
            os.ftruncate(f.fileno(), nbytes)
        if layout == "reserved":
            from ..storage.preallocate import reserve

            reserve(f.fileno(), 0, nbytes)
        left = nbytes
        while left:
            left -= os.pwrite(f.fileno(), block[:min(left, BLOCK)], nbytes - left)
    seconds = time.perf_counter() - t0
    os.remove(path)
    return seconds


def ufo_reco(scan: str, output: str, *options: str, device: str = "all", printed: list[str] | None = None,
             env: dict[str, str] | None = None) -> float:
    """Wall seconds of the `ufo reco` command (on the GPUs; `device="cpu"` for a check without one);
    `printed` gets what it printed on stdout (the tables, `--profile`'s among them)."""
    command = [sys.executable, "-m", "ufo", "reco", "--projections", scan, "--output", f"{output}:/data",
               "--gpus", device, *options]
    t0 = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t0
    if done.returncode or "no reconstruction server is running" in done.stderr:  # --on-server must not run here
        raise RuntimeError(f"`{' '.join(command)}` failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    os.remove(output)
    if printed is not None:
        printed.append(done.stdout)
    return seconds


@contextlib.contextmanager
def warm_server(work: str) -> Iterator[dict[str, str]]:
    """A `ufo reco --serve` process for the `--on-server` variants (recorded in `work`, stopped
    with Ctrl-C at the end); yields the environment its clients need."""
    env = {**os.environ, "UFO_RECO_SERVER_FILE": os.path.join(work, "reco-server.json")}
    log = open(os.path.join(work, "reco-server.log"), "w+b")  # noqa: SIM115 - closed below
    process = subprocess.Popen([sys.executable, "-m", "ufo", "reco", "--serve"], env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        end = time.monotonic() + 300
        while not os.path.exists(env["UFO_RECO_SERVER_FILE"]):
            if process.poll() is not None or time.monotonic() > end:
                log.seek(0)
                said = log.read().decode(errors="replace").strip()[-2000:]
                raise RuntimeError(f"`ufo reco --serve` did not start (exit {process.poll()}): {said}")
            time.sleep(0.1)
        yield env
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def axis_parts(scan: str, output: str, cold: bool = True) -> dict[str, float]:
    """Where `--axis auto`'s time goes, in this (warm) process: reading the flat-corrected sinogram
    of the middle row (from a dropped page cache when `cold`), and Vo's metric on it (CPU)."""
    from ..reco import RecoOptions, plan, sinogram
    from ..tomo.axis import axis_from_sinogram

    p = plan(RecoOptions(projections=scan, output=output, axis="auto"))
    row = p.rows[len(p.rows) // 2]
    sinogram(p, row)  # warm-up: imports, the reader's first open
    if cold:
        drop_caches()
    t0 = time.perf_counter()
    sino = sinogram(p, row)
    t1 = time.perf_counter()
    sinogram(p, row)
    t2 = time.perf_counter()
    axis_from_sinogram(sino)
    t3 = time.perf_counter()
    parts = {"read + correct the middle sinogram" + (" (cold cache)" if cold else ""): t1 - t0,
             "the same, warm cache": t2 - t1, "Vo's metric (axis_from_sinogram, CPU)": t3 - t2}
    if have_gpu():
        t4 = time.perf_counter()
        axis_from_sinogram(sino, device="gpu")  # first call: CuPy's kernels compiled or loaded from its cache
        t5 = time.perf_counter()
        axis_from_sinogram(sino, device="gpu")
        parts["Vo's metric on the GPU, first call"] = t5 - t4
        parts["Vo's metric on the GPU, warm"] = time.perf_counter() - t5
    return parts


def startup_parts(scan: str, output: str) -> dict[str, float]:
    """Seconds a `ufo reco` process spends outside the reconstruction: the command up to its plan
    (`--dry-run`: interpreter, imports, reading the scan's layout) and CUDA's start in a new process."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ufo", "reco", "--projections", scan, "--output", f"{output}:/data",
                    "--dry-run"], capture_output=True, check=True)
    t1 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import cupy; (cupy.zeros(1) + 1).get()"], capture_output=True, check=True)
    t2 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], capture_output=True, check=True)
    t3 = time.perf_counter()
    return {"`ufo reco --dry-run` (start, imports, plan)": t1 - t0, "python + import cupy + first kernel": t2 - t1,
            "bare python": t3 - t2}


def corrected(scan: str) -> tuple[np.ndarray, np.ndarray]:
    """(projections -log((p - dark) / (flat - dark)) as float32 (angles, rows, width), angles in
    radians) from an NXtomo scan: the data every host-to-host tool gets."""
    import h5py

    with h5py.File(scan, "r") as f:
        keys = f["/entry/instrument/detector/image_key"][()]
        data = f["/entry/instrument/detector/data"]
        dark = data[np.flatnonzero(keys == 2)].mean(0, dtype=np.float32)
        flat = data[np.flatnonzero(keys == 1)].mean(0, dtype=np.float32)
        index = np.flatnonzero(keys == 0)
        angles = np.deg2rad(f["/entry/sample/rotation_angle"][()][index])
        projections = np.empty((len(index), *dark.shape), np.float32)
        for i, k in enumerate(index):
            projections[i] = -np.log(np.clip((data[k] - dark) / (flat - dark), 1e-6, None))
    return projections, angles


def host_ufo(projections: np.ndarray, axis: float, device: str = "all") -> tuple[float, np.ndarray]:
    """(seconds, middle slice): ufo's Backproject on the GPU from sinograms in host memory, in
    frames of 16 sinograms (rows beyond a multiple of 16 are left out; the scripts use 1024)."""
    import ufo

    sinos = np.ascontiguousarray(projections.transpose(1, 0, 2))  # ufo takes sinograms (outside the timing)
    rows = len(sinos) // 16 * 16
    frames = sinos[:rows].reshape(rows // 16, 16, *sinos.shape[1:])
    out = np.empty((rows // 16, 16, sinos.shape[2], sinos.shape[2]), np.float32)

    def once(count: int) -> float:
        t0 = time.perf_counter()
        ufo.MemoryOut(out=out[:count])(ufo.Backproject(axis=axis)(frames[:count])).run(device=device).wait()
        return time.perf_counter() - t0

    once(2)  # warm-up: kernels compiled, memory pools filled
    seconds = once(len(frames))
    return seconds, out.reshape(rows, *out.shape[2:])[rows // 2]


def host_httomolibgpu(projections: np.ndarray, angles: np.ndarray, axis: float,
                      method: str) -> tuple[float, np.ndarray]:
    """(seconds, middle slice): httomolibgpu's `method` from projections in host memory, to host memory."""
    import cupy
    from httomolibgpu.recon import algorithm

    run = getattr(algorithm, method)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run(cupy.asarray(projections[:, :16]), angles, center=axis).get()  # warm-up: plans, kernels
        cupy.cuda.Device().synchronize()
        t0 = time.perf_counter()
        volume = run(cupy.asarray(projections), angles, center=axis).get()  # (width, rows, width)
        seconds = time.perf_counter() - t0
    return seconds, volume[:, projections.shape[1] // 2]


def host_astra(projections: np.ndarray, angles: np.ndarray, slices: int) -> tuple[float, np.ndarray]:
    """(seconds for `slices` slices, middle slice): ASTRA's FBP_CUDA, one 2-D slice a call."""
    import astra

    n_angles, rows, width = projections.shape
    vol = astra.create_vol_geom(width, width)
    proj = astra.create_proj_geom("parallel", 1.0, width, angles)
    middle = rows // 2
    picks = [middle, *[r for r in range(rows) if r != middle][:max(0, slices - 1)]]

    def one(row: int) -> np.ndarray:
        sid = astra.data2d.create("-sino", proj, np.ascontiguousarray(projections[:, row]))
        rid = astra.data2d.create("-vol", vol)
        cfg = astra.astra_dict("FBP_CUDA")
        cfg.update(ReconstructionDataId=rid, ProjectionDataId=sid, option={"FilterType": "ram-lak"})
        alg = astra.algorithm.create(cfg)
        astra.algorithm.run(alg)
        image = astra.data2d.get(rid)
        astra.algorithm.delete(alg)
        astra.data2d.delete([sid, rid])
        return image

    one(middle)  # warm-up
    t0 = time.perf_counter()
    images = [one(r) for r in picks]
    return time.perf_counter() - t0, images[0]


@dataclass
class FileRun:
    """Medians over the interleaved repeats (seconds); host-to-host rows: (tool, slices, seconds, RMSE or error)."""

    width: int
    rows: int
    angles: int
    scan_bytes: int
    output_bytes: int
    read: float = 0.0  # the faster of the two below
    read_in_order: float = 0.0
    read_queued: float = 0.0
    write: float = 0.0
    write16: float = 0.0
    reco: dict[str, float] = field(default_factory=dict)  # variant -> wall seconds
    host: list[tuple[str, int, float, str]] = field(default_factory=list)
    profiles: dict[str, str] = field(default_factory=dict)  # variant -> `ufo reco --profile` table
    axis_parts: dict[str, float] = field(default_factory=dict)  # part of `--axis auto` -> seconds

    @property
    def floor(self) -> float:
        """The I/O floor when reading and writing overlap: the larger of the two."""
        return max(self.read, self.write)


def measure(work: str, width: int, rows: int, angles: int, repeat: int = 3, astra_slices: int = 64,
            log: Callable[[str], None] = lambda _: None, device: str = "all", cold: bool = True,
            profile: bool = False) -> FileRun:
    """Render the scan into `work`, then time the file-to-file variants against the I/O floor and
    the host-to-host tools (each peer that fails is reported with its error, not hidden).
    `device="cpu"` runs ufo's side on the CPU and `cold=False` leaves the page cache alone: a
    check of this code on a shared machine without a GPU. `profile`: after the timed runs, each
    variant once more with `--profile` (untimed) and the parts of the axis search."""
    from .stream import render_scan

    scan, output = os.path.join(work, "scan.nx"), os.path.join(work, "slices.h5")
    t0 = time.perf_counter()
    axis = render_scan(scan, width, rows, angles)  # axis at width / 2: every tool's slice is centred alike
    log(f"scan rendered in {time.perf_counter() - t0:.0f} s: {os.path.getsize(scan) / 1e9:.2f} GB, axis {axis}")
    run = FileRun(width, rows, angles, os.path.getsize(scan), rows * width * width * 4)
    variants = {"axis given": ("--axis", str(axis)), "axis given, --gpu-path sinograms": ("--axis", str(axis),
                "--gpu-path", "sinograms"), "--axis auto": ("--axis", "auto"),
                "axis given, --output-bits 16": ("--axis", str(axis), "--output-bits", "16")}
    variants.update({f"{name}, --on-server": (*options, "--on-server") for name, options in variants.items()
                     if "sinograms" not in name})
    times: dict[str, list[float]] = {"read in order": [], "read queued": [], "write": [], "write16": [],
                                     **{k: [] for k in variants}}
    dropped = [drop_caches() if cold else False]

    def settle() -> None:
        """Every timed step starts from the same state of the page cache (dropped where allowed)."""
        if cold:
            dropped.append(drop_caches())

    with warm_server(work) as env:
        for i in range(repeat):
            for name, options in variants.items():
                settle()
                if name == "axis given":  # the floor: the faster of reads in order and queued reads
                    times["read in order"].append(read_floor(scan))
                    settle()
                    times["read queued"].append(read_floor(scan, queued=True))
                    settle()
                times[name].append(ufo_reco(scan, output, *options, device=device, env=env))
            for key, nbytes in (("write", run.output_bytes), ("write16", run.output_bytes // 2)):
                settle()
                times[key].append(write_floor(output + ".floor", nbytes, cold=cold))
            log(f"repeat {i + 1}/{repeat}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()))
    run.read_in_order, run.read_queued = (float(np.median(times[k])) for k in ("read in order", "read queued"))
    run.read = min(run.read_in_order, run.read_queued)
    run.write, run.write16 = (float(np.median(times[k])) for k in ("write", "write16"))
    run.reco = {k: float(np.median(times[k])) for k in variants}
    if not all(dropped):
        log("page cache not dropped: reads came from memory (not root, or cold=False)")
    if profile:
        for name, options in variants.items():
            settle()
            printed: list[str] = []
            ufo_reco(scan, output, *options, "--profile", device=device, printed=printed)
            run.profiles[name] = printed[0]
            log(f"`ufo reco {' '.join(options)} --profile`:\n{printed[0]}")
        run.axis_parts = axis_parts(scan, output, cold)
        log("axis search parts: " + ", ".join(f"{k} {v:.3f} s" for k, v in run.axis_parts.items()))
        if have_gpu():
            log("start-up parts: " + ", ".join(f"{k} {v:.2f} s" for k, v in startup_parts(scan, output).items()))
    projections, radians = corrected(scan)
    from ..tomo.phantom import Phantom

    phantom = Phantom(width, height=rows)
    # the tools put the axis at width / 2 (ufo) or (width - 1) / 2 (ASTRA and what builds on it)
    truths = [ATTENUATION * phantom.slice(centre=c) for c in (width / 2, (width - 1) / 2)]
    mask = np.hypot(*(np.mgrid[:width, :width] - width / 2)) < 0.45 * width
    tools: list[tuple[str, int, Callable[[], tuple[float, np.ndarray]]]] = [
        ("ufo Backproject (fp32, sinograms in)", rows, lambda: host_ufo(projections, axis, device)),
        ("httomolibgpu FBP3d_tomobar (ASTRA inside)", rows,
         lambda: host_httomolibgpu(projections, radians, axis, "FBP3d_tomobar")),
        ("httomolibgpu LPRec3d_tomobar (tomocupy's log-polar method)", rows,
         lambda: host_httomolibgpu(projections, radians, axis, "LPRec3d_tomobar")),
        ("ASTRA FBP_CUDA (2-D, a slice a call)", astra_slices, lambda: host_astra(projections, radians, astra_slices)),
    ]
    for name, slices, call in tools:
        try:
            seconds, image = call()
            run.host.append((name, slices, seconds, f"{min(rmse_best(np.asarray(image, np.float32), t, mask) for t in truths):.5f}"))
        except Exception as exc:  # a peer that does not install or load must not hide the others
            run.host.append((name, 0, 0.0, f"failed: {type(exc).__name__}: {str(exc)[:120]}"))
        log(f"host to host: {run.host[-1]}")
    return run
