"""What a sinogram shape met for the first time costs the GPU axis search (`--axis auto`).

CuPy builds the search's ndimage kernels per array shape and keeps them in its cache on disk
(CUPY_CACHE_DIR); this times one search per shape in this process (ufo.bench.axis_shapes). Run it
twice, the first time with an empty cache, to see both costs. On the GPU machine:
    export CUPY_CACHE_DIR=/tmp/cupy-fresh; rm -rf $CUPY_CACHE_DIR
    python3 benchmarks/axis_shapes_gpu.py "empty kernel cache"; python3 benchmarks/axis_shapes_gpu.py "cache filled"
Without a GPU it prints "no GPU: skipped" and exits 0.
"""

from __future__ import annotations

import sys

from ufo.bench.axis_shapes import first_calls, imports
from ufo.bench.gpu_files import have_gpu


def main() -> None:
    if not have_gpu():
        print("no GPU: skipped")
        return
    label = sys.argv[1] if len(sys.argv) > 1 else "this process"
    print(f"imports {imports():.2f} s", flush=True)
    for shape, seconds in first_calls():
        print(f"{label}: {shape}: {seconds:.3f} s", flush=True)


if __name__ == "__main__":
    main()
