# Source on the lent GPU machine before the benchmarks and tests that need ufo installed there:
#   run(command=". benchmarks/device_env.sh && bash benchmarks/gpu_checks.sh && bash benchmarks/reco_passes_gpu.sh /tmp/up 1",
#       carry=[".whl"])
# Why: that machine starts bare from an image with CuPy, numpy, SciPy, h5py, tifffile, numba and
# pytest but not pint or pyzmq, and ufo finds its tasks through entry points, so the wheels carried
# in .whl/ (see /work/.library/device/README.md for `pip download`) go to /tmp/ufo-site and the
# checkout is installed editable, without dependencies. Where ufo is installed already, or where
# there is no GPU (nvidia-smi), it does nothing.
python=${python:-${PYTHON:-python3}}  # gpu_checks.sh's choice where it sources this
if ! "$python" -c "import importlib.metadata as m; m.distribution('ufo')" 2>/dev/null && command -v nvidia-smi >/dev/null; then
    if compgen -G ".whl/*.whl" >/dev/null; then
        "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target /tmp/ufo-site .whl/*.whl
        export PYTHONPATH="/tmp/ufo-site${PYTHONPATH:+:$PYTHONPATH}"
    fi
    "$python" -m pip install -q --no-deps --no-build-isolation -e .
fi
# a warm machine (ufo installed by an earlier call): the carried wheels' folder on the path again
if [ -d /tmp/ufo-site ] && [[ ":${PYTHONPATH:-}:" != *":/tmp/ufo-site:"* ]]; then
    export PYTHONPATH="/tmp/ufo-site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1
