"""A camera server's start at pco.edge size (benchmarks/camera_start.py): how long `ufo camera
serve mock` (2560 x 2160 x 16 bit, 200 frames/s) takes to answer a client's start and to deliver
the first frame after it, for this checkout's server and, optionally, an older tree's, interleaved."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from ..camera import open_camera
from .tango import free_port


def serve(tree: str | None) -> tuple[subprocess.Popen[str], int]:
    """`ufo camera serve mock` at pco.edge size; started from inside `tree` when given: `python -m ufo`
    there imports its ufo/ (an editable install's finder comes before PYTHONPATH, not before the
    working directory)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "ufo", "camera", "serve", "mock", "-p", "sensor-width=2560",
                             "-p", "sensor-height=2160", "-p", "frames-per-second=200", "--port", str(port),
                             "--stream-port", str(free_port())], stderr=subprocess.PIPE, text=True,
                            cwd=os.path.abspath(tree) if tree else None)
    line = proc.stderr.readline()  # type: ignore[union-attr]
    if "serving camera" not in line:
        proc.kill()
        raise RuntimeError(f"the camera server did not start: {line}")
    return proc, port


def one_start(port: int) -> tuple[float, float]:
    """(seconds until the start was answered, seconds from then to the first frame)."""
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


def starts(count: int, baseline: str | None = None) -> dict[str, list[tuple[float, float]]]:
    """`count` starts of each server (this checkout's, and `baseline`'s tree when given), interleaved."""
    servers = {"this checkout": serve(None)}
    if baseline:
        servers[f"baseline {baseline}"] = serve(baseline)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in servers}
    try:
        for _ in range(count):
            for name, (_, port) in servers.items():
                times[name].append(one_start(port))
    finally:
        for proc, _ in servers.values():
            proc.kill()
            proc.wait(10)
    return times
