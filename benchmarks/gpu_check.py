"""Every GPU task against its CPU implementation, on fresh random data, on the device machine.

Device allocations are poisoned (NaN bytes) before use, so a pixel a kernel forgot to write
shows up as NaN and fails the check. Bounds: relative error (||gpu - cpu|| / ||cpu||) below
1e-5 for elementwise maps, 1e-4 for FBP. Also runs whole graphs through GPU segments
(several streams, and two "devices" on one GPU to exercise the multi-GPU order restoration).
The checks are ufo.bench.gpu_check's; this script prints them.

Run: python benchmarks/gpu_check.py
"""

from __future__ import annotations

import sys

from ufo.bench.gpu import device_name
from ufo.bench.gpu_check import run_checks


def main():
    print(device_name())
    results = run_checks()
    width = max(len(r[0]) for r in results)
    failed = 0
    for name, err, bound in results:
        ok = err < bound
        failed += not ok
        print(f"{name:<{width}}  rel.err {err:9.2e}  bound {bound:.0e}  {'ok' if ok else 'FAIL'}")
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
