"""Frames from a camera server through a walker server to disk, vs writing locally, same run.

Servers are real `ufo tango camera` and `ufo tango walker` processes on 127.0.0.1 (no Tango
database); the client registers a camera endpoint, lets the walker write it and records N
frames of 2048 x 2048 uint16 (mock camera without pattern filling: the camera costs
nothing, the transport and the writer are measured). Rates count from the record command
to the walker's last frame on disk (its file closed).

Peers in the same run, same frames, same directory:
  local      mock camera -> HDF5 writer in one process (what a single host does)
  raw disk   the same bytes written with one write() per frame
None of them calls fsync: all measure writing into the page cache, as a scan does while the
kernel flushes behind it (use --dir on a tmpfs to take the disk out entirely).

Run: python benchmarks/tango_stream.py [--frames 400] [--dir /tmp] [--format h5|raw] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
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
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(kind: str, *args: str) -> tuple[subprocess.Popen, str]:
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
    from ufo.control.remote import RemoteWalker, TangoCamera

    camera_proc, camera_address = serve("camera", "-p", f"sensor-width={SHAPE[1]}", "-p", f"sensor-height={SHAPE[0]}",
                                        "-p", "pattern=none")
    walker_proc, walker_address = serve("walker", "--root", root, "--overwrite")
    try:
        async def main() -> float:
            camera = await TangoCamera(camera_address, "camera", timeout=60).connect()
            walker = await RemoteWalker(walker_address, "walker", timeout=60).connect()
            endpoint = await camera.register_endpoint()
            await walker.start_write(endpoint, dataset)
            t0 = time.perf_counter()
            await camera.acall("record", n)
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
    frame = np.random.default_rng(0).integers(0, 4096, SHAPE, dtype=np.uint16)
    t0 = time.perf_counter()
    with open(path, "wb") as f:
        for _ in range(n):
            f.write(memoryview(frame).cast("B"))
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=400)
    parser.add_argument("--dir", default=tempfile.gettempdir())
    parser.add_argument("--format", choices=("h5", "raw"), default="h5")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each path; the median is shown")
    args = parser.parse_args()
    n = args.frames
    work = tempfile.mkdtemp(prefix="ufo-bench-tango-", dir=args.dir)
    size = n * SHAPE[0] * SHAPE[1] * 2 / MB
    runs: dict[str, list[float]] = {}
    try:
        dataset = f"frames.{args.format}"
        for _ in range(args.repeat):  # interleaved, so page-cache writeback hits each path alike
            for name, measure in (
                    ("camera server -> walker server -> disk", lambda: remote(n, work, dataset)),
                    ("local: camera -> writer (one process)", lambda: local(n, os.path.join(work, f"local.{args.format}"))),
                    ("raw disk write (one write() per frame)", lambda: raw_disk(n, os.path.join(work, "raw.bin")))):
                runs.setdefault(name, []).append(measure())
                for leftover in os.listdir(work):  # each run starts on an empty directory
                    path = os.path.join(work, leftover)
                    shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
                os.sync()
        results = {name: float(np.median(times)) for name, times in runs.items()}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"# median of {args.repeat} interleaved runs; {n} frames {SHAPE[0]}x{SHAPE[1]} uint16 ({size:.0f} MB) to {args.dir} as {args.format}; "
          f"{platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    reference = size / results["local: camera -> writer (one process)"]
    print(f"{'path':42s} {'s':>8s} {'MB/s':>8s} {'vs local':>9s}")
    for name, seconds in results.items():
        rate = size / seconds
        print(f"{name:42s} {seconds:8.2f} {rate:8.0f} {rate / reference:8.2f}x")


if __name__ == "__main__":
    main()
