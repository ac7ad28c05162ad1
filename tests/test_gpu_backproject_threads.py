"""Back-projections in flight at once on one GPU each use their own angles (skipped without a GPU).

Why: the kernel's angle table was once a `__constant__` of its module, one per process and GPU;
the resident path's scale sample, reconstructed beside its first pass, and GPU tasks on several
streams of one card overwrote each other's angles before their kernels ran (wrong slices, exit 0).
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from ufo.gpu import available

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not available(), reason="needs CuPy and a CUDA GPU")]

N, K, THREADS, ROUNDS = 384, 4, 4, 12


def _angles(shift: float) -> np.ndarray:
    angles = np.arange(N) * np.pi / N + shift
    return np.stack([np.cos(angles), np.sin(angles)], 1)


def test_back_projections_on_concurrent_streams_keep_their_own_angles():
    import cupy

    from ufo.kernels.cuda_backproject import backproject_interleaved

    sino = cupy.asarray(np.random.default_rng(5).random((N, N, K), dtype=np.float32))
    tables = [_angles(0.4 * t) for t in range(THREADS)]
    alone = [backproject_interleaved(sino, cs, N / 2, -N / 2, -N / 2, 1.0, N, N, 4).get() for cs in tables]
    for a, b in zip(alone, alone[1:]):
        assert np.abs(a - b).max() > 0.1 * np.abs(a).max()  # the angles matter: a swap would be seen
    wrong: list[tuple[int, int, float]] = []
    start = threading.Barrier(THREADS)

    def work(t: int) -> None:
        stream = cupy.cuda.Stream(non_blocking=True)
        with stream:
            start.wait()
            results = [backproject_interleaved(sino, tables[t], N / 2, -N / 2, -N / 2, 1.0, N, N, 4)
                       for _ in range(ROUNDS)]
            stream.synchronize()
        for r, result in enumerate(results):
            error = float(np.abs(result.get() - alone[t]).max())
            if error:
                wrong.append((t, r, error))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not wrong, f"{len(wrong)} of {THREADS * ROUNDS} back-projections used other angles: {wrong[:4]}"


def test_more_angles_than_constant_memory_held():
    """Scans of more than 8192 projections (the constant table's bound) back-project on the GPU as
    on the CPU."""
    import cupy

    from ufo.kernels.backproject import backproject_slice
    from ufo.kernels.cuda_backproject import backproject_interleaved

    n, width = 9000, 32
    angles = np.arange(n) * np.pi / n
    cos_, sin_ = np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)
    # inside the field of view: a pixel whose ray leaves the detector at some angles (the corners) is
    # summed there by the kernels' own edge rules (9000 angles on the H100: 2.7e-4 of the maximum)
    yy, xx = np.mgrid[:width, :width] - (width - 1) / 2
    seen = np.hypot(yy, xx) < width / 2 - 1.5
    whole = np.random.default_rng(6).random((n, width), dtype=np.float32)
    tail = np.where(np.arange(n)[:, None] >= 8192, whole, 0).astype(np.float32)  # only angles past the old bound
    for sino in (whole, tail):
        got = backproject_interleaved(cupy.asarray(sino[:, :, None]), np.stack([cos_, sin_], 1), width / 2 + 0.3,
                                      -width / 2, -width / 2, np.pi / n, width, width, 2).get()[:, :, 0]
        want = np.empty((width, width), np.float32)
        backproject_slice(sino, cos_, sin_, np.float32(width / 2 + 0.3), np.float32(-width / 2),
                          np.float32(-width / 2), np.float32(np.pi / n), want)
        assert np.abs(got - want)[seen].max() < 1e-4 * np.abs(want).max()
        assert np.abs(got[:, ::-1] - want)[seen].max() > 1e-2 * np.abs(want).max()  # the comparison can fail
