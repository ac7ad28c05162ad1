"""The backproject task batches single sinograms (issue 24): same slices as one at a time, in order,
each with its own metadata, the last partial batch flushed at the end of the stream."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import ufo
from ufo.core import Kind, Spec
from ufo.tomo.fbp import fbp, slices_per_batch
from ufo.tomo.phantom import Phantom

N = 48  # detector pixels and angles: small, so the whole file runs in seconds


@pytest.fixture(scope="module")
def sinograms() -> np.ndarray:
    """Distinct sinograms (the phantom at growing scale), so that a slice out of order cannot pass."""
    angles = np.arange(N) * np.pi / N
    base = Phantom(N).sinogram(angles).astype(np.float32)
    return np.stack([base * (1 + 0.1 * i) + np.float32(0.01 * i) for i in range(140)])


class _Source(ufo.Task):
    """Frames with metadata of our choosing (MemoryIn carries none)."""

    name = "test-source"
    kind = Kind.SOURCE
    inputs = ()

    def __init__(self, frames: np.ndarray, metas: list[dict[str, Any]]):
        super().__init__()
        self.frames, self.metas = frames, metas

    def output_spec(self) -> Spec:  # type: ignore[override]
        return Spec(self.frames.shape[1:], np.float32, len(self.frames))

    def generate(self):
        for frame, meta in zip(self.frames, self.metas):
            yield frame.copy(), dict(meta)


class _Sink(ufo.Task):
    """Keeps every slice with its metadata."""

    name = "test-sink"
    kind = Kind.SINK
    uses_meta = True
    keeps_input = True

    def __init__(self) -> None:
        super().__init__()
        self.got: list[tuple[np.ndarray, dict[str, Any]]] = []

    def consume(self, frame: np.ndarray, meta: dict[str, Any]) -> None:  # type: ignore[override]
        self.got.append((np.array(frame), dict(meta)))


def _run(frames: np.ndarray, metas: list[dict[str, Any]] | None = None, trace: bool = False,
         **props: Any) -> tuple[list[tuple[np.ndarray, dict[str, Any]]], Any]:
    metas = metas if metas is not None else [{"tag": f"s{i}"} for i in range(len(frames))]
    sink = _Sink()
    handle = sink(ufo.Backproject(**props)(_Source(frames, metas))).run(device="cpu", trace=trace)
    handle.wait()
    return sink.got, handle


def _reference(sino: np.ndarray, axis: float) -> np.ndarray:
    """One sinogram at a time through the one-slice kernel (the path before batching)."""
    return fbp(sino, axis=axis, workers=1)


def _close(image: np.ndarray, reference: np.ndarray) -> bool:
    """Equal within float32 rounding of sums over N angles (the stacked and one-slice kernels
    interpolate in a different order)."""
    return float(np.abs(image - reference).max()) <= 1e-5 * float(np.abs(reference).max())


@pytest.mark.parametrize("count", [1, 5, 65, 69])
def test_batched_slices_equal_one_at_a_time_in_order(sinograms, count):
    """Odd counts: a full batch (64 here) and a rest of 1 or 5 flushed at the end, or only a rest."""
    frames = sinograms[:count]
    got, _ = _run(frames, axis=N / 2 - 0.5)
    assert len(got) == count
    assert [meta["tag"] for _, meta in got] == [f"s{i}" for i in range(count)]
    for i, (image, _) in enumerate(got):
        assert _close(image, _reference(frames[i], N / 2 - 0.5)), f"slice {i} differs from the unbatched reference"
    if count > 1:  # the check can fail: neighbours (a slice out of order) and a mirrored slice differ
        assert not _close(got[1][0], _reference(frames[0], N / 2 - 0.5))
        assert not _close(got[0][0][:, ::-1], _reference(frames[0], N / 2 - 0.5))


def test_sinograms_are_back_projected_in_batches(sinograms):
    """37 sinograms are one call of the kernel (a batch holds up to 64), not 37."""
    assert slices_per_batch(N, N, N, N) == 64
    assert slices_per_batch(N, N, N, N, memory=8 * 4 * (3 * N * N + 2 * N * N) * 40) == 32  # multiples of 32
    assert slices_per_batch(N, N, N, N, memory=8 * 4 * (3 * N * N + 2 * N * N) * 20) == 20  # short of memory
    _, handle = _run(sinograms[:37], trace=True, axis=N / 2)
    calls = [e for e in handle.trace_events if e["ph"] == "X" and e["name"] == "backproject"]
    assert len(calls) == 1
    assert handle.stats["backproject"].frames_in == handle.stats["backproject"].frames_out == 37


def test_each_slice_keeps_its_metadata_and_its_own_axis(sinograms):
    """An axis found upstream (metadata) may change within a batch: each run of equal axes is
    back-projected with its own, and every slice carries its own metadata, in order."""
    axes = [22.0] * 7 + [25.5] * 9 + [22.0] * 4
    metas = [{"axis": a, "tag": i, "angle": 0.5 * i} for i, a in enumerate(axes)]
    got, _ = _run(sinograms[:20], metas)
    assert [meta["tag"] for _, meta in got] == list(range(20))
    assert [meta["angle"] for _, meta in got] == [0.5 * i for i in range(20)]
    for i, ((image, _), axis) in enumerate(zip(got, axes)):
        assert _close(image, _reference(sinograms[i], axis)), f"slice {i} not reconstructed about axis {axis}"
    shifted = _reference(sinograms[10], 22.0)  # the wrong axis for slice 10 must not pass
    assert not _close(got[10][0], shifted)


def test_filtered_input_is_not_filtered_twice_in_a_batch(sinograms):
    """UFO's chain (fft ! filter ! ifft ! backproject) marks its sinograms filtered; batched, the
    task still skips its own filter, and the flag does not reach the slices."""
    from ufo.tomo.fbp import backproject, filter_rows

    frames = sinograms[:9]
    filtered = np.stack([filter_rows(s) for s in frames])
    got, _ = _run(filtered, [{"filtered": True, "tag": i} for i in range(9)], axis=N / 2)
    for i, (image, meta) in enumerate(got):
        assert "filtered" not in meta and meta["tag"] == i
        assert _close(image, backproject(filtered[i], N / 2))


@pytest.mark.parametrize("replicas", [2, 3])
def test_replicas_batch_too_and_keep_the_order(sinograms, replicas):
    """Each replica takes a batch of consecutive sinograms while the others compute theirs: 133
    sinograms are 3 calls (64 + 64 + 5), not 133 one-slice calls, and every slice comes out in
    order with its own metadata."""
    frames = sinograms[:133]
    got, handle = _run(frames, trace=True, axis=N / 2, replicas=replicas)
    assert [meta["tag"] for _, meta in got] == [f"s{i}" for i in range(133)]
    for i, (image, _) in enumerate(got):
        assert _close(image, _reference(frames[i], N / 2)), f"slice {i}"
    assert not _close(got[1][0], _reference(frames[0], N / 2))
    calls = [e for e in handle.trace_events if e["ph"] == "X" and e["name"] == "backproject"]
    assert len(calls) == 3
    assert handle.stats["backproject"].frames_in == handle.stats["backproject"].frames_out == 133


def test_batch_size_follows_memory_in_multiples_of_32():
    """K = 64 when memory allows (the kernel's vector loop runs 32 floats at a time), a multiple
    of 32 while 1/8 of the free memory holds it, else as many as fit, at least 1."""
    per_slice = 4 * (3 * 512 * 512 + 2 * 512 * 512)
    assert slices_per_batch(512, 512, 512, 512, memory=1 << 40) == 64
    assert slices_per_batch(512, 512, 512, 512, memory=1 << 40, most=32) == 32
    assert slices_per_batch(512, 512, 512, 512, memory=8 * 63 * per_slice) == 32
    assert slices_per_batch(512, 512, 512, 512, memory=8 * 64 * per_slice) == 64
    assert slices_per_batch(512, 512, 512, 512, memory=8 * 5 * per_slice) == 5  # 1/8 of the memory
    assert slices_per_batch(512, 512, 512, 512, memory=8 * 5 * per_slice - 1) == 4
    assert slices_per_batch(512, 512, 512, 512, memory=0) == 1


def test_a_slow_live_stream_gets_its_slices_without_waiting_for_a_full_batch(sinograms):
    """Sinograms arriving slowly (a live scan) are back-projected as they come: the first slice is out
    long before the stream ends, not held back until a batch of 32 filled."""
    import threading
    import time

    events: list[str] = []

    class Recording(_Sink):
        def consume(self, frame: np.ndarray, meta: dict[str, Any]) -> None:  # type: ignore[override]
            events.append("slice")
            super().consume(frame, meta)

    feed = ufo.Feed(shape=sinograms.shape[1:], dtype=np.float32, count=6)
    sink = Recording()
    handle = sink(ufo.Backproject(axis=N / 2)(feed())).run()

    def produce():
        for i in range(6):
            events.append("sinogram")
            feed.put(sinograms[i])
            time.sleep(0.3)  # far longer than the batch's flush interval
        feed.close()

    producer = threading.Thread(target=produce)
    producer.start()
    handle.wait(timeout=60)
    producer.join(10)
    assert events.count("slice") == 6
    assert events.index("slice") < 3, events  # out after the first sinogram or two, not after the sixth
