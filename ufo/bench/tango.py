"""Frames from a camera server through a walker server to disk, vs writing locally, same run.

Servers are real `ufo tango camera` and `ufo tango walker` processes on 127.0.0.1 (no Tango
database); the client registers a camera endpoint, lets the walker write it and records N
frames of 2048 x 2048 uint16 (mock camera without pattern filling: the camera costs
nothing, the transport and the writer are measured). Rates count from the record command
to the walker's last frame on disk (its file closed). Peers, same frames, same directory:
mock camera -> HDF5 writer in one process, and the same bytes with one write() per frame.
benchmarks/tango_stream.py prints `compare()`'s figures.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np

SHAPE = (2048, 2048)
MB = 1e6


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the servers take it a moment later)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(kind: str, *args: str) -> tuple[subprocess.Popen, str]:
    """Start `ufo tango KIND` without a database; (its process, its address) once it answers."""
    import tango

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "ufo", "tango", kind, "--port", str(port), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    address = f"tango://127.0.0.1:{port}/ufo/{kind}/1#dbase=no"
    for _ in range(150):
        try:
            tango.DeviceProxy(address).state()
            return proc, address
        except tango.DevFailed:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"ufo tango {kind} did not start")


def remote(n: int, root: str, dataset: str) -> float:
    """Seconds from the record command to the walker server's last of `n` frames on disk."""
    from ufo.tango.client import tango_detector, tango_walker

    camera_proc, camera_address = serve("camera", "-p", f"sensor-width={SHAPE[1]}", "-p", f"sensor-height={SHAPE[0]}",
                                        "-p", "pattern=none")
    walker_proc, walker_address = serve("walker", "--root", root, "--overwrite")
    try:
        async def main() -> float:
            camera = await tango_detector(camera_address, "camera", timeout=60).connect()
            walker = await tango_walker(walker_address, "walker", timeout=60).connect()
            endpoint = await camera.register_endpoint()
            await walker.start_write(endpoint, dataset)
            t0 = time.perf_counter()
            await camera.io.call("record", n)
            await camera.wait_while(("running",))
            await camera.unregister_endpoint(endpoint)
            written = await walker.wait()
            elapsed = time.perf_counter() - t0
            assert written == n, f"walker wrote {written} of {n} frames"
            return elapsed

        return asyncio.run(main())
    finally:
        for proc in (camera_proc, walker_proc):
            proc.kill()
            proc.wait()


def local(n: int, path: str) -> float:
    """Seconds for mock camera -> writer in this process, the single-host peer."""
    from ufo.camera import open_camera
    from ufo.storage.writers import open_writer

    cam = open_camera("mock", sensor_width=SHAPE[1], sensor_height=SHAPE[0], pattern="none")
    out = np.empty(SHAPE, np.uint16)
    t0 = time.perf_counter()
    with cam.recording(), open_writer(path, overwrite=True) as writer:
        for _ in range(n):
            frame = cam.grab(out=out)
            writer.write(out, frame.meta)
    return time.perf_counter() - t0


def raw_disk(n: int, path: str) -> float:
    """Seconds to write the same bytes with one write() per frame."""
    frame = np.random.default_rng(0).integers(0, 4096, SHAPE, dtype=np.uint16)
    t0 = time.perf_counter()
    with open(path, "wb") as f:
        for _ in range(n):
            f.write(memoryview(frame).cast("B"))
    return time.perf_counter() - t0


def compare(n: int, directory: str, fmt: str = "h5", repeat: int = 3) -> dict[str, float]:
    """Median seconds of each path ({path: seconds}), `repeat` runs of each interleaved so that
    page-cache writeback hits each alike; every run starts on an empty directory."""
    work = tempfile.mkdtemp(prefix="ufo-bench-tango-", dir=directory)
    runs: dict[str, list[float]] = {}
    try:
        dataset = f"frames.{fmt}"
        for _ in range(repeat):
            for name, measure in (
                    ("camera server -> walker server -> disk", lambda: remote(n, work, dataset)),
                    ("local: camera -> writer (one process)", lambda: local(n, os.path.join(work, f"local.{fmt}"))),
                    ("raw disk write (one write() per frame)", lambda: raw_disk(n, os.path.join(work, "raw.bin")))):
                runs.setdefault(name, []).append(measure())
                for leftover in os.listdir(work):
                    path = os.path.join(work, leftover)
                    shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
                os.sync()
        return {name: float(np.median(times)) for name, times in runs.items()}
    finally:
        shutil.rmtree(work, ignore_errors=True)
