"""Reconstruction on a Dask LocalCluster against the single-process run, same data, same run.

`compare()` runs `ufo.reco.run` in this process (all cores), then `ufo.distributed.reconstruct`
on a LocalCluster of 1 worker (all cores) and of 2 workers (half the cores each), each into
an HDF5 volume; the cluster times include planning, the axis search and joining the parts,
not starting the cluster. Every cluster result is compared with the single-process slices.
benchmarks/cluster.py prints the figures.
"""

from __future__ import annotations

import os
import time

import h5py
import numpy as np

from ufo import distributed, reco
from ufo.storage import open_writer
from ufo.tomo.phantom import Phantom


def write_scan(path: str, width: int, rows: int, angles: int) -> None:
    """An NXtomo scan of the phantom: 5 darks, 5 flats, `angles` noisy projections over 180 degrees."""
    phantom = Phantom(width, height=rows)
    rng = np.random.default_rng(0)
    writer = open_writer(path)
    for key, level in ((2, 100), (1, 3100)):
        for _ in range(5):
            writer.write(np.full((rows, width), level, np.uint16), {"image_key": key})
    for i in range(angles):
        angle = i * np.pi / angles
        counts = 100 + 3000 * np.exp(-0.01 * phantom.projection(angle, width / 2 + 3.3)) + rng.normal(0, 5, (rows, width))
        writer.write(np.clip(np.rint(counts), 0, 65535).astype(np.uint16), {"image_key": 0, "angle": angle})
    writer.close()


def read(path: str) -> np.ndarray:
    """The volume an HDF5 output holds at /data."""
    with h5py.File(path, "r") as f:
        return f["data"][()]


def compare(work: str, scan: str) -> list[tuple[str, int, float, float]]:
    """[(run, threads, seconds, max |difference| from the single-process slices)], single process
    first; writes its volumes into `work`."""
    from distributed import Client, LocalCluster

    cores = os.cpu_count() or 1
    options = dict(projections=scan, axis="auto")
    t0 = time.perf_counter()
    reco.run(reco.plan(reco.RecoOptions(output=os.path.join(work, "single.h5:/data"), **options)))
    single = time.perf_counter() - t0
    expected = read(os.path.join(work, "single.h5"))
    rows = [("single process (reco.run)", cores, single, 0.0)]
    for workers in (1, 2):
        threads = max(1, cores // workers)
        with LocalCluster(n_workers=workers, threads_per_worker=threads, processes=True, host="127.0.0.1",
                          dashboard_address=None) as cluster, Client(cluster) as client:
            out = os.path.join(work, f"cluster{workers}.h5")
            t0 = time.perf_counter()
            distributed.reconstruct(reco.RecoOptions(output=out + ":/data", **options), client)
            seconds = time.perf_counter() - t0
            difference = float(np.abs(read(out) - expected).max())
        rows.append((f"LocalCluster, {workers} worker(s) x {threads} thread(s)", workers * threads, seconds,
                     difference))
    return rows
