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

import numpy as np

import ufo
from ufo.core import Kind, Task

from .measure import Measure


def best(fn, repeat):
    return min(fn() for _ in range(repeat))


# -- 1. per-frame overhead -------------------------------------------------------------
def ufo_chain(n):
    s = ufo.DummyData(width=16, height=16, number=n)()
    for _ in range(3):
        s = ufo.Calculate(expression="v+1")(s)
    t0 = time.perf_counter()
    ufo.Null()(s).run().wait()
    return time.perf_counter() - t0


def queue_chain(n):
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


def ufo_launch(n):
    exe = shutil.which("ufo-launch")
    if exe is None:
        return None
    cmd = [exe, "dummy-data", "width=16", "height=16", f"number={n}"]
    for _ in range(3):
        cmd += ["!", "calculate", "expression=v+1"]
    cmd += ["!", "null"]
    env = dict(os.environ, UFO_DEVICE_TYPE="cpu")
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    match = re.search(r"Finished in ([0-9.]+)s", out.stdout + out.stderr)
    return float(match.group(1)) if match else None


# -- 2. large frames -----------------------------------------------------------------
SHAPE = (2048, 1024)  # 8 MiB of float32
TEMPLATE = np.random.default_rng(0).random(SHAPE).astype(np.float32)


def fill(out):
    np.copyto(out, TEMPLATE)
    return out


def pass_through(frame):
    return frame


def total(frame):
    return float(frame.sum())


class Fill(Task):
    name = "bench-fill"
    kind = Kind.SOURCE
    inputs = ()

    def __init__(self, n):
        super().__init__()
        self.n = n

    def output_spec(self):
        return ufo.Spec(SHAPE, np.float32, self.n)

    def generate(self):
        for _ in range(self.n):
            frame = self.ctx.buffer()
            fill(frame.data)
            yield frame


class Pass(Task):
    name = "bench-pass"
    kind = Kind.MAP
    own_output = True

    def process(self, frame, out):
        return pass_through(frame)


class Sum(Task):
    name = "bench-sum"
    kind = Kind.SINK

    def consume(self, frame):
        total(frame)


def ufo_large(n):
    t0 = time.perf_counter()
    Sum()(Pass()(Pass()(Fill(n)()))).run().wait()
    return time.perf_counter() - t0


def loop_large(n):
    buffer = np.empty(SHAPE, np.float32)
    t0 = time.perf_counter()
    for _ in range(n):
        total(pass_through(pass_through(fill(buffer))))
    return time.perf_counter() - t0


# -- 3. replication ------------------------------------------------------------------
def make_kernel():
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

    def process(self, frame, out):
        Heavy.kernel(frame, out)
        return out


def ufo_replicas(n, replicas):
    frames = np.random.default_rng(0).random((n, 128, 128)).astype(np.float32)
    t0 = time.perf_counter()
    ufo.Null()(Heavy(replicas=replicas)(frames)).run().wait()
    return time.perf_counter() - t0


def measure(scale: float = 1.0) -> list[Measure]:
    n = max(1000, int(20_000 * scale))
    t_ufo = best(lambda: ufo_chain(n), 2)
    t_queue = best(lambda: queue_chain(n), 2)
    rows = [Measure("runtime", "per-frame overhead, 5 nodes, 16x16 frames", n / t_ufo, "threads + queue.Queue",
                    n / t_queue, "frames/s")]
    t_c = ufo_launch(n)
    rows.append(Measure("runtime", "per-frame overhead, 5 nodes, 16x16 frames", n / t_ufo, "UFO C (ufo-launch)",
                        n / t_c if t_c else None, "frames/s", "" if t_c else "ufo-launch not installed"))
    m = max(20, int(150 * scale))
    t_large = best(lambda: ufo_large(m), 2)
    t_loop = best(lambda: loop_large(m), 2)
    mb = m * TEMPLATE.nbytes / 1e6
    rows.append(Measure("runtime", "8 MiB frames through 4 nodes", mb / t_large, "plain loop, same calls", mb / t_loop,
                        "MB/s"))
    return rows
