"""Runtime overhead against its peers: per-frame cost, large frames, replication.

Peers in the same run: a bare chain of threads joined by `queue.Queue`s doing the same
numpy work, UFO's C runtime (`ufo-launch`, when installed), and a plain loop calling the
same functions on the same buffers (large frames).
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

import ufo
from ufo.core import Kind, Task

from .measure import Measure


def best(fn: Callable[[], float], repeat: int) -> float:
    """The best of `repeat` timings: the least disturbed by the rest of the machine."""
    return min(fn() for _ in range(repeat))


# -- 1. per-frame overhead -------------------------------------------------------------
def ufo_chain(n: int) -> float:
    """Seconds for n 16x16 frames through dummy-data, three `calculate v+1` and null."""
    s = ufo.DummyData(width=16, height=16, number=n)()
    for _ in range(3):
        s = ufo.Calculate(expression="v+1")(s)
    t0 = time.perf_counter()
    ufo.Null()(s).run().wait()
    return time.perf_counter() - t0


def queue_chain(n: int) -> float:
    """The baseline from the issue: threads and bounded queue.Queue, same numpy work."""
    end = object()
    qs = [queue.Queue(maxsize=64) for _ in range(4)]
    frame = np.zeros((16, 16), np.float32)

    def source():
        for _ in range(n):
            qs[0].put(frame)
        qs[0].put(end)

    def stage(i):
        get, put = qs[i].get, qs[i + 1].put
        while (x := get()) is not end:
            put(x + 1)
        put(end)

    def sink():
        get = qs[3].get
        while get() is not end:
            pass

    threads = [threading.Thread(target=source)] + [threading.Thread(target=stage, args=(i,)) for i in range(3)]
    threads.append(threading.Thread(target=sink))
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


PEER_C = "UFO C (ufo-launch, OpenCL on pocl's CPU driver: UFO_DEVICE_TYPE=cpu)"


def ufo_launch(n: int, repeat: int = 1) -> float | None:
    """UFO's C runtime on the same chain (its own timing), the best of `repeat` runs as ufo's
    figure is; None where ufo-launch is not installed. It runs on pocl's CPU OpenCL device (no
    GPU is used by either side), which every table names."""
    exe = shutil.which("ufo-launch")
    if exe is None:
        return None
    cmd = [exe, "dummy-data", "width=16", "height=16", f"number={n}"]
    for _ in range(3):
        cmd += ["!", "calculate", "expression=v+1"]
    cmd += ["!", "null"]
    env = dict(os.environ, UFO_DEVICE_TYPE="cpu")
    times = []
    for _ in range(repeat):
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        match = re.search(r"Finished in ([0-9.]+)s", out.stdout + out.stderr)
        if not match:
            return None
        times.append(float(match.group(1)))
    return min(times)


# -- 2. large frames -----------------------------------------------------------------
SHAPE = (2048, 1024)  # 8 MiB of float32
TEMPLATE = np.random.default_rng(0).random(SHAPE).astype(np.float32)


def fill(out: np.ndarray) -> np.ndarray:
    """The source's work: an 8 MiB copy."""
    np.copyto(out, TEMPLATE)
    return out


def pass_through(frame: np.ndarray) -> np.ndarray:
    """A map that costs nothing: what remains is the runtime's own cost."""
    return frame


def total(frame: np.ndarray) -> float:
    """The sink's work: one pass over the frame."""
    return float(frame.sum())


class Fill(Task):
    name = "bench-fill"
    kind = Kind.SOURCE
    inputs = ()

    def __init__(self, n):
        super().__init__()
        self.n = n

    def output_spec(self) -> ufo.Spec:  # type: ignore[override]
        return ufo.Spec(SHAPE, np.float32, self.n)

    def generate(self) -> Iterator[Any]:
        for _ in range(self.n):
            frame = self.ctx.buffer()
            fill(frame.data)
            yield frame


class Pass(Task):
    name = "bench-pass"
    kind = Kind.MAP
    own_output = True

    def process(self, frame: np.ndarray, out: Any) -> np.ndarray:  # type: ignore[override]
        return pass_through(frame)


class Sum(Task):
    name = "bench-sum"
    kind = Kind.SINK

    def consume(self, frame: np.ndarray) -> None:  # type: ignore[override]
        total(frame)


