"""Runtime overhead benchmarks: ufo against the peers it must beat, measured in the same run.

1. Per-frame overhead: N frames of 16x16 float32 through a source, three `calculate v+1`
   maps and a sink. Peers: a bare chain of threads joined by `queue.Queue`s doing the same
   numpy work, and UFO's C runtime (`ufo-launch`, Debian's ufo-core, on the CPU through
   pocl) when it is installed.
2. Large frames: 8 MiB frames through a 4-node chain (fill, pass, pass, sum) against a plain
   single-thread loop calling the same functions on the same buffers.
3. Replication: a CPU-bound numba kernel (nogil) as a map with replicas=2 against replicas=1.

Run: python benchmarks/runtime.py [--frames 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import queue
import re
import shutil
import subprocess
import threading
import time

import numpy as np

import ufo
from ufo.core import Kind, Task


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


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=100_000, help="frames for the overhead benchmark")
    parser.add_argument("--large", type=int, default=200, help="8 MiB frames for the large-frame benchmark")
    parser.add_argument("--heavy", type=int, default=200, help="frames for the replication benchmark")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()
    n = args.frames
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    rows = []

    t_ufo = best(lambda: ufo_chain(n), args.repeat)
    t_queue = best(lambda: queue_chain(n), args.repeat)
    t_c = ufo_launch(n)
    rows.append(("overhead: ufo, 5 nodes, 16x16", f"{n / t_ufo:,.0f} frames/s", "", ""))
    rows.append(("overhead: threads + queue.Queue", f"{n / t_queue:,.0f} frames/s", f"ufo {t_queue / t_ufo:.2f}x", ""))
    if t_c is not None:
        rows.append(("overhead: UFO C (ufo-launch, pocl CPU)", f"{n / t_c:,.0f} frames/s", f"ufo {t_c / t_ufo:.2f}x",
                     "goal >= 2x, >= 30,000 frames/s"))
    else:
        rows.append(("overhead: UFO C (ufo-launch)", "not installed", "", "goal >= 30,000 frames/s"))

    m = args.large
    t_ufo_l = best(lambda: ufo_large(m), args.repeat)
    t_loop_l = best(lambda: loop_large(m), args.repeat)
    mb = m * TEMPLATE.nbytes / 1e6
    rows.append(("large frames: ufo 4-node chain, 8 MiB", f"{mb / t_ufo_l:,.0f} MB/s", "", ""))
    rows.append(("large frames: plain loop, same calls", f"{mb / t_loop_l:,.0f} MB/s", f"ufo {t_loop_l / t_ufo_l:.2f}x",
                 "goal >= 0.9x"))

    Heavy.kernel = make_kernel()
    Heavy.kernel(np.zeros((2, 2), np.float32), np.zeros((2, 2), np.float32))  # compile outside the timing
    k = args.heavy
    t1 = best(lambda: ufo_replicas(k, 1), args.repeat)
    t2 = best(lambda: ufo_replicas(k, 2), args.repeat)
    rows.append(("replication: numba nogil map, replicas=1", f"{k / t1:,.1f} frames/s", "", ""))
    rows.append(("replication: numba nogil map, replicas=2", f"{k / t2:,.1f} frames/s", f"{t1 / t2:.2f}x vs 1",
                 "goal >= 1.7x on 2 cores"))

    width = max(len(r[0]) for r in rows)
    print(f"{'benchmark':<{width}}  {'rate':>18}  {'ratio':>14}  goal")
    for name, rate, ratio, goal in rows:
        print(f"{name:<{width}}  {rate:>18}  {ratio:>14}  {goal}")


if __name__ == "__main__":
    main()
