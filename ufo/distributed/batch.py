"""Batch reconstruction on a Dask cluster: one task per row range, reading the shared input."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from ..core.errors import InputError, UfoError, UsageError
from .. import reco as reco_mod
from .outputs import RegionWriter, join_hdf5, merged_ranges, prepare_output, record_range
from .stall import StallWatch
from .ranges import Part, gpu_memory_of_workers, rows_per_part, split


@dataclass
class DistributedResult:
    slices: int
    parts: int
    workers: int
    axis: float
    seconds: float
    output: str

    @property
    def slices_per_second(self) -> float:
        return self.slices / self.seconds if self.seconds else 0.0


def _part_options(options: reco_mod.RecoOptions, rows: list[int], part: Part, axis: float,
                  output: str, replicas: int) -> reco_mod.RecoOptions:
    chunk = rows[part.first: part.stop]
    step = rows[1] - rows[0] if len(rows) > 1 else 1
    return replace(options, region=f"{chunk[0]}:{chunk[-1] + 1}:{step}", axis=axis, output=output, overwrite=True,
                   replicas=replicas)


def _volume_metadata(plan: reco_mod.Plan, options: reco_mod.RecoOptions, axis: float) -> dict[str, Any]:
    """What the write task stores with a single process's volume: how it was made, the rows and,
    for 8/16 bits, the scale (a Zarr array made before the workers write gets it; HDF5 and TIFF
    parts are written by the write task itself)."""
    from ..reco.outputs import output_metadata
    from ..storage.convert import stored_metadata

    rows = plan.rows
    return stored_metadata(output_metadata(plan, axis), options.output_bits, options.output_min, options.output_max,
                           first_row=rows[0], row_step=rows[1] - rows[0] if len(rows) > 1 else 1)


def reconstruct_part(options: reco_mod.RecoOptions, rows: list[int], part: Part, axis: float,
                     target: dict[str, Any]) -> int:
    """Runs on a worker: reconstruct one range into its place in the output; returns its slice count."""
    try:
        from distributed import get_worker

        replicas = get_worker().state.nthreads
    except (ImportError, ValueError):
        replicas = os.cpu_count() or 1
    kind = target["kind"]
    output = target["part_path"].format(first=part.first) if kind == "hdf5" else options.output
    if kind == "hdf5":  # a part file cut short by a worker lost mid-write is no HDF5 file: the re-run replaces it
        with contextlib.suppress(FileNotFoundError):
            os.remove(output.rsplit(":", 1)[0])
    opts = _part_options(options, rows, part, axis, output, replicas)
    plan = reco_mod.plan(opts)
    if kind == "zarr":
        reco_mod.run(plan, sink=lambda _plan, p: RegionWriter(target["store"], target["array"],
                                                                part.first + p.first_slice, opts.output_bits,
                                                                opts.output_min, opts.output_max))
    elif kind == "tiff":
        for p in plan.passes:  # global numbering: this range's first file is slice `part.first`
            sink = reco_mod.writer(plan, p, first_slice=part.first, axis=axis)  # the axis in its metadata
            sink.exclusive = False  # type: ignore[attr-defined]  # the workers write parts of one sequence
            graph, _ = reco_mod.graph(plan, p, axis, sink)
            graph.run(device=opts.gpus).wait()
    else:
        reco_mod.run(plan)
    return part.slices


def _part_told(*args: Any) -> tuple[int, list[tuple[str, type[Warning]]]]:
    """`reconstruct_part` with its warnings kept for the client, which says each once: printed by the
    workers they came as raw Python warnings naming dask's or threading's lines, each worker's."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        count = reconstruct_part(*args)
    return count, [(str(w.message), w.category) for w in caught]


def _kept(target: dict[str, Any], finished: list[Part], total: int, output: str) -> str:
    """What a stopped or lost run leaves: the HDF5 volume of the ranges finished joined (before, only
    its parts' folder was there, and the message named a file that did not exist), and which."""
    ranges = merged_ranges(finished)
    if target["kind"] == "hdf5" and finished:
        try:
            join_hdf5(target, finished, total)
        except Exception as exc:  # noqa: BLE001 - the parts stay; say where
            return (f"{sum(p.slices for p in finished)} of {total} slices were written, in {target['file']}.parts "
                    f"(joining them failed: {exc})")
    where = output if target["kind"] != "hdf5" or finished else f"{target['file']}.parts"
    shown = ", ".join(f"{a}..{b - 1}" for a, b in ranges) or "none"
    return (f"{sum(p.slices for p in finished)} of {total} slices were written to {where} (slices {shown}; the "
            "rest are missing)")


