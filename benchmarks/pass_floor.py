"""The disk work of reconstructing in passes, with no reconstruction (ufo.bench.pass_floor): how near
its I/O floor the pass design itself can come on this disk, whatever implements it; with
`mapped`, whether one file fills faster through a memory map from several threads.

Run on the GPU machine's disk (root, to drop the page cache):
    python benchmarks/pass_floor.py [DIR] [ROUNDS] [mapped]
"""

from __future__ import annotations

import sys

from ufo.bench.pass_floor import mapped_run, run


def main() -> None:
    args = sys.argv[1:]
    directory = args[0] if args else "/tmp/pass-floor"
    rounds = int(args[1]) if len(args) > 1 else 3
    (mapped_run if "mapped" in args[2:] else run)(directory, rounds)


if __name__ == "__main__":
    main()
