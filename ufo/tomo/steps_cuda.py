"""CUDA backends of the reconstruction steps (ufo.tomo.steps): same classes, CuPy arrays and kernels.

The flat-field kernel and the cuFFT row filter here are also what the GPU tasks
(ufo.gpu.tasks) run; the back-projection is the K-slices-per-thread kernel of
ufo.kernels.cuda_backproject, adding into slices that stay on the device.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cupy
import numpy as np

from ..kernels.cuda_backproject import backproject_groups, slices_per_thread
from .filters import fbp_filter, padded_size
from .steps import Backprojector, FlatField, RowFilter, Staging

flat_kernel = cupy.ElementwiseKernel(  # ufo.kernels.flat.flat_correct, line for line
    "T proj, float32 dark, float32 flat, bool absorption, bool fix, bool floor", "float32 out",
    """
    float span = flat - dark;
    float v = ((float)proj - dark) / span;
    if (floor) {
        if (span > 0.f) {
            if (v <= 0.f) v = fminf(1.f / span, 1e-3f);
        } else if (fix) {
            v = nanf("");
        }
    }
    if (absorption) v = v > 0.f ? -logf(v) : nanf("");
    if (fix && !isfinite(v)) v = floor && !absorption ? 1.f : 0.f;
    out = v;
    """, "ufo_flat_correct")


def filter_rows_gpu(data: Any, name: str, cutoff: float, order: int, padding: str) -> Any:
    """`ufo.tomo.fbp.filter_rows` on the device (cuFFT)."""
    width = data.shape[-1]
    size = padded_size(width)
    pad = [(0, 0)] * (data.ndim - 1) + [(0, size - width)]
    left = 0
    if padding == "edge":
        left = (size - width) // 2
        pad[-1] = (left, size - width - left)
        padded = cupy.pad(data.astype(cupy.float32, copy=False), pad, mode="edge")
    else:
        padded = cupy.pad(data.astype(cupy.float32, copy=False), pad)
    spectrum = cupy.fft.rfft(padded, axis=-1)
    spectrum *= cupy.asarray(fbp_filter(size, name, cutoff, order).astype(np.float32))
    return cupy.fft.irfft(spectrum, n=size, axis=-1)[..., left: left + width].astype(cupy.float32)


class FlatFieldCuda(FlatField):
    xp = cupy

    def reduce(self, darks: list[Any], flats: list[Any], flats_after: list[Any] | None = None) -> None:
        super().reduce([cupy.asarray(d) for d in darks], [cupy.asarray(f) for f in flats],
                       [cupy.asarray(f) for f in flats_after] if flats_after else None)

    def reduce_runs(self, darks: list[Any], places: list[int], flats: list[Any]) -> None:
        super().reduce_runs([cupy.asarray(d) for d in darks], places, [cupy.asarray(f) for f in flats])

    def _corrected(self, frames: Any, weights: Any) -> Any:
        frames = cupy.asarray(frames)
        if weights is not None and self.runs is not None:  # each frame's own flat between its runs
            flats = cupy.stack([self.runs.at(float(w)) for w in weights])
            return flat_kernel(frames, self.dark, flats, self.absorption, self.fix, self.floor)
        if weights is None or self.flat_after is None:
            return flat_kernel(frames, self.dark, self.flat, self.absorption, self.fix, self.floor)
        w = cupy.asarray(np.clip(np.asarray(weights, np.float32), 0, 1))[:, None, None]
        flat = (1 - w) * self.flat + w * self.flat_after
        return flat_kernel(frames, self.dark, flat, self.absorption, self.fix, self.floor)


class RowFilterCuda(RowFilter):
    xp = cupy

    def apply(self, data: Any) -> Any:
        if self.name == "none":
            return cupy.asarray(data, cupy.float32)
        return filter_rows_gpu(cupy.asarray(data), self.name, self.cutoff, self.order, self.padding)


class BackprojectorCuda(Backprojector):
    """Slices resident on the GPU; fp16 `precision` halves the bytes of the projections read."""

    xp = cupy
    group = 8

    def group_size(self, count: int) -> int:
        return slices_per_thread(count, self.precision == "fp16")  # the widths the CUDA kernel is built for

    def add(self, filtered: Any, angles: np.ndarray, axis: float) -> None:
        sino = self.interleave(cupy.asarray(filtered))
        if self.precision == "fp16":
            sino = sino.astype(cupy.float16)
        cs = np.stack([np.cos(angles), np.sin(angles)], 1).astype(np.float32)
        backproject_groups(sino, cs, axis, self.x0, self.y0, 1.0, self.sums, True, 4)
        self.angles_added += len(angles)

    def slice(self, index: int, weight: float) -> np.ndarray:
        g, k = divmod(index, self.group)
        return cupy.asnumpy(self.sums[g, :, :, k] * np.float32(weight))

    def to_host(self, part: Any, out: Callable[[int], np.ndarray] | None) -> np.ndarray:
        """Downloaded (a `transform` of group_slices ran on the GPU), into `out`'s array when given:
        pinned host memory takes the slices at the bus's speed, pageable memory at a fraction of it
        (1024^3 on the H200 host: 0.10 s against 1.79 s, benchmarks/resident_parts.py)."""
        if out is None:
            return cupy.asnumpy(part)
        return part.get(out=out(len(part)))  # type: ignore[no-any-return]

    def slices(self, weight: float) -> np.ndarray:
        out = np.empty((self.count, self.rows, self.cols), np.float32)
        for g in range(self.groups):  # one group at a time: no second copy of the volume on the device
            out[g * self.group: g * self.group + self.group] = self.group_slices(g, weight)
        return out

    def synchronize(self) -> None:
        cupy.cuda.get_current_stream().synchronize()


def _memory(array: np.ndarray) -> Any:
    """The object whose memory `array` views (a pinned allocation), None where it owns its data."""
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array.base


class StagingCuda(Staging):
    """Bands copied into pinned host chunks as they arrive, each chunk uploaded asynchronously (upload
    stream) into one of two device batch buffers; a full batch is processed on the compute stream
    while the next one is filled.

    Why pinned chunks: an upload from pageable memory returns once CUDA has staged it, at about
    4 GB/s: 0.5 ms of each 2 MiB frame in the engine's thread, the pace of `ufo reco`'s resident
    path at 1024^3 on the H200 host (a thread sampler: a quarter of the engine's samples in
    the upload). A copy into pinned memory is a memcpy without the GIL, and the bus then takes
    a whole chunk at its own speed beside the engine. The band is the caller's again once `put`
    returns (lent frames, ufo.tomo.streaming). A chunk is refilled once its upload is done;
    uploads into a device buffer wait (on the GPU) for the batch that used it."""

    CHUNK_BYTES = 32 << 20  # pinned bytes per chunk (at least one band)
    CHUNKS = 3

    def __init__(self, batch: int, shape: tuple[int, int], dtype: Any):
        self.batch = batch
        self.buffers = [cupy.empty((batch, *shape), dtype) for _ in range(2)]
        band = int(np.prod(shape)) * np.dtype(dtype).itemsize
        self.chunk = max(1, min(batch, self.CHUNK_BYTES // max(1, band)))
        size = self.chunk * int(np.prod(shape))
        self.host = [np.frombuffer(cupy.cuda.alloc_pinned_memory(size * np.dtype(dtype).itemsize), dtype, size)
                     .reshape(self.chunk, *shape) for _ in range(self.CHUNKS)]
        self.sent: list[Any] = [None] * self.CHUNKS  # each chunk's upload (an event), once sent
        self.turn = 0  # the chunk being filled
        self.filled = 0  # bands in it
        self.consumed: list[Any] = [None, None]
        self.current = 0
        self.count = 0
        self.upload = cupy.cuda.Stream(non_blocking=True)
        self.compute = cupy.cuda.Stream(non_blocking=True)
        self.lent: list[tuple[Any, list[Any]]] = []  # (upload event, releases) of lent bands uploaded in place
        self.lent_run: list[tuple[np.ndarray, Any]] = []  # lent bands one after the other, not yet sent
        self.lent_first = 0  # the run's first place in the batch
        self.timings: list[tuple[Any, Any]] = []
        cupy.cuda.Device().synchronize()  # the slices' zeros (default stream) are there before the first batch

    def put(self, band: np.ndarray, release: Any = None) -> bool:
        """One band into the batch: copied into a pinned chunk, or, with `release` (a band in
        page-locked memory, lent), uploaded from where it is and released once the upload is done."""
        if self.count == 0 and self.consumed[self.current] is not None:
            # the batch's uploads (sent in any order from here) wait, on the GPU, for the batch
            # that used this device buffer
            self.upload.wait_event(self.consumed[self.current])
        if release is not None:
            return self._put_pinned(band, release)
        if self.filled == 0 and self.sent[self.turn] is not None:
            self.sent[self.turn].synchronize()  # this chunk's last upload is done: it may be refilled
        np.copyto(self.host[self.turn][self.filled], band)
        self.filled += 1
        self.count += 1
        if self.filled == self.chunk or self.count == self.batch:
            self._send()
        return self.count == self.batch

    #: lent uploads that may be in flight before the oldest is waited for: fewer than the frames
    #: a reader lends (its blocks of up to 32 frames, at least two); a reader about to wait for a
    #: free buffer gets every lent band back first (`release_lent`, through the engine's `idle`)
    IN_FLIGHT = 8
    #: bytes of lent bands that lie one after the other in memory (a reader's block of bands)
    #: uploaded with one copy: CuPy's `set` and an event per band held the engine's thread about
    #: 0.1 ms each (a thread sampler, 4 passes of a 1024^3 scan, 1064 bands each, H200 host)
    RUN_BYTES = 32 << 20

    def _put_pinned(self, band: np.ndarray, release: Any) -> bool:
        self._send()  # the bands before it, copied into a chunk, go first (their places are theirs)
        if self.lent_run and not self._follows(band):
            self._send_run()
        if not self.lent_run:
            self.lent_first = self.count
        self.lent_run.append((band, release))
        self.count += 1
        if self.count == self.batch or self.lent_run[0][0].nbytes * len(self.lent_run) >= self.RUN_BYTES:
            self._send_run()
        self._release(every=False)
        return self.count == self.batch

    def _follows(self, band: np.ndarray) -> bool:
        """Whether `band` lies right after the run's last band in the same allocation, shaped like
        it (one copy may not span two allocations, however close they lie: CUDA refuses it)."""
        last = self.lent_run[-1][0]
        if band.shape != last.shape or band.dtype != last.dtype or not band.flags.c_contiguous \
                or band.ctypes.data != last.ctypes.data + last.nbytes:
            return False
        memory = _memory(band)
        return memory is not None and memory is _memory(last)

    def _send_run(self) -> None:
        """The run of lent bands uploaded with one copy into their places; released once it is done."""
        if not self.lent_run:
            return
        first, n = self.lent_run[0][0], len(self.lent_run)
        whole = first[None] if n == 1 else np.lib.stride_tricks.as_strided(
            first, shape=(n, *first.shape), strides=(first.nbytes, *first.strides), writeable=False)
        self.buffers[self.current][self.lent_first:self.lent_first + n].set(whole, stream=self.upload)
        self.lent.append((self.upload.record(), [done for _, done in self.lent_run]))
        self.lent_run = []

    def release_lent(self) -> None:
        """Every lent band uploaded (the run waiting for its next band sent first) and released:
        the caller (a reader about to wait for buffers) has them all back."""
        self._send_run()
        self._release(every=True)

    def _release(self, every: bool) -> None:
        """Lent bands handed back once their upload is done: those done, and the oldest while more
        than IN_FLIGHT uploads are in flight; `every`: all of them, waiting for their uploads."""
        while self.lent and (every or len(self.lent) > self.IN_FLIGHT or self.lent[0][0].done):
            event, done = self.lent.pop(0)
            event.synchronize()
            for d in done:
                d()

    def _send(self) -> None:
        """The filled chunk uploaded (async) to its place in the current batch's device buffer."""
        if not self.filled:
            return
        first = self.count - self.filled
        self.buffers[self.current][first:self.count].set(self.host[self.turn][:self.filled], stream=self.upload)
        self.sent[self.turn] = self.upload.record()
        self.turn = (self.turn + 1) % self.CHUNKS
        self.filled = 0

    def run(self, work: Any) -> None:
        if not self.count:
            return
        self._send()  # a batch cut short (the last one)
        self._send_run()
        self.compute.wait_event(self.upload.record())
        start = self.compute.record()
        with self.compute:
            work(self.buffers[self.current][: self.count])
        self.consumed[self.current] = self.compute.record()
        self.timings.append((start, self.consumed[self.current]))
        self.current ^= 1
        self.count = 0

    def synchronize(self) -> None:
        self.upload.synchronize()
        self.compute.synchronize()
        self.release_lent()

    def busy_seconds(self) -> float:
        """GPU time of the batches processed (CUDA events); call after synchronize()."""
        return sum(cupy.cuda.get_elapsed_time(a, b) for a, b in self.timings) / 1000
