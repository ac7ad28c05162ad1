"""How long `ufo camera serve mock` at pco.edge size (2560 x 2160 x 16 bit, 200 frames/s) takes
to answer a client's start, and to deliver the first frame after it.

A client waits for both before its first frame; a start slower than the client's timeout ends
the client (issue: the mock built a 44 MB gradient at every start). No peer camera server runs
here: with --baseline DIR (a tree holding an older `ufo` package, e.g. scratch/old) the same
client times that tree's server in the same run, interleaved, for a before/after.

Run: python benchmarks/camera_start.py [--starts 10] [--baseline scratch/old]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import socket
import subprocess
import sys
import time

import numpy as np

from ufo.camera import open_camera


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(tree: str | None) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    # started from inside the tree: `python -m ufo` there imports its ufo/ (an editable install's
    # finder comes before PYTHONPATH, not before the working directory)
    proc = subprocess.Popen([sys.executable, "-m", "ufo", "camera", "serve", "mock", "-p", "sensor-width=2560",
                             "-p", "sensor-height=2160", "-p", "frames-per-second=200", "--port", str(port),
                             "--stream-port", str(free_port())], stderr=subprocess.PIPE, text=True,
                            cwd=os.path.abspath(tree) if tree else None)
    line = proc.stderr.readline()  # type: ignore[union-attr]
    if "serving camera" not in line:
        raise SystemExit(f"the server did not start: {line}")
    return proc, port


def one_start(port: int) -> tuple[float, float]:
    cam = open_camera("net", port=port, timeout=30.0)
    try:
        begin = time.perf_counter()
        cam.start_recording()
        started = time.perf_counter() - begin
        cam.grab()
        first = time.perf_counter() - begin - started
        cam.stop_recording()
        return started, first
    finally:
        cam.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--starts", type=int, default=10)
    parser.add_argument("--baseline", help="a tree with an older ufo package: its server timed beside this one")
    args = parser.parse_args()
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, {datetime.date.today()}")
    print(f"command: python {' '.join(sys.argv)}")
    servers = {"this checkout": serve(None)}
    if args.baseline:
        servers[f"baseline {args.baseline}"] = serve(args.baseline)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in servers}
    try:
        for _ in range(args.starts):
            for name, (_, port) in servers.items():  # interleaved
                times[name].append(one_start(port))
    finally:
        for proc, _ in servers.values():
            proc.kill()
            proc.wait(10)
    for name, runs in times.items():
        starts, firsts = np.array(runs).T * 1e3
        print(f"{name}: start answered in {np.median(starts):.1f} ms median ({starts.min():.1f}-{starts.max():.1f}), "
              f"first 8 MiB frame {np.median(firsts):.1f} ms after it ({firsts.min():.1f}-{firsts.max():.1f}); "
              f"{len(runs)} starts")


if __name__ == "__main__":
    main()
