#!/usr/bin/env bash
# The GPU correctness tests (`pytest -m gpu`: every GPU task, step and kernel against its CPU
# implementation or an independent reference), run the way the device machine needs them.
#
# Why a script: the device machine starts bare from an image that has CuPy, numpy, scipy,
# h5py, tifffile, numba, scikit-image and pytest but not pint or pyzmq, and ufo finds its tasks
# through entry points, so there (where nvidia-smi exists and ufo is not installed) the checkout
# is installed first (editable, no dependencies).
# Wheels of the missing packages travel in .whl/ (carry it; see /work/.library/device/README.md
# for `pip download`). Without a GPU (CI, a laptop) every test is skipped and the script exits 0.
#
# Run, from anywhere:   bash benchmarks/gpu_checks.sh [extra pytest arguments]
# On the device:        run(command="bash benchmarks/gpu_checks.sh", carry=[".whl"])
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
command -v "$python" >/dev/null || python=python

if ! "$python" -c "import importlib.metadata as m; m.distribution('ufo')" 2>/dev/null && ! command -v nvidia-smi >/dev/null; then
    echo "gpu_checks.sh: ufo is not installed in $python; activate its virtual environment or set PYTHON" >&2
    exit 2  # not the device machine: install nothing here
fi
# shellcheck source=benchmarks/device_env.sh
. benchmarks/device_env.sh  # the device machine: the carried wheels and the checkout installed

"$python" -c "from ufo.gpu import available; import sys; print(f'CUDA devices: {available()}', file=sys.stderr)"
# the files that hold gpu-marked tests: collecting only them keeps optional extras (Tango, the
# GUI, Dask) that the device image lacks out of the run
mapfile -t files < <(grep -l "mark.gpu" tests/test_*.py)
exec "$python" -m pytest -m gpu -q -p no:cacheprovider "${files[@]}" "$@"
