"""A Dask worker that stops making progress (SIGSTOP, a hung NFS read) is restarted and its ranges
run again: `ufo reco --cluster local:2` with a stopped worker stayed at 96 of 128 slices for
good (450 s and more), its progress bar saying "4 s left". A real LocalCluster of 2 processes."""

from __future__ import annotations

import os
import time

import pytest

distributed = pytest.importorskip("distributed")


def _range(marker: str, index: int) -> int:
    """A range: the one at index 1 hangs the first time (its worker stopped), quick when run again."""
    import signal

    if index == 1 and not os.path.exists(marker):
        open(marker, "w").close()
        os.kill(os.getpid(), signal.SIGSTOP)  # the worker's whole process stops, heartbeats and all
    time.sleep(0.2)
    return index


def test_a_stopped_worker_is_restarted_and_its_range_runs_again(tmp_path):
    from ufo.distributed.stall import StallWatch

    marker = str(tmp_path / "hung-once")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        futures = {client.submit(_range, marker, i, pure=False): f"{i}..{i}" for i in range(6)}
        watch = StallWatch(client, {f.key: label for f, label in futures.items()}, least=2.0)
        t0 = time.monotonic()
        try:
            with pytest.warns(RuntimeWarning, match=r"finished no range for \d+ s .*restarting it, its ranges \([^)]*\b1\.\.1\b"):
                done = sorted(f.result() for f in distributed.as_completed(list(futures))
                              if watch.finished(f.key) is None)
        finally:
            watch.close()
        assert done == list(range(6)) and len(watch.restarted) == 1
        assert time.monotonic() - t0 < 60  # without the watch: never
