#!/usr/bin/env bash
# `ufo reco` file to file on the GPU machine, the wall time of each variant from a dropped page
# cache (root), of a 1024-projection 1024^2 uint16 NXtomo scan of the phantom: the default path
# (slices resident on the GPU, ufo/reco/resident.py) with the axis given, the sinogram path
# (--gpu-path sinograms), --axis auto, --output-bits 16, two passes, the command as a user runs it
# (not quiet: tables and quality hints), and the I/O floor of the same disk (the scan read with
# 64 MiB reads, 4 GiB written through the page cache with 64 MiB writes). A quick check between
# full runs of benchmarks/reco_files_gpu.py (which adds the GPU peers, medians and profiles).
# Usage (device machine, ufo installed): bash benchmarks/reco_passes_gpu.sh [dir] [repeat]
# BASELINE=DIR (a tree holding another commit's ufo/, e.g. `git archive COMMIT ufo | tar -x -C DIR`):
# each repeat also runs that commit's `ufo reco` (quiet, not quiet, --axis auto) right after this
# one's, from the same dropped page cache, so a change is measured against its parent in one run
# (with this checkout installed non-editable: an editable install's finder wins over PYTHONPATH,
# which the script checks, since a run of 2026-12-03 timed this code twice without noticing).
set -uo pipefail
dir=${1:-/tmp/ufo-passes}
repeat=${2:-3}
if [ -n "${BASELINE:-}" ]; then  # an editable install's finder wins over PYTHONPATH: then the "baseline" is this code
    got=$(env PYTHONPATH="$BASELINE:${PYTHONPATH:-}" python3 -c "import os, ufo; print(os.path.dirname(os.path.dirname(os.path.realpath(ufo.__file__))))")
    if [ "$got" != "$(cd "$BASELINE" && pwd -P)" ]; then
        echo "BASELINE=$BASELINE: python imports ufo from $got instead (an editable install takes precedence);" \
             "install this checkout with 'pip install --no-deps .' (not -e) for an A/B run" >&2
        exit 2
    fi
fi
mkdir -p "$dir"
python3 -c "from ufo.bench.stream import render_scan; render_scan('$dir/scan.nx', 1024, 1024, 1024)"
drop() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || echo "page cache not dropped (not root)"; }
reco="python3 -m ufo reco --projections $dir/scan.nx --output $dir/o.h5:/data --overwrite"
# a variant that fails says so with its exit status and its last lines: a time of a failed run is no figure
timed() {
    local name=$1 log rc; shift; drop; log=$(mktemp)
    /usr/bin/time -f "$name: %e s" "$@" >"$log" 2>&1; rc=$?
    if [ "$rc" -ne 0 ]; then echo "$name: FAILED (exit $rc):"; grep -v -i warn "$log" | tail -8 | sed 's/^/    /'
    else grep -v -i warn "$log" | tail -1; fi
    rm -f "$log"
}
timed "first run after installing (CuPy's kernel cache filled)" $reco -q --axis 512
if [ -n "${BASELINE:-}" ]; then
    timed "baseline: first run (its bytecode written)" env PYTHONPATH="$BASELINE:${PYTHONPATH:-}" $reco -q --axis 512
fi
for i in $(seq "$repeat"); do
    timed "resident (default), axis given" $reco -q --axis 512
    if [ -n "${BASELINE:-}" ]; then
        timed "baseline: resident, axis given" env PYTHONPATH="$BASELINE:${PYTHONPATH:-}" $reco -q --axis 512
        timed "resident, not quiet (tables, quality hints)" $reco --axis 512
        timed "baseline: resident, not quiet" env PYTHONPATH="$BASELINE:${PYTHONPATH:-}" $reco --axis 512
        timed "resident, --axis auto" $reco -q --axis auto
        timed "baseline: resident, --axis auto" env PYTHONPATH="$BASELINE:${PYTHONPATH:-}" $reco -q --axis auto
    fi
done
timed "--gpu-path sinograms, axis given" $reco -q --axis 512 --gpu-path sinograms
timed "resident, --axis auto" $reco -q --axis auto
timed "resident, --output-bits 16" $reco -q --axis 512 --output-bits 16
timed "resident, two passes (--pass-height 512)" $reco -q --axis 512 --pass-height 512
timed "resident, not quiet (tables, quality hints)" $reco --axis 512
drop; python3 -c "
import time
import numpy as np
t = time.perf_counter(); b = bytearray(64 << 20)
with open('$dir/scan.nx', 'rb', buffering=0) as f:
    while f.readinto(b): pass
print(f'read floor (the scan file, 64 MiB reads): {time.perf_counter() - t:.2f} s')
block = memoryview(np.random.default_rng(0).random(16 << 20, dtype=np.float32).view(np.uint8))
t = time.perf_counter()
with open('$dir/w.bin', 'wb', buffering=0) as f:
    for _ in range(64): f.write(block)
print(f'write floor (4 GiB, 64 MiB writes through the page cache): {time.perf_counter() - t:.2f} s')"
rm -rf "$dir"
