#!/usr/bin/env bash
# `ufo reco --on-server --profile` of a large scan (SIZE^3, default 2048: 17.5 GB of uint16 in,
# 34 GB of float32 out) with the kernel's dirty and write-back pages sampled every 0.5 s: whether
# the output outgrows the page cache's dirty allowance and is written back beside the reads.
# The scan holds one frame throughout (ufo.bench.overlap_floor.make_scan): only its bytes matter.
# Usage (device machine, root): run(command="bash benchmarks/reco_dirty_gpu.sh", carry=[".whl"])
cd "$(dirname "$0")/.." || exit 2
# shellcheck source=benchmarks/device_env.sh
. benchmarks/device_env.sh >/dev/null 2>&1
d=${1:-/tmp/ufo-dirty}; size=${SIZE:-2048}; mkdir -p "$d"
date -u; git log --oneline -1 2>/dev/null
sysctl vm.dirty_ratio vm.dirty_background_ratio vm.dirty_bytes vm.dirty_background_bytes
python3 -c "from ufo.bench.overlap_floor import make_scan; make_scan('$d/scan.nx', $size, $size)"
UFO_RECO_SERVER_FILE=$d/s.json python3 -m ufo reco --serve > "$d/s.log" 2>&1 &
for _ in $(seq 300); do [ -f "$d/s.json" ] && break; sleep 0.2; done
for round in $(seq "${ROUNDS:-2}"); do
  rm -f "$d/o.h5"; sync; echo 3 > /proc/sys/vm/drop_caches
  (while true; do echo "$(date +%s.%N | cut -c1-14) $(grep -E '^(Dirty|Writeback):' /proc/meminfo | awk '{printf "%s %d MB  ", $1, $2/1024}')"; sleep 0.5; done) > "$d/mem" &
  sampler=$!
  echo "=== round $round, job start $(date +%s.%N | cut -c1-14)"
  UFO_RECO_SERVER_FILE=$d/s.json /usr/bin/time -f "wall %e s" python3 -m ufo reco --projections "$d/scan.nx" \
    --output "$d/o.h5:/data" --overwrite --axis $((size / 2)) --profile --on-server 2>&1 | grep -v "^\s*$"
  echo "job end $(date +%s.%N | cut -c1-14)"
  sleep 2; kill $sampler; cat "$d/mem"
done
pkill -INT -f "reco --serve"; sleep 1; rm -rf "$d"; date -u
