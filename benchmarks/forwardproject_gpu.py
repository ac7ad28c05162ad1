"""forwardproject of one slice on the GPU against the CPU kernel (one thread), with their difference.

Run on the GPU machine: python benchmarks/forwardproject_gpu.py [--size 1024] [--angles 1024]
Without a GPU it prints "no GPU: skipped" and exits 0. The measurement is ufo.bench.gpu_projection's.
"""

from __future__ import annotations

import argparse
import datetime
import sys

from ufo.bench.gpu_files import have_gpu
from ufo.bench.gpu_projection import measure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1024, help="slice edge in pixels")
    parser.add_argument("--angles", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if not have_gpu():
        print("no GPU: skipped (CuPy sees no CUDA device; run this on the GPU machine)")
        return
    from ufo.bench.gpu import device_name

    print(f"{device_name()}, {datetime.date.today()}, command: python {' '.join(sys.argv)}")
    r = measure(args.size, args.angles, args.repeat)
    print(f"forwardproject {r.size}^2 slice, {r.angles} angles: CPU (numba, 1 thread) {r.cpu_seconds:.2f} s, "
          f"GPU {r.gpu_seconds * 1e3:.1f} ms (median of {args.repeat}, CUDA events) = {r.speedup:.0f}x; "
          f"relative difference {r.relative_difference:.1e}")


if __name__ == "__main__":
    main()
