"""ufo.bench.command_end: a `ufo reco` command run with its end timed, and its exit status kept."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "command_end.py"


def test_the_end_of_a_command_is_timed_and_its_status_kept(tmp_path):
    from .resident_scan import write_scan

    scan = write_scan(str(tmp_path / "scan.nx"))[0]
    done = subprocess.run([sys.executable, str(SCRIPT), "--projections", scan, "--output", str(tmp_path / "o.h5:/data"),
                           "--gpus", "cpu", "-q", "--axis", "48"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    main = re.search(r"probe: main\(\) ([0-9.]+) s, exit status 0, non-daemon threads alive: \[\]", done.stderr)
    handlers = re.search(r"probe: exit handlers ([0-9.]+) s", done.stderr)
    assert main and handlers and float(main.group(1)) > 0
    assert (tmp_path / "o.h5").stat().st_size > 20 * 96 * 96 * 4  # the slices were written
    bad = subprocess.run([sys.executable, str(SCRIPT), "--projections", str(tmp_path / "missing.nx")],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "exit status 2" in bad.stderr  # a missing input: a path to fix (usage)
