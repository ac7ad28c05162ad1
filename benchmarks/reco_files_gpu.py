"""The GPU path users run, file to file, against its I/O floor and GPU peers, one run.

1. `ufo reco` on a uint16 NXtomo scan of the 3-D phantom (20 darks, 20 flats, N projections)
   into HDF5 float32: wall time of the command (start, imports, CUDA init, read, reconstruct,
   write), axis given / `--axis auto` / `--output-bits 16`;
2. the I/O floor on the same disk in the same run: reading the scan's bytes, writing the
   output's bytes (through the page cache, as `ufo reco`: appended, into a file sized first or
   into reserved blocks, the fastest); floor = max(read, write) when they
   overlap, read + write when they do not;
3. host memory to host memory, each tool warmed up, same flat-corrected data: ufo's
   Backproject, httomolibgpu's FBP3d_tomobar and LPRec3d_tomobar, ASTRA's FBP_CUDA (what is
   installed: `pip install httomolibgpu astra-toolbox`, or on the device machine from carried
   wheels `export PYTHONPATH=$(bash benchmarks/peers/setup_peers.sh /tmp/peers):$PYTHONPATH`;
   a peer that fails says why).
--profile adds, untimed: each variant with `ufo reco --profile`, the parts of the axis search
(reading the middle sinogram, Vo's metric on the CPU and the GPU) and of the start-up.
Medians of --repeat interleaved runs. Without a GPU it prints "no GPU: skipped" and exits 0.
The measurements are ufo.bench.gpu_files'.

Run on the GPU machine: python benchmarks/reco_files_gpu.py [--size 1024] [--rows 1024]
[--angles 1024] [--dir /tmp/ufo-files] [--repeat 3] [--profile]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import sys

from ufo.bench.gpu_files import have_gpu, measure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1024, help="detector width = slice size")
    parser.add_argument("--rows", type=int, default=1024, help="detector rows = slices")
    parser.add_argument("--angles", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--astra-slices", type=int, default=64, help="slices for ASTRA's 2-D FBP_CUDA")
    parser.add_argument("--dir", default="/tmp/ufo-files", help="scratch folder on the disk to measure")
    parser.add_argument("--profile", action="store_true",
                        help="after the timed runs: each variant with `ufo reco --profile`, and the axis search's parts")
    args = parser.parse_args()
    if not have_gpu():
        print("no GPU: skipped (CuPy sees no CUDA device; run this on the GPU machine)")
        return
    from ufo.bench.gpu import device_name

    os.makedirs(args.dir, exist_ok=True)
    print(f"machine: {platform.node()}, {device_name()}, {os.cpu_count()} cores, {datetime.date.today()}")
    print(f"command: python {' '.join(sys.argv)}")
    try:
        r = measure(args.dir, args.size, args.rows, args.angles, args.repeat, args.astra_slices,
                    log=lambda line: print("  " + line, flush=True), profile=args.profile)
    finally:
        shutil.rmtree(args.dir, ignore_errors=True)
    n, rows, m = r.width, r.rows, r.angles
    print(f"\nfile to file: {m} projections of {rows} x {n} uint16 ({r.scan_bytes / 1e9:.2f} GB) -> {rows} slices of "
          f"{n}^2 float32 ({r.output_bytes / 1e9:.2f} GB), medians of {args.repeat}")
    print(f"  I/O floor: read {r.read:.2f} s (in order {r.read_in_order:.2f} s, queued {r.read_queued:.2f} s), "
          f"write {r.write:.2f} s (16-bit: {r.write16:.2f} s); overlapped "
          f"max {r.floor:.2f} s, not overlapped {r.read + r.write:.2f} s")
    for name, seconds in r.reco.items():
        floor = max(r.read, r.write16 if "bits 16" in name else r.write)
        print(f"  ufo reco, {name}: {seconds:.2f} s wall = {seconds / floor:.2f}x its floor ({rows / seconds:.0f} slices/s)")
    print(f"\nhost memory to host memory (each tool warmed up), {rows} slices unless said:")
    for name, slices, seconds, rmse in r.host:
        rate = f"{seconds:.2f} s for {slices} slices, {slices / seconds:.0f} slices/s" if slices else "-"
        print(f"  {name}: {rate}, RMSE {rmse}")


if __name__ == "__main__":
    main()
