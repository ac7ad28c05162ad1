"""Vo's axis search against photon noise, ufo's and algotom's on the same sinograms (ufo.bench.axis_noise).

    python benchmarks/axis_vo_noise.py [PHANTOMS] [SEED]
"""

from __future__ import annotations

import sys

from ufo.bench.axis_noise import run


def main() -> None:
    args = sys.argv[1:]
    run(int(args[0]) if args else 12, int(args[1]) if len(args) > 1 else 7)


if __name__ == "__main__":
    main()
