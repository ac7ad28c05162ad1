#!/usr/bin/env bash
# `ufo reco` file to file on the GPU machine, the wall time of each variant from a dropped page
# cache (root): the default passes, one pass, --axis auto, --output-bits 16, and the read floor
# of the same scan (a 1024-projection 1024^2 uint16 NXtomo scan of the phantom). A quick check of
# ufo/reco/pipelined.py between full runs of benchmarks/reco_files_gpu.py (which adds peers,
# write floors, medians and profiles).
# Usage (device machine, ufo installed): bash benchmarks/reco_passes_gpu.sh [dir] [repeat]
set -uo pipefail
dir=${1:-/tmp/ufo-passes}
repeat=${2:-3}
mkdir -p "$dir"
python3 -c "from ufo.bench.stream import render_scan; render_scan('$dir/scan.nx', 1024, 1024, 1024)"
drop() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || echo "page cache not dropped (not root)"; }
reco="ufo reco --projections $dir/scan.nx --output $dir/o.h5:/data --overwrite -q"
for i in $(seq "$repeat"); do
    drop; /usr/bin/time -f "default passes, axis given: %e s" $reco --axis 512
done
drop; /usr/bin/time -f "one pass (--pass-height 1024), axis given: %e s" $reco --axis 512 --pass-height 1024
drop; /usr/bin/time -f "--axis auto: %e s" $reco --axis auto
drop; /usr/bin/time -f "--output-bits 16: %e s" $reco --axis 512 --output-bits 16
drop; python3 -c "
import time
t = time.perf_counter(); b = bytearray(64 << 20)
with open('$dir/scan.nx', 'rb', buffering=0) as f:
    while f.readinto(b): pass
print(f'read floor (the scan file, 64 MiB reads): {time.perf_counter() - t:.2f} s')"
rm -rf "$dir"
