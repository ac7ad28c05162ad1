"""The frames of a resident pass, read once, in file order, in a thread (ufo.reco.resident).

Darks, flats, then projections (the pass's band of rows of each, with its angle) go into pooled
buffers that the engine hands back; the queue holds at most `ahead` frames. `early_reader`
starts one before CuPy and the GPU are up, so the disk is busy from the first second.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..core.errors import InputError
from ..storage import open_source
from .passes import resident_passes
from .planning import Pass, Plan, scan_angles

Allocate = Callable[[tuple[int, ...], np.dtype], np.ndarray]  # (shape, dtype) -> a new buffer
READ_AHEAD = 16  # frames read ahead of the engine, per dtype (pooled buffers), once it runs (at least)
#: bytes of whole frames read with one system call where they follow each other in the file: 32
#: frames of 1024^2 uint16, 6 of 2560 x 2160. Cold reads of a 1024^3 scan on the H200 host beside
#: a busy Python thread: 1.13 s in runs of 32 frames, 1.26 s in runs of 8, 2.89 s frame by frame
#: (1.07 s floor; alone 1.04, 0.99 and 1.00 s; benchmarks/resident_parts.py)
RUN_BYTES = 64 << 20
EARLY_SHARE = 0.25  # of the free host memory the frames read while the GPU starts may take
_END = object()


class Reader:
    """The frames of one pass (darks, flats, then projections; the pass's rows of each), read in a
    thread into pooled buffers. `frames()` yields (frame, meta, buffer); `recycle(buffer)` returns it."""

    def __init__(self, plan: Plan, p: Pass, angles: np.ndarray, ahead: int | None = None, middle: int | None = None,
                 run: int | None = None, sources: Sources | None = None, pinned: Allocate | None = None):
        self.plan, self.angles, self.p = plan, angles, p
        #: buffers in page-locked memory (`pinned_buffers`): the engine uploads from them in place
        self.pinned = pinned is not None
        self._allocate: Allocate = pinned or (lambda shape, dtype: np.empty(shape, dtype))
        self.owned = sources is None  # inputs opened here are closed when the reading ends
        self.sources = sources if sources is not None else Sources()
        self.rows = slice(p.first_row, p.first_row + (p.rows - 1) * p.step + 1, p.step)
        self.height = p.rows
        #: whole frames `run` at a time where the pass is every row (`read_run`); a band of rows of
        #: `run` frames with one copy where the source can (`read_bands`), else one frame a read
        self.whole = (p.first_row, p.rows, p.step) == (0, plan.height, 1)
        self.run = run
        #: buffers per dtype: two runs' worth at least, so that one is read while the other is used
        self.ahead = ahead
        #: row `middle` of the band, read of every frame before the frames (`middle_sinogram`)
        self.middle_index = middle
        self.middle: MiddleRow | None = None
        self.middle_read = threading.Event()
        self.stop = threading.Event()
        self.queue: queue.Queue[Any] = queue.Queue()
        self.pools: dict[np.dtype, queue.Queue[np.ndarray]] = {}
        self.blocks: dict[np.dtype, queue.Queue[_Block]] = {}  # bands of `run` frames (`_read_block`)
        self.made: dict[np.dtype, int] = {}
        self.made_blocks: dict[np.dtype, int] = {}
        self.error: BaseException | None = None
        self.busy = 0.0
        self.first_at: float | None = None  # perf_counter when the first frame was read, and the last
        self.last_at: float | None = None
        self.thread = threading.Thread(target=self._run, name="ufo:reco-read", daemon=True)

    def _inputs(self) -> tuple[tuple[str, int | None, int, int | None], ...]:
        return inputs(self.plan)

    def _run_of(self, dtype: np.dtype) -> int:
        """Frames of this dtype read with one call (`run`, else RUN_BYTES' worth)."""
        return self.run or run_length(self.height * self.plan.width * dtype.itemsize)

    def _ahead(self, dtype: np.dtype) -> int:
        return self.ahead if self.ahead is not None else max(READ_AHEAD, 2 * self._run_of(dtype))

    def _buffer(self, dtype: np.dtype) -> np.ndarray | None:
        """A free buffer; a new one while fewer than `ahead` exist; else wait for one (None: stopped)."""
        return self._take(self.pools.setdefault(dtype, queue.Queue()), self.made, dtype, self._ahead(dtype),
                          lambda: self._allocate((self.height, self.plan.width), dtype))

    def _take(self, pool: queue.Queue[Any], made: dict[np.dtype, int], dtype: np.dtype, most: int,
              make: Callable[[], Any]) -> Any:
        """A free item of `pool`; a new one (`make()`, counted in `made`) while fewer than `most`
        exist; else the next one handed back (None: the reader was stopped meanwhile)."""
        try:
            return pool.get_nowait()
        except queue.Empty:
            pass
        if made.get(dtype, 0) < most:
            made[dtype] = made.get(dtype, 0) + 1
            return make()
        while not self.stop.is_set():
            try:
                return pool.get(timeout=0.1)
            except queue.Empty:
                continue
        return None

    def _buffers(self, dtype: np.dtype, left: int) -> list[np.ndarray]:
        """Buffers for the next run of frames: one (waiting for it), then up to `run` - 1 more that
        are free now; [] when stopped."""
        first = self._buffer(dtype)
        if first is None:
            return []
        buffers = [first]
        pool = self.pools[dtype]
        while len(buffers) < min(self._run_of(dtype) if self.whole else 1, left):
            if not pool.empty():
                buffers.append(pool.get_nowait())
            elif self.made.get(dtype, 0) < self._ahead(dtype):
                self.made[dtype] = self.made.get(dtype, 0) + 1
                buffers.append(self._allocate((self.height, self.plan.width), dtype))
            else:
                break
        return buffers

    def _read(self, source: Any, index: int, buffers: list[np.ndarray]) -> list[np.ndarray]:
        """Frames `index`, ... into `buffers`: a run in one read where the source can (whole frames
        of uncompressed HDF5 one after the other), else the first frame alone."""
        if len(buffers) > 1 and hasattr(source, "read_run"):  # more than one only for whole frames
            n = source.read_run(index, buffers)
            if n:
                return buffers[:n]
        return [source.read(index, self.rows, buffers[0])]

    def _block(self, dtype: np.dtype) -> _Block | None:
        """A free block of `run` bands (a new one while fewer than `ahead` frames' worth exist, at
        least two: the engine keeps a block's last frame until the next one's first arrives)."""
        run = self._run_of(dtype)
        return self._take(self.blocks.setdefault(dtype, queue.Queue()), self.made_blocks, dtype,
                          max(2, -(-self._ahead(dtype) // run)),
                          lambda: _Block(self._allocate((run, self.height, self.plan.width), dtype)))

    def _read_block(self, source: Any, index: int, count: int, block: _Block) -> list[np.ndarray]:
        """The bands of frames `index`, ... into `block`, with one copy where the source can
        (`read_bands`: uncompressed HDF5), else the first frame's alone."""
        n = source.read_bands(index, self.rows, block.array[:min(len(block.array), count - index)])
        frames = list(block.array[:n]) if n else [source.read(index, self.rows, block.array[0])]
        block.left = len(frames)
        return frames

    def recycle(self, buffer: Any) -> None:
        """A frame the engine is done with: its buffer, or its block once all its frames came back
        (called from the engine's thread only)."""
        if isinstance(buffer, _Block):
            buffer.left -= 1
            if buffer.left == 0:
                self.blocks[buffer.array.dtype].put(buffer)
            return
        self.pools[buffer.dtype].put(buffer)

    def _run(self) -> None:
        try:
            if self.middle_index is not None:
                self._read_middle(self.middle_index)
            for path, key, kind, number in self._inputs():
                source = self.sources.get(path, key)
                if tuple(source.shape) != (self.plan.height, self.plan.width):
                    raise InputError(f"'{path}' holds frames of shape {tuple(source.shape)}, the projections "
                                     f"are {self.plan.height} x {self.plan.width}: darks, flats and projections "
                                     "must come from the same detector region")
                count = source.count if number is None else min(number, source.count)
                banded = not self.whole and self.p.step == 1 and hasattr(source, "read_bands")
                index = 0
                while index < count:
                    # checked per run: with buffers to spare (an early reader may hold a quarter
                    # of the memory) `_buffer` never waits, and a closed reader read on to the end
                    if self.stop.is_set():
                        return
                    block = self._block(np.dtype(source.dtype)) if banded else None
                    owners = [] if banded else self._buffers(np.dtype(source.dtype), count - index)
                    if block is None and not owners:
                        return  # stopped while waiting for a free buffer
                    t0 = time.perf_counter()  # the read alone: `busy`, --profile's "read"
                    if block is not None:
                        frames = self._read_block(source, index, count, block)
                        owners = [block] * len(frames)
                    else:
                        frames = self._read(source, index, owners)
                    self.last_at = time.perf_counter()
                    self.busy += self.last_at - t0
                    if self.first_at is None:
                        self.first_at = self.last_at
                    for buffer in owners[len(frames):]:
                        self.recycle(buffer)
                    run = []  # one queue item per read: the engine's thread takes the GIL once per run
                    for frame, buffer in zip(frames, owners):
                        meta: dict[str, Any] = {"image_key": kind}
                        if kind == 0:
                            meta["angle"] = float(self.angles[index])
                        run.append((frame, meta, buffer))
                        index += 1
                    self.queue.put(run)
        except BaseException as exc:  # noqa: BLE001 - raised in the engine's thread by frames()
            self.error = exc
        finally:
            if self.owned:
                self.sources.close()
            self.queue.put(_END)

    def _read_middle(self, band_row: int) -> None:
        """The middle row of every frame, one small read each (a positioned read of uncompressed
        HDF5, ufo.storage.hdf5_direct), before the frames: `--axis auto` finds the axis from it
        while the frames are read, instead of keeping them until the last one."""
        row = self.p.first_row + band_row * self.p.step
        middle = MiddleRow(0)
        for path, key, kind, number in self._inputs():
            source = self.sources.get(path, key)
            count = source.count if number is None else min(number, source.count)
            for index in range(count):
                if self.stop.is_set():
                    return
                line = source.read(index, slice(row, row + 1), np.empty((1, self.plan.width), source.dtype))
                middle.add(np.asarray(line), {"image_key": kind, "angle": float(self.angles[index]) if kind == 0 else 0.0})
        self.middle = middle
        self.middle_read.set()

    def middle_sinogram(self, stop: threading.Event | None = None, device: str = "cpu") -> np.ndarray:
        """The flat-corrected sinogram of the middle row, once read, corrected on `device` (Cancelled
        when `stop` or the reader stops first; the reader's error when it failed)."""
        from ..core.errors import Cancelled

        while not self.middle_read.wait(0.05):
            if self.error is not None:
                raise self.error
            if self.stop.is_set() or (stop is not None and stop.is_set()) or not self.thread.is_alive():
                raise Cancelled("the reconstruction was stopped")
        assert self.middle is not None
        return self.middle.sinogram(device)

    def frames(self, idle: Callable[[], None] | None = None) -> Iterator[tuple[np.ndarray, dict[str, Any], np.ndarray]]:
        """The frames as read; `idle()` is called before waiting for the next ones (the engine
        hands back what it can: the reader may be waiting for a free buffer)."""
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                if idle is not None:
                    idle()
                item = self.queue.get()  # _run always ends with _END
            if item is _END:
                if self.error is not None:
                    raise self.error
                return
            yield from item

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


class _Block:
    """Bands of `run` frames read with one copy (frames x rows x width), lent to the engine frame by
    frame; free again once `left` (its frames not yet handed back) is 0."""

    __slots__ = ("array", "left")

    def __init__(self, array: np.ndarray):
        self.array, self.left = array, 0


class Sources:
    """The inputs opened once for every pass of a run: opening an NXtomo file finds its layout and
    reads its image keys (about 25 ms, three times a pass: darks, flats, projections), which
    passes of a quarter of the scan each paid again on the H200 host. One reader at a time
    uses them (the passes' readers follow each other); `close` when the run ends."""

    def __init__(self) -> None:
        self._open: dict[tuple[str, int | None], Any] = {}
        self._lock = threading.Lock()

    def get(self, path: str, key: int | None) -> Any:
        with self._lock:
            if (path, key) not in self._open:
                self._open[(path, key)] = open_source(path, image_key=key)
            return self._open[(path, key)]

    def close(self) -> None:
        with self._lock:
            opened, self._open = list(self._open.values()), {}
        for source in opened:
            source.close()


class MiddleRow:
    """Row `index` of the pass's band of every frame the engine takes (darks, flats, projections),
    copied as it goes by: the quality hints' sinogram (`ufo reco`'s summary) without a second
    read of the inputs, which from a cold disk is one small read per projection beside the
    reader's stream."""

    def __init__(self, index: int):
        self.index = index
        self.darks: list[np.ndarray] = []
        self.flats: list[np.ndarray] = []
        self.kept: list[tuple[int, float, np.ndarray]] = []

    def add(self, frame: np.ndarray, meta: dict[str, Any]) -> None:
        row = frame[self.index: self.index + 1].copy()
        key = meta["image_key"]
        if key == 2:
            self.darks.append(row)
        elif key == 1:
            self.flats.append(row)
        else:
            self.kept.append((len(self.kept), float(meta["angle"]), row))

    def sinogram(self, device: str = "cpu") -> np.ndarray:
        """The flat-corrected sinogram of the row (projections x width, float32), corrected on `device`."""
        from ..tomo.stream_geometry import middle_sinogram

        return middle_sinogram(self.kept, self.darks, self.flats, device)


def inputs(plan: Plan) -> tuple[tuple[str, int | None, int, int | None], ...]:
    """(path, image key selecting its frames, image_key of its frames, frames to take or None for
    all) of the darks, flats and projections, in the order a pass reads them."""
    o, keys = plan.options, plan.image_keys
    return ((o.darks, keys.get("darks"), 2, None), (o.flats, keys.get("flats"), 1, None),  # type: ignore[return-value]
            (o.projections, keys.get("projections"), 0, plan.projections))


def prefetch_passes(plan: Plan, passes: list[Pass], sources: Sources) -> Any:
    """A child process reading the passes' bands of rows of every frame into the page cache, pass
    after pass (`prefetch.start_ranges`), ahead of the readers; None where there is no pass, a pass
    is not one band of whole rows (a region step) or an input is not uncompressed HDF5, or with
    UFO_PREFETCH=0."""
    import os

    from ..storage import prefetch

    if not passes or os.environ.get("UFO_PREFETCH", "1") == "0" or any(p.step != 1 for p in passes):
        return None
    groups: list[list[tuple[str, int, int]]] = []
    for p in passes:
        group: list[tuple[str, int, int]] = []
        for path, key, _kind, number in inputs(plan):
            source = sources.get(path, key) if path else None
            ranges = getattr(source, "byte_ranges", None)
            found = ranges(slice(p.first_row, p.first_row + p.rows), number) if ranges is not None else None
            if found is None:
                return None
            group += found
        groups.append(group)
    return prefetch.start_ranges(groups)


def pinned_buffers(index: int) -> Allocate:
    """Buffers in page-locked memory of GPU `index`'s context (CuPy's pinned pool: reused by the
    next pass and the next job): the engine uploads lent bands from them without copying them
    into its own pinned chunks first, the copy that held the engine's thread (a thread sampler
    on the H200 host: 40 % of its samples in passes of 1/8 of each frame)."""

    def allocate(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        import cupy

        cupy.cuda.Device(index).use()  # the reader's thread makes them
        size = int(np.prod(shape))
        memory = cupy.cuda.alloc_pinned_memory(size * np.dtype(dtype).itemsize)
        return np.frombuffer(memory, dtype, size).reshape(shape)

    return allocate


def run_length(frame_bytes: int) -> int:
    """Whole frames of `frame_bytes` read with one call: RUN_BYTES' worth, 1 to 32."""
    return max(1, min(32, RUN_BYTES // max(1, frame_bytes)))


def early_reader(plan: Plan, pinned: Allocate | None = None) -> Reader:
    """A reader of every row to reconstruct (of the first pass's rows with --pass-height), started
    before the GPU is (a cold start of CuPy and its context takes 1-2 s, in which a disk reads a
    good part of a scan); `run_resident` takes it over when its rows are the first pass's, else
    closes it. It may hold EARLY_SHARE of the free memory; with `pinned` (buffers in page-locked
    memory, where CuPy is up already: the GPU is ready, nothing to read ahead of) the usual few."""
    from ..core.resources import available_memory

    rows = plan.rows
    step = rows[1] - rows[0] if len(rows) > 1 else 1
    first = Pass(rows[0], len(rows), step, slice(0, len(rows)), 0)
    middle = len(rows) // 2 if plan.options.axis == "auto" else None
    bands = resident_passes(plan, 1 << 62)  # the bands where the GPU's memory does not bound them
    if len(bands) > 1:  # --pass-height, or passes that overlap reading and writing
        first, middle = bands[0], None
    frame = first.rows * plan.width * 4  # the largest type a frame may have
    ahead = None if pinned is not None else max(READ_AHEAD, int(available_memory() * EARLY_SHARE) // frame)
    reader = Reader(plan, first, scan_angles(plan), ahead, middle, pinned=pinned)
    reader.thread.start()
    return reader
