"""The streaming reconstructor's CUDA steps against its CPU steps (skipped where CuPy sees no GPU)."""

from __future__ import annotations

import numpy as np
import pytest

from ufo.gpu import available
from ufo.tomo.phantom import Phantom
from ufo.tomo.streaming import StreamingReconstructor

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not available(), reason="needs CuPy and a CUDA GPU")]

W, H, N = 128, 12, 180


def _run(device, span, axis, precision="fp32", **options):
    phantom = Phantom(W, height=H)
    engine = StreamingReconstructor(axis=axis, rows=slice(2, 11), device=device, precision=precision, **options)
    rng = np.random.default_rng(3)
    engine.add(np.full((H, W), 100, np.uint16), {"image_key": 2})
    for _ in range(3):
        engine.add(np.clip(3100 + rng.normal(0, 5, (H, W)), 0, None).astype(np.uint16), {"image_key": 1})
    for i in range(N):
        angle = i * span / N
        frame = 100 + 3000 * np.exp(-0.01 * phantom.projection(angle, W / 2 + 2.3)) + rng.normal(0, 5, (H, W))
        engine.add(np.clip(np.rint(frame), 0, None).astype(np.uint16), {"image_key": 0, "angle": angle})
    return engine, engine.finish()


@pytest.mark.parametrize("span", [np.pi, 2 * np.pi], ids=["180", "360"])
@pytest.mark.parametrize("axis", [W / 2 + 2.3, "auto"], ids=["given", "auto"])
def test_gpu_engine_equals_cpu_engine(span, axis):
    cpu_engine, cpu = _run("cpu", span, axis)
    gpu_engine, gpu = _run("gpu", span, axis)
    assert gpu.shape == cpu.shape == (9, W, W)
    assert np.abs(gpu - cpu).max() / np.abs(cpu).max() < 1e-4
    if axis == "auto":
        assert gpu_engine.found_axis == pytest.approx(cpu_engine.found_axis, abs=1e-6)
    assert np.abs(np.fliplr(gpu) - cpu).max() / np.abs(cpu).max() > 0.1  # the comparison can fail


def test_gpu_fp16_storage_stays_close_and_slices_read_one_by_one():
    _, cpu = _run("cpu", np.pi, W / 2 + 2.3)
    engine, half = _run("gpu", np.pi, W / 2 + 2.3, precision="fp16")
    assert np.abs(half - cpu).max() / np.abs(cpu).max() < 5e-3
    np.testing.assert_allclose(engine.slice(4), half[4], rtol=1e-6, atol=1e-9)
    assert engine.stats.device_seconds > 0


@pytest.mark.parametrize("case", ["regular", "auto"])
def test_gpu_lent_frames_give_the_slices_of_copied_ones(case):
    """On the GPU a lent band is the caller's again once `put` copied it into pinned memory: frames
    refilled with garbage at their release give the slices of frames the engine copied."""
    from .test_streaming import AXIS, ROWS, _lent, _scan, _stream

    angles, proj, darks, flats = _scan(np.pi)
    options = dict(axis="auto" if case == "auto" else AXIS, rows=ROWS, device="gpu")
    copied = _stream(StreamingReconstructor(**options), angles, proj, darks, flats)
    lent, released, count = _lent(StreamingReconstructor(**options), angles, proj, darks, flats)
    assert np.array_equal(lent, copied)
    assert released == {n: 1 for n in range(count)}
    assert np.abs(copied).max() > 0


def test_pinned_chunks_put_every_band_at_its_place_in_its_batch():
    """Chunks smaller than a batch (3 bands of a batch of 8), batches cut short at the end, each band
    overwritten by the caller as soon as `put` returned: every batch holds its bands in order."""
    import cupy

    from ufo.tomo.steps_cuda import StagingCuda

    shape = (5, 7)

    class SmallChunks(StagingCuda):
        CHUNK_BYTES = 3 * 5 * 7 * 2

    staging = SmallChunks(8, shape, np.uint16)
    assert staging.chunk == 3
    bands = np.arange(21 * 35, dtype=np.uint16).reshape(21, *shape)
    band = np.empty(shape, np.uint16)
    batches: list[np.ndarray] = []
    for k in range(len(bands)):
        band[...] = bands[k]
        full = staging.put(band)
        band[...] = 65535  # the caller's buffer again
        if full or k == len(bands) - 1:
            staging.run(lambda frames: batches.append(cupy.asnumpy(frames)))
    staging.synchronize()
    assert [len(b) for b in batches] == [8, 8, 5]
    assert np.array_equal(np.concatenate(batches), bands)


