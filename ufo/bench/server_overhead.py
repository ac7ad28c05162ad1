"""What a warm `ufo reco --serve` adds to a job: the client's wall time less the job's own.

Why: through the server a 1024^3 job is about 2.5 s against an I/O floor of about 1.3 s, and
whatever the client and the server add (the client's start, sending the job, the job's output
and exit status sent back) is paid by every scan. Small jobs make that share visible: a scan
of `rows` slices of `size`^2 from `angles` projections, `jobs` runs of `ufo reco --on-server
--profile` (two more first, not counted), the job's own wall time taken from its profile.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import time

from .gpu_files import warm_server


def measure(work: str, size: int = 256, rows: int = 64, angles: int = 256, jobs: int = 12) -> dict[str, float]:
    """Medians (seconds) of the client's wall time and of its part outside the job, and the least."""
    from .stream import render_scan

    os.makedirs(work, exist_ok=True)
    scan, output = os.path.join(work, "scan.nx"), os.path.join(work, "slices.h5")
    axis = render_scan(scan, size, rows, angles)
    command = [sys.executable, "-m", "ufo", "reco", "--projections", scan, "--output", f"{output}:/data",
               "--overwrite", "-q", "--axis", str(axis), "--profile", "--on-server"]
    walls, outside = [], []
    with warm_server(work) as env:
        for i in range(jobs + 2):
            t0 = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, env=env)
            wall = time.perf_counter() - t0
            found = re.search(r"\(([\d.]+) s wall", done.stdout + done.stderr)
            if done.returncode or found is None or "no reconstruction server is running" in done.stderr:
                raise RuntimeError(f"`{' '.join(command)}` failed ({done.returncode}): {done.stderr.strip()[-500:]}")
            if i >= 2:
                walls.append(wall)
                outside.append(wall - float(found.group(1)))
    return {"wall": statistics.median(walls), "outside": statistics.median(outside), "least outside": min(outside)}
