#!/usr/bin/env bash
# `ufo reco --profile` of a 1024^3 uint16 NXtomo scan on the GPU machine in 1, 2, 4 and 8 passes
# (--pass-height 1024/512/256/128; no option: the default, OVERLAP_PASSES), each from a dropped
# page cache, twice: sent to a warm `ufo reco --serve`, then as whole commands.
# Why: passes overlap the write of one pass with the read of the next, but every pass reads and
# feeds every frame again; only measured wall times say which count pays on a machine.
# On the device: run(command="bash benchmarks/reco_overlap_gpu.sh", carry=[".whl"])
cd "$(dirname "$0")/.." || exit 2
# shellcheck source=benchmarks/device_env.sh
. benchmarks/device_env.sh
d=${1:-/tmp/overlap}; mkdir -p "$d"
python3 -c "from ufo.bench.stream import render_scan; render_scan('$d/scan.nx', 1024, 1024, 1024)"
drop() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || echo "page cache not dropped (not root)"; }
reco="python3 -m ufo reco --projections $d/scan.nx --output $d/o.h5:/data --overwrite -q --axis 512 --profile"
$reco > /dev/null 2>&1  # CuPy's kernel cache filled, the bytecode written
export UFO_RECO_SERVER_FILE=$d/reco-server.json
python3 -m ufo reco --serve > "$d/server.log" 2>&1 &
server=$!
for _ in $(seq 600); do [ -f "$UFO_RECO_SERVER_FILE" ] && break; sleep 0.2; done
$reco --on-server > /dev/null 2>&1  # the server's first job (its kernels) not counted
show() { grep -E "timeline|wall|rror|(│|\|) (read|back-project|download|write|waiting) "; }
for round in 1 2; do
  for v in "--pass-height 1024" "--pass-height 512" "--pass-height 256" "--pass-height 128" ""; do
    rm -f "$d/o.h5"; drop; echo "=== server, round $round: $v"
    # shellcheck disable=SC2086
    /usr/bin/time -f "wall %e s (exit %x)" $reco --on-server $v 2>&1 | show
  done
done
kill -INT "$server"; wait "$server"
for v in "--pass-height 1024" "--pass-height 256" ""; do
  rm -f "$d/o.h5"; drop; echo "=== command: $v"
  # shellcheck disable=SC2086
  /usr/bin/time -f "wall %e s (exit %x)" $reco $v 2>&1 | show
done
rm -rf "$d"
