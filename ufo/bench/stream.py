"""`ufo bench stream`: a scan replayed at camera rate into storage and online reconstruction at once.

A scan (rendered here: darks, flats, then projections of the 3-D phantom, as uint16 NXtomo;
or any recorded scan) is replayed from memory by the replay camera on its own clock with a
ring buffer, so a consumer that falls behind makes the camera drop frames, as hardware
does. One thread grabs; the frames go to two consumers, each in its own thread: the raw
frames to an NXtomo writer (disk speed) and the streaming reconstructor. A frame's buffer
returns to the pool when both are done with it; when the pool is empty, the grabber waits
and the camera's ring fills up and drops. Reported: the input rate sustained, frames
dropped, the writer's MB/s, the reconstruction's throughput and the lag from the last
frame to complete slices; `find_max_rate` searches the highest rate with zero drops.
"""

from __future__ import annotations

import math
import os
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass
class StreamRun:
    """One replay at one rate (seconds are wall time; rates per second)."""

    rate_asked: float
    frames: int  # frames the camera's clock produced
    received: int
    dropped: int
    seconds: float  # first to last frame received
    fps_reached: float
    frame_mb: float
    written: int
    writer_mb_s: float  # bytes written / writer busy time (its capacity), 0 without output
    projections: int
    slices: int
    gups: float  # voxel updates / time the device spent reconstructing (CPU threads or GPU, CUDA events)
    lag: float  # last frame received -> slices complete
    device: str
    axis: float | None = None
    deviation: float | None = None  # max |engine - ufo reco| / max |ufo reco| on the compared rows
    dropped_runs: list[tuple[int, int]] | None = None  # (first frame number, count) of each run of drops

    @property
    def sustained(self) -> bool:
        """No frame dropped and the asked rate reached: within 10 % from the first to the last frame
        received (the consumers drain the camera's ring after its last frame, which lowers the
        figure a little; a simulation too slow for its rate lowers it far more, and drops)."""
        return self.dropped == 0 and self.fps_reached >= 0.9 * self.rate_asked

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "sustained": self.sustained}


def render_scan(path: str, width: int, height: int, projections: int, darks: int = 20, flats: int = 20,
                span: float = math.pi, axis_offset: float = 0.0, noise: float = 10.0, threads: int | None = None) -> float:
    """Write a uint16 NXtomo scan of the phantom (darks, flats, projections); returns the true axis (px)."""
    from ..storage import open_writer
    from ..tomo.phantom import Phantom

    phantom = Phantom(width, height=height)
    axis = width / 2 + axis_offset
    dark_level, flat_level = 100.0, 3000.0
    rng = np.random.default_rng(0)

    def one(i: int) -> np.ndarray:
        angle = i * span / projections
        local = np.random.default_rng(i + 1)
        intensity = dark_level + flat_level * np.exp(-0.01 * phantom.projection(angle, axis))
        intensity += local.standard_normal(intensity.shape) * noise
        return np.clip(np.rint(intensity), 0, 65535).astype(np.uint16)

    with open_writer(path, overwrite=True) as writer:
        for _ in range(darks):
            frame = rng.normal(dark_level, noise / 3, (height, width))
            writer.write(np.clip(np.rint(frame), 0, 65535).astype(np.uint16), {"image_key": 2})
        for _ in range(flats):
            frame = rng.normal(dark_level + flat_level, noise, (height, width))
            writer.write(np.clip(np.rint(frame), 0, 65535).astype(np.uint16), {"image_key": 1})
        with ThreadPoolExecutor(threads or os.cpu_count() or 1) as pool:
            for start in range(0, projections, 64):
                chunk = range(start, min(start + 64, projections))
                for i, frame in zip(chunk, pool.map(one, chunk)):
                    writer.write(frame, {"image_key": 0, "angle": i * span / projections})
    return axis


class _Pool:
    """Frame buffers shared by the consumers; a buffer returns when every consumer released it."""

    def __init__(self, count: int, shape: tuple[int, int], dtype: Any, users: int):
        self.free: queue.Queue[int] = queue.Queue()
        self.buffers = [np.empty(shape, dtype) for _ in range(count)]
        self.users = users
        self.left = [0] * count
        self.lock = threading.Lock()
        for i in range(count):
            self.free.put(i)

    def take(self) -> int:
        i = self.free.get()
        self.left[i] = self.users
        return i

    def release(self, i: int) -> None:
        with self.lock:
            self.left[i] -= 1
            done = self.left[i] == 0
        if done:
            self.free.put(i)


def _consume(work: Any, inbox: queue.Queue, pool: _Pool, errors: list[BaseException]) -> None:
    while True:
        item = inbox.get()
        if item is None:
            return
        index, meta = item
        try:
            if not errors:
                work(pool.buffers[index], meta)
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            errors.append(exc)
        finally:
            pool.release(index)


