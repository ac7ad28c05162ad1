"""Reading a scan in bands of rows (pass order) from a cold disk, writing through the page cache, both
at once (ufo.bench.band_reads): what `ufo reco`'s passes can expect of a disk.

Run on the GPU machine's disk (root, to drop the page cache): python benchmarks/band_reads.py [DIR]
"""

from __future__ import annotations

import sys

from ufo.bench.band_reads import run


def main() -> None:
    run(sys.argv[1] if len(sys.argv) > 1 else "/tmp/probe")


if __name__ == "__main__":
    main()
