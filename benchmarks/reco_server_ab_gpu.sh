#!/usr/bin/env bash
# A/B of `ufo reco --on-server` on the GPU machine: this checkout's warm server against another
# commit's (BASELINE, a tree holding its ufo/: `git archive COMMIT ufo | tar -x -C DIR`), jobs
# interleaved, each from the same page-cache state, on a uint16 NXtomo scan of the phantom
# (SIZE x ROWS pixels, ANGLES projections) into HDF5 float32; the table of walls and timelines
# (ufo.bench.timelines), then the I/O floor of the same disk.
#   VARIANTS  '|'-separated: options and UFO_* variables of a job; a leading word OLD sends it to
#             the BASELINE server (default: "OLD||OLD --axis auto|--axis auto|OLD --output-bits 16|--output-bits 16")
#   CACHE     evict (only the scan's pages dropped, default) or drop (the whole page cache, root)
#   ROUNDS    rounds of every variant (default 5)
# Usage (device machine): BASELINE=scratch/old bash benchmarks/reco_server_ab_gpu.sh [dir]
# e.g. run(command="BASELINE=scratch/old bash benchmarks/reco_server_ab_gpu.sh", carry=["scratch", ".whl"])
# The BASELINE server is started from inside that tree (`python -m ufo` there imports its ufo/
# first); the script stops when both servers report the same ufo.
cd "$(dirname "$0")/.." || exit 2
# shellcheck source=benchmarks/device_env.sh
. benchmarks/device_env.sh
d=${1:-/tmp/ufo-ab}; mkdir -p "$d"
size=${SIZE:-1024}; rows=${ROWS:-1024}; angles=${ANGLES:-1024}
log=${OUT:-/tmp}/ufo-ab.log
exec > >(tee "$log") 2>&1
date -u; nproc; git log --oneline -1 2>/dev/null
python3 -c "from ufo.bench.stream import render_scan; render_scan('$d/scan.nx', $size, $rows, $angles)"
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
evict() { python3 -c "from ufo.bench.storage import evict; evict('$d/scan.nx')"; }
reco="python3 -m ufo reco --projections $d/scan.nx --output $d/o.h5:/data --overwrite -q --axis $((size / 2)) --profile"
UFO_RECO_SERVER_FILE=$d/new.json python3 -m ufo reco --serve > "$d/new.log" 2>&1 &
servers=("$d/new.json")
if [ -n "${BASELINE:-}" ]; then
  (cd "$BASELINE" && UFO_RECO_SERVER_FILE=$d/old.json python3 -m ufo reco --serve > "$d/old.log" 2>&1) &
  servers+=("$d/old.json")
fi
for _ in $(seq 900); do ok=1; for s in "${servers[@]}"; do [ -f "$s" ] || ok=0; done; [ $ok = 1 ] && break; sleep 0.2; done
ufos=$(for s in "${servers[@]}"; do python3 -c "import json; print(json.load(open('$s'))['ufo'])"; done | sort -u | wc -l)
if [ "${#servers[@]}" -gt 1 ] && [ "$ufos" -lt 2 ]; then echo "both servers run the same ufo: no A/B"; pkill -INT -f "reco --serve"; exit 1; fi
variants=${VARIANTS:-"OLD||OLD --axis auto|--axis auto|OLD --output-bits 16|--output-bits 16"}
IFS='|' read -ra list <<< "$variants"
for round in $(seq "${ROUNDS:-5}"); do
  for v in "${list[@]}"; do
    env=(UFO_RECO_SERVER_FILE=$d/new.json); opt=()
    for w in $v; do case $w in OLD) env=(UFO_RECO_SERVER_FILE=$d/old.json) ;; UFO_*=*) env+=("$w") ;; *) opt+=("$w") ;; esac; done
    rm -f "$d/o.h5"; "${CACHE:-evict}"; echo "=== $round ${CACHE:-evict}: $v"
    env "${env[@]}" /usr/bin/time -f "wall %e s (exit %x)" $reco --on-server "${opt[@]}" 2>&1 | grep -E "^timeline|^wall|rror"
  done
done
pkill -INT -f "reco --serve"; sleep 2; rm -f "$d/o.h5"
python3 -m ufo.bench.timelines "$log"
evict; python3 -c "
from ufo.bench.gpu_files import read_floor, write_floor
print(f'read floor: {read_floor(\"$d/scan.nx\"):.2f} s')
print(f'write floor: {write_floor(\"$d/floor.bin\", $rows * $size * $size * 4):.2f} s')"
rm -rf "$d"; date -u
