"""Parallel-beam back-projection on NVIDIA GPUs (CuPy raw kernels, fp32 math).

Each thread reconstructs P pixels of one column for K slices at once: the detector position
and interpolation weight of a pixel and angle are computed once and applied to K slices,
whose sinogram samples lie next to each other in memory (layout angles x width x K) and are
read with one vector load. Storage may be fp16 (half the bytes read), the sums are fp32.
Geometry and the integration weight are the CPU kernel's (ufo/kernels/backproject.py).

The angles' cosines and sines are a kernel argument in device memory: one table per angle set,
uploaded once and never written again (`_angle_table`). Why not `__constant__` memory: a
module's constant is one per process and GPU, so two back-projections in flight at once (the
resident path's scale sample beside its first pass, `backproject` replicas on the streams of one
card) overwrote each other's angles before their kernels ran: tests/test_reco_resident.py's
passes-bits16 case wrote wrong slices in 5 of 14 runs on an H200. A warp reads one angle at a
time through the read-only cache: on the H100 as fast as the constant table (2423 against 2423
GUPS at 1024^3 fp32, K = 4; scratch A/B of 2026-12-05, docs/benchmarks.md).
"""

from __future__ import annotations

import collections
import contextlib
import functools
import hashlib
import threading
from typing import Any

import numpy as np

_SOURCE = r"""
#include <cuda_fp16.h>

extern "C" __global__ void bp(const STORE* __restrict__ sino, float* __restrict__ out, const float2* __restrict__ cs,
                              int n_angles, int width, int cols, int rows,
                              float axis, float x0, float y0, float scale, int accumulate)
{
    // blockIdx.z picks one group of K slices: (groups, angles, width, K) -> (groups, rows, cols, K)
    sino += (size_t)blockIdx.z * n_angles * width * K;
    out += (size_t)blockIdx.z * rows * cols * K;
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    const int r0 = (blockIdx.y * blockDim.y + threadIdx.y) * P;
    if (c >= cols || r0 >= rows) return;
    const float x = x0 + c;
    const float y = y0 + r0;
    const float limit = (float)(width - 1);
    float acc[P][K];
    #pragma unroll
    for (int p = 0; p < P; ++p)
        #pragma unroll
        for (int k = 0; k < K; ++k) acc[p][k] = 0.f;
    for (int a = 0; a < n_angles; ++a) {
        const float2 q = __ldg(cs + a);
        const float ca = q.x, sa = q.y;
        const float t0 = x * ca - y * sa + axis;
        const STORE* base = sino + (size_t)a * width * K;
        #pragma unroll
        for (int p = 0; p < P; ++p) {
            const float t = t0 - p * sa;
            if (t >= 0.f && t <= limit && width > 1) {  // both detector edges inside
                const int i = min((int)t, width - 2);  // t == width - 1: the last pixel, f = 1
                const float f = t - (float)i;
                float l[K], r[K];
                LOAD(base + (size_t)i * K, l);
                LOAD(base + (size_t)(i + 1) * K, r);
                #pragma unroll
                for (int k = 0; k < K; ++k) acc[p][k] += l[k] + f * (r[k] - l[k]);
            } else if (t > -1.f && t < limit + 1.f) {  // within a pixel past an edge: linear to zero there
                const float e = t < 0.f ? 1.f + t : limit + 1.f - t;  // as the CPU kernel's `_edge`
                float l[K];
                LOAD(base + (size_t)(t < 0.f ? 0 : width - 1) * K, l);
                #pragma unroll
                for (int k = 0; k < K; ++k) acc[p][k] += e * l[k];
            }
        }
    }
    #pragma unroll
    for (int p = 0; p < P; ++p) {
        if (r0 + p < rows) {
            float* o = out + ((size_t)(r0 + p) * cols + c) * K;
            #pragma unroll
            for (int k = 0; k < K; ++k) o[k] = accumulate ? o[k] + acc[p][k] * scale : acc[p][k] * scale;
        }
    }
}
"""

_LOADS = {
    ("float", 1): "#define LOAD(ptr, v) { v[0] = __ldg(ptr); }",
    ("float", 2): "#define LOAD(ptr, v) { float2 q = __ldg((const float2*)(ptr)); v[0] = q.x; v[1] = q.y; }",
    ("float", 4): "#define LOAD(ptr, v) { float4 q = __ldg((const float4*)(ptr)); v[0]=q.x; v[1]=q.y; v[2]=q.z; v[3]=q.w; }",
    ("float", 8): ("#define LOAD(ptr, v) { float4 q = __ldg((const float4*)(ptr)); float4 s = __ldg((const float4*)(ptr) + 1); "
                   "v[0]=q.x; v[1]=q.y; v[2]=q.z; v[3]=q.w; v[4]=s.x; v[5]=s.y; v[6]=s.z; v[7]=s.w; }"),
    ("__half", 2): ("#define LOAD(ptr, v) { unsigned int q = __ldg((const unsigned int*)(ptr)); "
                    "float2 a = __half22float2(*(const __half2*)&q); v[0]=a.x; v[1]=a.y; }"),
    ("__half", 4): ("#define LOAD(ptr, v) { uint2 q = __ldg((const uint2*)(ptr)); "
                    "float2 a = __half22float2(*(const __half2*)&q.x); float2 b = __half22float2(*(const __half2*)&q.y); "
                    "v[0]=a.x; v[1]=a.y; v[2]=b.x; v[3]=b.y; }"),
    ("__half", 8): ("#define LOAD(ptr, v) { uint4 q = __ldg((const uint4*)(ptr)); "
                    "float2 a = __half22float2(*(const __half2*)&q.x); float2 b = __half22float2(*(const __half2*)&q.y); "
                    "float2 c = __half22float2(*(const __half2*)&q.z); float2 d = __half22float2(*(const __half2*)&q.w); "
                    "v[0]=a.x; v[1]=a.y; v[2]=b.x; v[3]=b.y; v[4]=c.x; v[5]=c.y; v[6]=d.x; v[7]=d.y; }"),
}