@pytest.mark.parametrize("case", ["regular", "irregular", "auto"])
def test_gpu_pinned_lent_frames_are_uploaded_in_place_and_give_the_slices_of_copied_ones(case):
    """`add(..., pinned=True)`: a band in page-locked memory is uploaded from where it lies and
    released once its upload is done; a pool of pinned buffers refilled with garbage at their
    release gives the slices of copied frames, bit for bit, each frame released once."""
    import cupy

    from ufo.tomo.steps_cuda import StagingCuda

    from .test_streaming import AXIS, ROWS, _scan, _stream

    angles, proj, darks, flats = _scan(np.pi)
    if case == "irregular":
        angles = np.sort(angles + np.random.default_rng(5).uniform(-0.3, 0.3, len(angles)) * (angles[1] - angles[0]))
    options = dict(axis="auto" if case == "auto" else AXIS, rows=ROWS, device="gpu")
    copied = _stream(StreamingReconstructor(**options), angles, proj, darks, flats)
    size = proj[0].size
    pool = [np.frombuffer(cupy.cuda.alloc_pinned_memory(size * 2), np.uint16, size).reshape(proj[0].shape)
            for _ in range(StagingCuda.IN_FLIGHT + 4)]
    free = list(range(len(pool)))
    released: dict[int, int] = {}

    def release(number: int, slot: int) -> None:
        released[number] = released.get(number, 0) + 1
        pool[slot][...] = 65535 if number % 2 else 0
        free.append(slot)

    engine = StreamingReconstructor(**options)
    frames = [(f, {"image_key": 2}) for f in darks] + [(f, {"image_key": 1}) for f in flats] + \
        [(f, {"image_key": 0, "angle": float(a)}) for a, f in zip(angles, proj)]
    for number, (frame, meta) in enumerate(frames):
        slot = free.pop(0)  # IndexError: the engine held more than it may
        pool[slot][...] = frame
        engine.add(pool[slot], meta, release=lambda n=number, s=slot: release(n, s), pinned=True)
    lent = engine.finish()
    assert np.array_equal(lent, copied)
    assert released == {n: 1 for n in range(len(frames))}
    assert np.abs(copied).max() > 0


def test_pinned_lent_bands_and_copied_bands_keep_their_order_in_the_batches():
    """Bands uploaded in place (lent, pinned) between bands copied into chunks: every batch holds
    its bands in order, and each lent band is released once, after its upload."""
    import cupy

    from ufo.tomo.steps_cuda import StagingCuda

    shape = (5, 7)
    staging = StagingCuda(8, shape, np.uint16)
    bands = np.arange(21 * 35, dtype=np.uint16).reshape(21, *shape)
    own = np.frombuffer(cupy.cuda.alloc_pinned_memory(21 * 35 * 2), np.uint16, 21 * 35).reshape(21, *shape)
    released: list[int] = []
    batches: list[np.ndarray] = []
    for k in range(len(bands)):
        own[k] = bands[k]
        lent = k % 3 != 0
        full = staging.put(own[k], (lambda k=k: released.append(k)) if lent else None)
        if not lent:
            own[k] = 65535  # a copied band is the caller's again at once
        if full or k == len(bands) - 1:
            staging.run(lambda frames: batches.append(cupy.asnumpy(frames)))
    staging.synchronize()
    assert [len(b) for b in batches] == [8, 8, 5]
    assert np.array_equal(np.concatenate(batches), bands)
    assert released == [k for k in range(21) if k % 3 != 0]


def test_lent_bands_of_one_block_go_up_in_one_copy_and_all_come_back_when_the_engine_idles():
    """Bands lent from a reader's block (one after the other in page-locked memory) wait as one
    run and go up with one copy, at their places in the batch, across a batch's end; each is
    released once, after its upload (refilled with garbage then); `release_lent` (the engine's
    `idle`, before a reader waits for a free block) hands back every one lent so far."""
    import cupy

    from ufo.tomo.steps_cuda import StagingCuda

    shape, per_block = (5, 7), 6
    staging = StagingCuda(16, shape, np.uint16)
    blocks = [np.frombuffer(cupy.cuda.alloc_pinned_memory(per_block * 35 * 2), np.uint16, per_block * 35)
              .reshape(per_block, *shape) for _ in range(2)]
    bands = np.arange(30 * 35, dtype=np.uint16).reshape(30, *shape)
    released: list[int] = []
    batches: list[np.ndarray] = []

    def release(k: int) -> None:
        released.append(k)
        blocks[(k // per_block) % 2][k % per_block] = 65535

    for k in range(len(bands)):
        block = blocks[(k // per_block) % 2]
        block[k % per_block] = bands[k]
        full = staging.put(block[k % per_block], lambda k=k: release(k))
        if k < 16 and k % per_block < 3:  # a run of adjacent bands waits (until the batch ends at 16)
            assert len(staging.lent_run) == k % per_block + 1
        if full or k == len(bands) - 1:
            staging.run(lambda frames: batches.append(cupy.asnumpy(frames)))
        if k % per_block == per_block - 1:  # the reader would now wait for the other block
            staging.release_lent()
            assert sorted(released) == list(range(k + 1))
    staging.synchronize()
    assert [len(b) for b in batches] == [16, 14]
    assert np.array_equal(np.concatenate(batches), bands)
    assert sorted(released) == list(range(30)) and len(released) == 30
    # bands that lie one after the other but in two allocations go up apart (CUDA refuses one
    # copy across allocations): two buffers over the same pinned memory stand in for two
    memory = cupy.cuda.alloc_pinned_memory(2 * 35 * 2)
    a, b = (np.frombuffer(memoryview(memory), np.uint16, 35, offset=k * 70).reshape(shape) for k in range(2))
    assert b.ctypes.data == a.ctypes.data + a.nbytes
    staging.put(a, lambda: None)
    staging.put(b, lambda: None)
    assert len(staging.lent_run) == 1
    staging.release_lent()
