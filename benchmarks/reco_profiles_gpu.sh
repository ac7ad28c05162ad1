#!/usr/bin/env bash
# `ufo reco --profile` of a 1024^3 uint16 NXtomo scan on the GPU machine, each run from a dropped
# page cache (root): the profile's stages and its timeline (GPU ready, first and last frame read,
# slices complete, first and last slices to the writer), for one pass twice, two and four passes
# and --axis auto, one pass with the scan read ahead beside the command; then the path's parts alone
# (benchmarks/resident_parts.py) and the read floor.
# Why: the stages overlap, and only the timeline says what waited for what.
# On the device: run(command="bash benchmarks/reco_profiles_gpu.sh", carry=[".whl"])
cd "$(dirname "$0")/.." || exit 2
# shellcheck source=benchmarks/device_env.sh
. benchmarks/device_env.sh
d=${1:-/tmp/tl}; mkdir -p "$d"
python3 -c "from ufo.bench.stream import render_scan; render_scan('$d/scan.nx', 1024, 1024, 1024)"
drop() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || echo "page cache not dropped (not root)"; }
reco="python3 -m ufo reco --projections $d/scan.nx --output $d/o.h5:/data --overwrite -q --axis 512 --profile"
$reco > /dev/null 2>&1  # CuPy's kernel cache filled, the bytecode written
for v in "" "" "--pass-height 512" "--pass-height 256" "--axis auto"; do
  drop; echo "=== $v"; /usr/bin/time -f "wall %e s (exit %x)" $reco $v 2>&1 | grep -v -i warn | grep -E "│|timeline|wall|rror" | grep -v "━"
done
# what reading the inputs ahead while the command starts could gain (the start is cold imports, 1.2-1.6 s
# there): the scan read by `cat` beside the command from its first moment, as a prefetch thread would
drop; echo "=== one pass, the scan read ahead by cat beside the command"
cat "$d/scan.nx" > /dev/null & /usr/bin/time -f "wall %e s (exit %x)" $reco 2>&1 | grep -E "timeline|wall|rror"; wait
drop; python3 benchmarks/resident_parts.py "$d/scan.nx" "$d"
drop; python3 -c "
import time
t = time.perf_counter(); b = bytearray(64 << 20)
with open('$d/scan.nx', 'rb', buffering=0) as f:
    while f.readinto(b): pass
print(f'read floor: {time.perf_counter() - t:.2f} s')"
nproc; free -g | head -2
rm -rf "$d"
