#!/usr/bin/env bash
# Band reads with and without asking the disk for the next frames' bands (`BANDS_AHEAD` in
# ufo/storage/hdf5_direct.py: 0 against 96), A/B in one run: two warm `ufo reco --serve`
# processes on one GPU, one with each value, and `ufo reco --on-server --profile` of a 1024^3
# uint16 scan from a dropped page cache, alternating between them: one pass and 4 passes with
# the prefetch child, 4 and 8 passes and one pass without it (UFO_PREFETCH=0: the passes' band
# reads come from the disk), REPEAT times (2). Prints the wall time, the reader's and writer's
# busy seconds and the timeline of each run.
# Why: a pass's band is a read every frame-size bytes; asking for one block (32 frames) at a time
# left the disk idle between blocks.
# On the device: run(command="bash benchmarks/band_ahead_gpu.sh", carry=[".whl"])
cd "$(dirname "$0")/.." || exit 2
# shellcheck source=benchmarks/device_env.sh
. benchmarks/device_env.sh
d=${1:-/tmp/ab}; mkdir -p "$d"
python3 -c "from ufo.bench.stream import render_scan; render_scan('$d/scan.nx', 1024, 1024, 1024)"
servers=()
for a in 0 96; do
  UFO_RECO_SERVER_FILE=$d/s$a.json python3 -c "import sys; import ufo.storage.hdf5_direct as h; h.BANDS_AHEAD=$a; \
sys.argv=['ufo','reco','--serve']; from ufo.cli.main import entry; entry()" > "$d/server$a.log" 2>&1 &
  servers+=($!)
done
for _ in $(seq 900); do [ -f "$d/s0.json" ] && [ -f "$d/s96.json" ] && break; sleep 0.2; done
reco="python3 -m ufo reco --on-server --projections $d/scan.nx --output $d/o.h5:/data --overwrite -q --axis 512 --profile"
for _ in $(seq "${REPEAT:-2}"); do
  for v in "|" "|--pass-height 256" "UFO_PREFETCH=0|--pass-height 256" "UFO_PREFETCH=0|--pass-height 128" "UFO_PREFETCH=0|"; do
    e=${v%%|*}; o=${v#*|}
    for a in 0 96; do
      rm -f "$d/o.h5"; sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || echo "page cache not dropped (not root)"
      echo "=== BANDS_AHEAD $a: $e $o"
      # shellcheck disable=SC2086
      env $e UFO_RECO_SERVER_FILE="$d/s$a.json" /usr/bin/time -f "wall %e s" $reco $o 2>&1 \
        | grep -E "wall|timeline|(│|\|) (read|write) "
    done
  done
done
kill -INT "${servers[@]}"; wait
rm -rf "$d"