def _lost(exc: BaseException) -> bool:
    """Whether `exc` says the cluster went (scheduler connection lost, futures cancelled, workers
    killed again and again) rather than a part's own failure."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    module = type(exc).__module__ or ""
    return bool(names & {"CancelledError", "FutureCancelledError", "CommClosedError", "KilledWorker",
                         "StreamClosedError"}) or module.startswith(("distributed", "tornado"))


@contextlib.contextmanager
def connect(address: str) -> Iterator[Any]:
    """A Dask client for 'local:N' (a LocalCluster of N worker processes on 127.0.0.1) or a scheduler address."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as err:
        raise UsageError("--cluster needs Dask: pip install 'ufo[cluster]'") from err
    if address.startswith("local"):
        _, _, count = address.partition(":")
        try:
            workers = int(count) if count else (os.cpu_count() or 1)
        except ValueError as err:
            raise UsageError(f"--cluster '{address}': write local:N with N worker processes") from err
        if workers < 1:  # local:0 divided by zero below
            raise UsageError(f"--cluster '{address}': local:N needs at least 1 worker process")
        threads = max(1, (os.cpu_count() or 1) // workers)
        with _interrupts_left_to_this_process():
            cluster = LocalCluster(n_workers=workers, threads_per_worker=threads, processes=True, host="127.0.0.1",
                                   dashboard_address=None, silence_logs=logging.ERROR)  # a stop's "ended with
            # CancelledError" lines; the parts' own warnings come back with their results
        with cluster, Client(cluster) as client:
            yield client
        return
    try:
        _probe(address, 10.0)
        client = Client(address, timeout="10s")
    except Exception as exc:  # noqa: BLE001 - refused, timed out, or something else answering (a dashboard)
        raise UsageError(f"--cluster '{address}': no Dask scheduler answers there ({exc or 'no handshake in 10 s'}); "
                         "start one with 'dask scheduler' and workers with 'dask worker ADDRESS'") from exc
    with client:  # errors of the run itself are not about the address
        yield client


@contextlib.contextmanager
def _interrupts_left_to_this_process() -> Iterator[None]:
    """SIGINT ignored while the local workers start: a process started with SIGINT ignored keeps
    it ignored (Python and asyncio install no KeyboardInterrupt handler then). Why: the terminal's
    Ctrl-C goes to the whole process group, and every worker printed two tracebacks of its own
    KeyboardInterrupt under the client's "interrupted"; the client stops the workers itself. (A
    Ctrl-C in the second it takes to start them is lost.)"""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def _local(client: Any) -> bool:
    """Whether `client`'s workers are a LocalCluster's (`local:N`)."""
    from distributed import LocalCluster

    return isinstance(getattr(client, "cluster", None), LocalCluster)


def _probe(address: str, timeout: float) -> None:
    """Connect and handshake within `timeout` seconds: Dask bounds the connect but not the handshake, so
    an address where something else listens (the dashboard's HTTP port) would hang the client forever."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from distributed.comm import connect as comm_connect

    async def handshake() -> None:
        comm = await asyncio.wait_for(comm_connect(address, timeout=timeout), timeout + 1)
        await comm.close()

    pool = ThreadPoolExecutor(1)  # its own event loop: also from a thread (Jupyter) that runs one
    try:
        pool.submit(asyncio.run, handshake()).result(timeout + 5)
    finally:
        pool.shutdown(wait=False)


def reconstruct(options: reco_mod.RecoOptions, client: Any, rows_per_task: int | None = None,
                on_progress: Callable[[int, int], None] | None = None) -> DistributedResult:
    """Reconstruct `options` (as `ufo reco` takes them) on the workers of a Dask `client`.

    `on_progress(slices_done, slices_total)` is called on the client as ranges finish.
    """
    from distributed import as_completed

    t0 = time.perf_counter()
    plan = reco_mod.plan(options)
    axis = plan.axis
    if options.axis == "auto":
        axis = reco_mod.find_axis(plan)
    if axis is None:
        axis = plan.width / 2
    from ..reco.outputs import with_output_scale

    scaled = with_output_scale(plan, axis, reco_mod.graph).options  # 8/16 bits: one scale for every part
    options = replace(options, output_min=scaled.output_min, output_max=scaled.output_max)
    workers = client.scheduler_info(n_workers=-1)["workers"]
    if not workers:
        raise UsageError("the Dask cluster has no workers")
    gpus = gpu_memory_of_workers(client) if options.gpus != "cpu" else {}
    parts = split(plan.slices, rows_per_task or rows_per_part(plan, workers, gpu_memory=gpus))
    o = plan.options
    shape = plan.slice_shape(axis)  # wider than the detector with half acquisition
    target = prepare_output(o.output, plan.slices, shape, options.overwrite, options.output_bits,
                            _volume_metadata(plan, options, float(axis)))
    # workers started with `--resources GPU=n` run one range per GPU at a time
    resources = {"GPU": 1} if all("GPU" in (w.get("resources") or {}) for w in workers.values()) else None
    futures = {client.submit(_part_told, options, plan.rows, part, float(axis), target, pure=False,
                             resources=resources, key=f"ufo-reco-{part.first}-{part.stop}-{time.time_ns()}"): part
               for part in parts}
    done = 0
    written: list[list[int]] = []  # the ranges finished, recorded in a Zarr volume as they finish
    finished: list[Part] = []
    watch = StallWatch(client, {f.key: f"{p.first}..{p.stop - 1}" for f, p in futures.items()}) \
        if _local(client) else None  # alike workers this process started (stall.py)
    try:
        told: set[str] = set()
        for future in as_completed(list(futures)):
            count, caught = future.result()
            if watch is not None:
                watch.finished(future.key)
            done += count
            for message, category in caught:
                if message not in told:
                    told.add(message)
                    warnings.warn(message, category, stacklevel=2)
            finished.append(futures[future])
            record_range(target, written, futures[future])
            if on_progress is not None:
                on_progress(done, plan.slices)
    except (UfoError, KeyboardInterrupt) as exc:  # a part's own error (ufo's, raised again here), Ctrl-C
        client.cancel(list(futures))
        if isinstance(exc, KeyboardInterrupt):
            sys.stderr.write(f"interrupted: {_kept(target, finished, plan.slices, o.output)}\n")
        raise
    except Exception as exc:
        client.cancel(list(futures))
        if _lost(exc):
            raise InputError(f"the Dask cluster lost the run ({type(exc).__name__}: {exc}); "
                             f"{_kept(target, finished, plan.slices, o.output)}: run it again once the scheduler "
                             "and workers are up") from exc
        raise
    finally:
        if watch is not None:
            watch.close()
    if target["kind"] == "hdf5":
        join_hdf5(target, parts)
    record_range(target, written, None)
    return DistributedResult(plan.slices, len(parts), len(workers), float(axis), time.perf_counter() - t0,
                             options.output)