def stream_once(scan: str, rate: float, output: str | None = None, rows: Any = None, axis: float | str | None = None,
                device: str = "auto", frames: int = 0, buffers: int = 64, pool: int = 32, batch: int | None = None,
                precision: str = "fp32", reconstruct: bool = True) -> tuple[StreamRun, Any]:
    """Replay `scan` at `rate` frames/s into the writer (`output`, None: no writer) and the
    reconstructor (`reconstruct=False`: none); returns the figures and the reconstructor (its
    slices stay where they are)."""
    from ..camera import open_camera
    from ..camera.errors import EndOfFrames
    from ..storage import open_writer
    from ..tomo.streaming import StreamingReconstructor

    camera = open_camera("replay", path=scan, frames_per_second=rate, buffered=True, num_buffers=buffers,
                         number=frames)
    engine = StreamingReconstructor(axis=axis, rows=rows, device=device, batch=batch, precision=precision)
    writer = open_writer(output, overwrite=True, record_drops=True) if output else None
    written = [0, 0.0]  # frames, busy seconds

    def write(frame: np.ndarray, meta: dict[str, Any]) -> None:
        t0 = time.perf_counter()
        writer.write(frame, meta)  # type: ignore[union-attr]
        written[0] += 1
        written[1] += time.perf_counter() - t0

    shape, dtype = camera.frame_shape, camera.dtype
    consumers = ([engine.add] if reconstruct else []) + ([write] if writer is not None else [])
    if not consumers:
        raise ValueError("nothing to stream into: give an output or reconstruct")
    users = len(consumers)
    frames_pool = _Pool(pool, shape, dtype, users)
    errors: list[BaseException] = []
    inboxes = [queue.Queue() for _ in consumers]  # type: ignore[var-annotated]
    workers = [threading.Thread(target=_consume, args=(work, box, frames_pool, errors), daemon=True)
               for work, box in zip(consumers, inboxes)]
    for w in workers:
        w.start()
    received, first, last = 0, None, None
    camera.start_recording()  # loads the scan into memory first (not timed)
    try:
        while not errors:
            index = frames_pool.take()
            try:
                image = camera.grab(out=frames_pool.buffers[index], timeout=30)
            except EndOfFrames:
                frames_pool.free.put(index)
                break
            last = time.monotonic()
            first = first or last
            received += 1
            meta = dict(image.meta)
            for box in inboxes:
                box.put((index, meta))
    finally:
        dropped = camera.dropped  # the ring's count: frames dropped after the last one received too
        camera.stop_recording()
        for box in inboxes:
            box.put(None)
        for w in workers:
            w.join()
        if writer is not None:
            writer.close()
    if errors:
        raise errors[0]
    if reconstruct:
        engine.finish(copy=False)
    done = time.monotonic()
    dropped = max(dropped, camera.stats.dropped)
    runs = list(camera.stats.dropped_frames)
    seconds = (last - first) if first and last else 0.0
    frame_mb = int(np.prod(shape)) * np.dtype(dtype).itemsize / 1e6
    s = engine.stats
    count = engine.slice_count
    updates = s.backprojected * count * int(np.prod(engine.slice_shape))
    run = StreamRun(rate, received + dropped, received, dropped, seconds,
                    (received - 1) / seconds if seconds else 0.0, frame_mb, written[0],
                    written[0] * frame_mb / written[1] if written[1] else 0.0, s.projections, count,
                    updates / s.device_seconds / 1e9 if s.device_seconds else 0.0, done - (last or done), engine.device,
                    engine.found_axis if axis == "auto" else (float(axis) if axis is not None else shape[1] / 2),
                    dropped_runs=runs)
    camera.close()
    return run, engine


def compare_with_reco(engine: Any, scan: str, rows: slice, axis: float, directory: str, check_rows: int = 8) -> float:
    """max |engine - ufo reco| / max |ufo reco| on up to `check_rows` rows of the reconstructed band."""
    import tifffile

    from .. import reco

    first = rows.start or 0
    count = min(check_rows, engine.slice_count)
    region = f"{first}:{first + count}"
    options = reco.RecoOptions(projections=scan, axis=axis, region=region, overwrite=True,
                               output=os.path.join(directory, "reco-check", "slice-%05i.tif"))
    reco.run(reco.plan(options))
    expected = np.stack([tifffile.imread(os.path.join(directory, "reco-check", f"slice-{first + i:05d}.tif"))
                         for i in range(count)])  # ufo reco names its files by detector row
    got = np.stack([engine.slice(i) for i in range(count)])
    return float(np.abs(got - expected).max() / np.abs(expected).max())


def warm_up(device: str = "auto") -> None:
    """Compile the kernels and start the thread pools once, outside the timed runs."""
    from ..tomo.streaming import StreamingReconstructor

    engine = StreamingReconstructor(axis=16.0, device=device, batch=4)
    engine.add(np.full((4, 32), 1000, np.uint16), {"image_key": 2})
    engine.add(np.full((4, 32), 3000, np.uint16), {"image_key": 1})
    for i in range(8):
        engine.add(np.full((4, 32), 2000, np.uint16), {"image_key": 0, "angle": i * np.pi / 8})
    engine.finish()


def find_max_rate(scan: str, start: float, frames: int, step: float = 2.0, tries: int = 10, **options: Any) -> tuple[float, list[StreamRun]]:
    """The highest rate sustained with zero drops: raise by `step` until frames drop (or the rate is
    not reached), then bisect to 6 %."""
    runs: list[StreamRun] = []
    good, bad = 0.0, None
    rate = start
    for _ in range(tries):
        run, _engine = stream_once(scan, rate, frames=frames, **options)
        del _engine
        runs.append(run)
        if run.sustained:
            good = rate
            rate = rate * step if bad is None else (rate + bad) / 2
        else:
            bad = rate
            rate = (good + bad) / 2 if good else rate / step
        if bad is not None and good and bad / good < 1.06:
            break
    return good, runs


def rows_of(text: str, height: int) -> slice:
    """The rows to reconstruct: 'all', 'FROM:TO', or a count around the middle (clamped to the frame)."""
    if text == "all":
        return slice(0, height)
    if ":" in text:
        a, b = (int(v) for v in text.split(":"))
        return slice(a, b)
    n = int(text)
    return slice(max(0, height // 2 - n // 2), min(height, height // 2 - n // 2 + n))
