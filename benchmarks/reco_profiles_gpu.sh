#!/usr/bin/env bash
# `ufo reco --profile` of a 1024^3 uint16 NXtomo scan on the GPU machine: the profile's stages and
# its timeline (GPU ready, first and last frame read, slices complete, first and last slices to the
# writer, slices written), one pass, with the inputs' prefetch child and without (UFO_PREFETCH=0),
# two, four and eight passes, --axis auto, 16-bit output; each from two states of the page cache:
#   evict: only the scan's pages dropped (a new scan, the software as a second command finds it);
#   drop:  the whole page cache dropped (the first command after a boot: imports from the disk too).
# Then the path's parts alone (benchmarks/resident_parts.py) and the I/O floor (the scan read with
# 64 MiB reads, the output's bytes written with 64 MiB writes through the page cache).
# SERVER=1 sends every variant to a warm `ufo reco --serve` (the command as `ufo reco --on-server`).
# Why: the stages overlap, and only the timeline says what waited for what.
# On the device: run(command="bash benchmarks/reco_profiles_gpu.sh", carry=[".whl"])
cd "$(dirname "$0")/.." || exit 2
# shellcheck source=benchmarks/device_env.sh
. benchmarks/device_env.sh
d=${1:-/tmp/tl}; mkdir -p "$d"
python3 -c "from ufo.bench.stream import render_scan; render_scan('$d/scan.nx', 1024, 1024, 1024)"
drop() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || echo "page cache not dropped (not root)"; }
evict() { python3 -c "from ufo.bench.storage import evict; evict('$d/scan.nx')"; }
reco="python3 -m ufo reco --projections $d/scan.nx --output $d/o.h5:/data --overwrite -q --axis 512 --profile"
$reco > /dev/null 2>&1  # CuPy's kernel cache filled, the bytecode written
if [ -n "${SERVER:-}" ]; then  # SERVER=1: every variant sent to one warm `ufo reco --serve` (started here)
  export UFO_RECO_SERVER_FILE=$d/reco-server.json
  python3 -m ufo reco --serve > "$d/server.log" 2>&1 &
  server=$!
  for _ in $(seq 600); do [ -f "$UFO_RECO_SERVER_FILE" ] && break; sleep 0.2; done
  reco="$reco --on-server"
fi
# variants, '|' between them (VARIANTS overrides): options, and UFO_* variables for the command
variants=${VARIANTS:-"|UFO_PREFETCH=0|--pass-height 512|--pass-height 256|--pass-height 128|UFO_PREFETCH=0 --pass-height 256|--axis auto|--axis auto --pass-height 256|--output-bits 16|--output-bits 16 --pass-height 256"}
IFS='|' read -ra list <<< "$variants"
for cache in ${CACHES:-evict drop}; do
  for v in "${list[@]}"; do
    env=(); opt=()
    for w in $v; do case $w in UFO_*=*) env+=("$w") ;; *) opt+=("$w") ;; esac; done
    rm -f "$d/o.h5"; $cache; echo "=== $cache: $v"
    env "${env[@]}" /usr/bin/time -f "wall %e s (exit %x)" $reco "${opt[@]}" 2>&1 | grep -v -i warn | grep -E "timeline|wall|rror|(│|\|) (read|back-project|complete|download|write|waiting) "
  done
done
if [ -n "${SERVER:-}" ]; then kill -INT "$server"; wait "$server"; cat "$d/server.log"; fi
drop; python3 benchmarks/resident_parts.py "$d/scan.nx" "$d"
evict; python3 -c "
from ufo.bench.gpu_files import read_floor, write_floor
print(f'read floor: {read_floor(\"$d/scan.nx\"):.2f} s')
print(f'write floor (4.29 GB through the page cache): {write_floor(\"$d/floor.bin\", 1024 ** 3 * 4):.2f} s')"
nproc; free -g | head -2
rm -rf "$d"
