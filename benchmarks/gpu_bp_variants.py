"""Which GPU back-projection kernel variant is fastest: slices per thread (K), pixels per
thread (P), fp32 or fp16 storage; GUPS on 2048^2 slices from 2048 angles, data on the GPU.
Also checks each variant against the CPU kernel on fresh random data (relative error).
The measurements are ufo.bench.gpu's; this script prints them.

Run on the device machine: python benchmarks/gpu_bp_variants.py
"""

from __future__ import annotations

import sys

from ufo.bench.gpu import VARIANTS, bench_variant, check_variant, device_name


def main():
    print(device_name())
    rows = []
    for half, k, p in VARIANTS:
        err = check_variant(k, p, half)
        gups = bench_variant(k, p, half)
        rows.append((("fp16" if half else "fp32"), k, p, gups, err))
        print(f"{rows[-1][0]} K={k} P={p}: {gups:8.0f} GUPS  rel.err {err:.2e}", flush=True)
    best = max(rows, key=lambda r: r[3])
    print("best:", best)


if __name__ == "__main__":
    sys.exit(main())
