"""@ufo.jit on CuPy arrays against numpy (the same tests as tests/test_jit.py, on the device),
and its speed against the peers in the same run.

Checks: elementwise kernels for float32, float64 and uint16 (values and dtypes as numpy
gives them), broadcasting, out=, branches/loops/math, stencils with every boundary mode,
no second compilation, the `jit` task inside a GPU segment vs the CPU graph.

Benchmark (median of repeats, after a warm-up call that compiles):
  CPU  jit saxpy / laplace on 4096x4096 float32   vs numpy expressions
  GPU  jit saxpy / laplace on 8192x8192 float32   vs CuPy expressions (and cupy ElementwiseKernel
       for saxpy); both include nothing but the kernels (synchronised timing)

The measurements are ufo.bench.jit (what `ufo bench` builds on); this script parses and prints.

Run: python benchmarks/jit_check.py [--cpu-only]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys

from ufo.bench.jit import benchmark, gpu_checks, gpu_name

FAILURES: list[str] = []


def check(name: str, ok: bool, detail: str = "") -> None:
    print(f"{'ok  ' if ok else 'FAIL'} {name} {detail}")
    if not ok:
        FAILURES.append(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu-only", action="store_true")
    args = parser.parse_args()
    gpu = False
    if not args.cpu_only:
        try:
            import cupy

            gpu = cupy.cuda.is_available()
        except ImportError:
            pass
    if gpu:
        gpu_checks(check)
    rows = benchmark(gpu)
    print(f"\n# {platform.node()}, {os.cpu_count()} cores" + (f", {gpu_name()}" if gpu else ""))
    print(f"{'ufo.jit':36s} {'ms':>8s}   {'peer':24s} {'ms':>8s} {'speed-up':>9s}")
    for name, ours, peer, theirs in rows:
        print(f"{name:36s} {ours * 1e3:8.2f}   {peer:24s} {theirs * 1e3:8.2f} {theirs / ours:8.2f}x")
    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed: {', '.join(FAILURES)}")
        sys.exit(1)
    if gpu:
        print("all GPU checks passed")


if __name__ == "__main__":
    main()
