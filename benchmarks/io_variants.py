"""The disk's and the page cache's own speeds behind `ufo reco`'s I/O choices (ufo.bench.io_variants):
page-cache writes from 1-8 threads, whole-file reads (1 and 4 threads, advised, cached), band reads
of every frame (1-8 threads, with and without advice).

Usage (root, Linux; the GPU machine): python benchmarks/io_variants.py DIR
(renders DIR/scan.nx, 1024 frames of 1024^2 uint16, when it is not there)
"""

from __future__ import annotations

import os
import sys

from ufo.bench.io_variants import band_reads, page_cache_writes, whole_reads


def main() -> None:
    folder = sys.argv[1] if len(sys.argv) > 1 else "/tmp/io-variants"
    os.makedirs(folder, exist_ok=True)
    scan = os.path.join(folder, "scan.nx")
    if not os.path.exists(scan):
        from ufo.bench.stream import render_scan

        render_scan(scan, 1024, 1024, 1024)
    for threads in (1, 2, 4, 8):
        seconds, _ = page_cache_writes(folder, threads)
        print(f"4.29 GB of 4 MiB pwrites through the page cache, {threads} thread(s): {seconds:.2f} s "
              f"({1024 * (4 << 20) / seconds / 1e9:.1f} GB/s)")
    seconds, synced = page_cache_writes(folder, 4, fsync=True)
    print(f"the same, 4 threads, then fsync: {seconds:.2f} s + {synced:.2f} s")
    for threads in (1, 4):
        print(f"whole file, 64 MiB reads, {threads} thread(s): {whole_reads(scan, threads):.2f} s")
    print(f"whole file after POSIX_FADV_WILLNEED on it: {whole_reads(scan, advise=True):.2f} s")
    whole_reads(scan, cold=False)
    print(f"whole file from the page cache: {whole_reads(scan, cold=False):.2f} s")
    for threads, band, advise in ((1, 256, True), (4, 256, True), (8, 128, True), (1, 128, True), (4, 256, False)):
        print(f"bands of {band} rows of every frame, {threads} thread(s), advice {'on' if advise else 'off'}: "
              f"{band_reads(scan, band, threads, advise):.2f} s")


if __name__ == "__main__":
    main()