# Bounded: one compiled module per (slices per thread, pixels per thread, storage, device). Runs use
# a handful, but `pixels_per_thread` is the caller's (benchmarks sweep it), and each entry holds
# code loaded on a GPU; 64 is far more than a run needs, and an evicted one is only rebuilt
# (from CuPy's on-disk kernel cache, without compiling again).
@functools.lru_cache(maxsize=64)
def _module(k: int, p: int, half: bool, device: int) -> Any:
    import cupy

    store = "__half" if half else "float"
    if (store, k) not in _LOADS:
        raise ValueError(f"no GPU back-projection kernel for {k} slices with {'fp16' if half else 'fp32'} storage")
    header = f"#define K {k}\n#define P {p}\n#define STORE {store}\n{_LOADS[(store, k)]}\n"
    with cupy.cuda.Device(device):
        return cupy.RawModule(code=header + _SOURCE, options=("--std=c++14", "-use_fast_math"))


#: the device tables of the angle sets used more than once, by (GPU, bytes): never written after
#: they are made, so kernels on any stream share them; at most TABLES kept. `_seen`: the sets met
#: once (a streaming batch's angles come once: uploaded for their call only, nothing cached)
_tables: collections.OrderedDict[tuple[int, bytes], Any] = collections.OrderedDict()
_seen: collections.OrderedDict[tuple[int, bytes], None] = collections.OrderedDict()
_tables_lock = threading.Lock()
TABLES = 32


def _angle_table(values: np.ndarray, device: int, stream: Any) -> Any:
    """The (angles, 2) cosines and sines on `device`, uploaded once for a set used again.

    Why not an upload per call: a copy from pageable memory first waits for the stream's queued
    work, so each back-projection of a pass waited for the one before it (0.15 ms a call on the
    H100 at 1024^3, 6 % of the kernel's time, the host held up meanwhile). A set met the first time
    is uploaded on the call's stream (freed into that stream's pool: reused only after the kernel)."""
    import cupy

    key = (device, hashlib.blake2b(values.tobytes(), digest_size=20).digest())
    with _tables_lock:
        table = _tables.get(key)
        if table is not None:
            _tables.move_to_end(key)
            return table
        again = key in _seen
        _seen[key] = None
        if len(_seen) > 2 * TABLES:
            _seen.popitem(last=False)
    if not again:
        with stream if stream is not None else contextlib.nullcontext():
            return cupy.asarray(values)
    made = cupy.asarray(values)
    cupy.cuda.get_current_stream().synchronize()  # whole before another stream's kernel reads it
    with _tables_lock:
        table = _tables.setdefault(key, made)  # another thread's, where it came first (this one unused)
        if len(_tables) > TABLES:
            cupy.cuda.runtime.deviceSynchronize()  # no kernel still reads the one dropped
            _tables.popitem(last=False)
    return table


def slices_per_thread(count: int, half: bool = False) -> int:
    """The widest kernel (K) that `count` slices fill; partial groups are zero-padded."""
    for k in (8, 4, 2, 1):
        if count >= k and (k > 1 or not half):
            return k
    return 2 if half else 1


def backproject_interleaved(sino: Any, angles_cs: np.ndarray, axis: float, x0: float, y0: float, scale: float,
                            rows: int, cols: int, pixels_per_thread: int = 2, stream: Any = None) -> Any:
    """sino: device array (angles, width, K), float32 or float16. Returns (rows, cols, K) float32."""
    import cupy

    out = cupy.empty((1, rows, cols, sino.shape[2]), cupy.float32)
    backproject_groups(sino[None], angles_cs, axis, x0, y0, scale, out, False, pixels_per_thread, stream)
    return out[0]


def backproject_groups(sino: Any, angles_cs: np.ndarray, axis: float, x0: float, y0: float, scale: float,
                       out: Any, accumulate: bool, pixels_per_thread: int = 2, stream: Any = None) -> None:
    """sino (groups, angles, width, K) -> out (groups, rows, cols, K) float32, written or added to (streaming)."""
    import cupy

    groups, n_angles, width, k = sino.shape
    _, rows, cols, _ = out.shape
    half = sino.dtype == np.float16
    device = cupy.cuda.Device().id
    module = _module(k, pixels_per_thread, half, device)
    table = _angle_table(np.ascontiguousarray(angles_cs, np.float32).reshape(n_angles, 2), device, stream)
    block = (32, 8, 1)
    grid = ((cols + block[0] - 1) // block[0], (rows + block[1] * pixels_per_thread - 1) // (block[1] * pixels_per_thread),
            groups)
    kernel = module.get_function("bp")
    kernel(grid, block, (sino, out, table, np.int32(n_angles), np.int32(width), np.int32(cols), np.int32(rows),
                         np.float32(axis), np.float32(x0), np.float32(y0), np.float32(scale), np.int32(accumulate)),
           stream=stream)
