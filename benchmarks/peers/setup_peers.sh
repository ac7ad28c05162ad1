#!/usr/bin/env bash
# Install the GPU peers of benchmarks/reco_files_gpu.py (httomolibgpu with tomobar, ASTRA) from
# the wheels in .whl/ into a folder, on the GPU machine (no registry there), and print the
# PYTHONPATH to use:   export PYTHONPATH=$(bash benchmarks/peers/setup_peers.sh /tmp/peers)
#
# Why more than `pip install`: astra-toolbox's wheel needs CUDA 12's runtime (libcudart.so.12,
# carried as nvidia-cuda-runtime-cu12) and cuFFT 11, whose wheel is too large to carry; a
# five-function forwarding library to the machine's cuFFT 12 (cufft11_shim.c) stands in for it
# where ASTRA looks ($ORIGIN/../nvidia/cufft/lib). Versions: `python3 -m pip list --path DIR`.
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${1:-/tmp/peers}
python=${PYTHON:-python3}
"$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$target" \
    .whl/astra_toolbox-*.whl .whl/nvidia_cuda_runtime_cu12-*.whl .whl/httomolibgpu-*.whl .whl/tomobar-*.whl \
    .whl/nvtx-*.whl .whl/pywavelets-*.whl >&2
cufft12=$(ldconfig -p | awk '/libcufft\.so\.12 /{print $NF; exit}')
if [ -z "$cufft12" ]; then
    cufft12=$(find / -xdev -name 'libcufft.so.12' 2>/dev/null | grep -v "^$target" | head -1)
fi
[ -n "$cufft12" ] || { echo "setup_peers.sh: no libcufft.so.12 on this machine; ASTRA will not load" >&2; echo "$target"; exit 0; }
mkdir -p "$target/nvidia/cufft/lib"
${CC:-cc} -shared -fPIC -O2 -DCUFFT12="\"$cufft12\"" -Wl,-soname,libcufft.so.11 \
    -Wl,--version-script=<(echo 'libcufft.so.11 { global: cufft*; local: *; };') \
    benchmarks/peers/cufft11_shim.c -ldl -o "$target/nvidia/cufft/lib/libcufft.so.11"
echo "setup_peers.sh: libcufft.so.11 forwards to $cufft12" >&2
echo "$target"