def ufo_large(n: int) -> float:
    """Seconds for n 8 MiB frames through fill, pass, pass, sum as a ufo graph."""
    t0 = time.perf_counter()
    Sum()(Pass()(Pass()(Fill(n)()))).run().wait()
    return time.perf_counter() - t0


def loop_large(n: int) -> float:
    """Seconds for the same calls on the same buffer in a plain loop (the peer)."""
    buffer = np.empty(SHAPE, np.float32)
    t0 = time.perf_counter()
    for _ in range(n):
        total(pass_through(pass_through(fill(buffer))))
    return time.perf_counter() - t0


# -- 3. replication ------------------------------------------------------------------
def make_kernel() -> Callable[[np.ndarray, np.ndarray], None]:
    """A CPU-bound numba kernel that releases the GIL (what replicas can spread over cores)."""
    import numba

    @numba.njit(nogil=True, cache=False)
    def heavy(x, out):
        for i in range(x.shape[0]):
            for j in range(x.shape[1]):
                v = x[i, j]
                for _ in range(40):
                    v = np.sin(v) + np.cos(v)
                out[i, j] = v

    return heavy


class Heavy(Task):
    name = "bench-heavy"
    kind = Kind.MAP
    kernel = None

    def process(self, frame: np.ndarray, out: np.ndarray) -> np.ndarray:  # type: ignore[override]
        Heavy.kernel(frame, out)
        return out


def ufo_replicas(n: int, replicas: int) -> float:
    """Seconds for n 128^2 frames through the heavy map with `replicas` copies."""
    frames = np.random.default_rng(0).random((n, 128, 128)).astype(np.float32)
    t0 = time.perf_counter()
    ufo.Null()(Heavy(replicas=replicas)(frames)).run().wait()
    return time.perf_counter() - t0


@dataclass
class RuntimeRun:
    """The detailed run's figures (benchmarks/runtime.py prints them): best seconds of each."""

    frames: int  # per-frame overhead: 16x16 frames through 5 nodes
    ufo: float
    queue: float  # threads + queue.Queue
    ufo_launch: float | None  # UFO's C runtime; None: not installed
    large_mb: float  # 8 MiB frames through 4 nodes
    ufo_large: float
    loop_large: float  # plain loop, same calls
    heavy: int  # frames through a numba nogil map
    replicas_1: float
    replicas_2: float


def detailed(frames: int, large: int, heavy: int, repeat: int) -> RuntimeRun:
    """Per-frame overhead, large frames and replication, each against its peer in this run."""
    t_ufo = best(lambda: ufo_chain(frames), repeat)
    t_queue = best(lambda: queue_chain(frames), repeat)
    t_c = ufo_launch(frames, repeat)
    t_large = best(lambda: ufo_large(large), repeat)
    t_loop = best(lambda: loop_large(large), repeat)
    Heavy.kernel = make_kernel()
    Heavy.kernel(np.zeros((2, 2), np.float32), np.zeros((2, 2), np.float32))  # compile outside the timing
    t1 = best(lambda: ufo_replicas(heavy, 1), repeat)
    t2 = best(lambda: ufo_replicas(heavy, 2), repeat)
    return RuntimeRun(frames, t_ufo, t_queue, t_c, large * TEMPLATE.nbytes / 1e6, t_large, t_loop, heavy, t1, t2)


def measure(scale: float = 1.0) -> list[Measure]:
    """`ufo bench`'s runtime rows: per-frame overhead against threads + queue.Queue and ufo-launch, large frames."""
    n = max(1000, int(20_000 * scale))
    t_ufo = best(lambda: ufo_chain(n), 2)
    t_queue = best(lambda: queue_chain(n), 2)
    rows = [Measure("runtime", "per-frame overhead, 5 nodes, 16x16 frames", n / t_ufo, "threads + queue.Queue",
                    n / t_queue, "frames/s")]
    t_c = ufo_launch(n, 2)
    rows.append(Measure("runtime", "per-frame overhead, 5 nodes, 16x16 frames", n / t_ufo, PEER_C,
                        n / t_c if t_c else None, "frames/s", "" if t_c else "ufo-launch not installed"))
    m = max(20, int(150 * scale))
    t_large = best(lambda: ufo_large(m), 2)
    t_loop = best(lambda: loop_large(m), 2)
    mb = m * TEMPLATE.nbytes / 1e6
    rows.append(Measure("runtime", "8 MiB frames through 4 nodes", mb / t_large, "plain loop, same calls", mb / t_loop,
                        "MB/s"))
    return rows
