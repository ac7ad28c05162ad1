"""Where a whole `ufo reco` command's end goes (ufo.bench.command_end): run it as `ufo reco ARGS`
and compare the 'probe:' lines with the wall time around it.

Run (the GPU machine): /usr/bin/time -f "wall %e" python3 benchmarks/command_end.py --projections scan.nx
    --output o.h5:/data --axis 512 --profile
"""

from __future__ import annotations

import sys

from ufo.bench.command_end import run_timed
from ufo.cli import main as cli


def main() -> None:
    run_timed(sys.argv[1:], cli._start_reco, cli.main)


if __name__ == "__main__":
    main()
