"""Reconstruction spread over a Dask cluster: row ranges on workers, one output.

The client plans as `ufo reco` does (`tomo/reco.plan`), finds the axis once, and splits the
rows into ranges sized by the workers' memory; every range is one Dask task that runs the
same ufo graph on its rows, reading the shared input file itself. Outputs are written in
parts that never overlap: a TIFF sequence numbers its files globally, HDF5 gets one part
file per range joined by a virtual dataset at the end, Zarr gets region writes into an
array of one chunk per slice. Writing a range twice writes the same values, so the tasks
Dask re-runs after losing a worker leave a complete, correct output.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .core import Kind, Task
from .core.errors import UsageError
from .storage.formats import FileKind, parse_output_path
from .tomo import reco as reco_mod


@dataclass(frozen=True)
class Part:
    """One task: the slices `first:stop` of the plan's rows."""

    first: int
    stop: int

    @property
    def slices(self) -> int:
        return self.stop - self.first


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


def split(slices: int, rows_per_part: int) -> list[Part]:
    """Ranges of at most `rows_per_part` slices covering 0..slices."""
    step = max(1, rows_per_part)
    return [Part(a, min(a + step, slices)) for a in range(0, slices, step)]


def rows_per_part(plan: reco_mod.Plan, workers: dict[str, dict[str, Any]], parts_per_worker: int = 4,
                  gpu_memory: dict[str, list[int]] | None = None) -> int:
    """Slices per task: what the smallest worker's memory (and the smallest GPU's free memory,
    where workers have GPUs) holds, and small enough that every worker gets several tasks
    (balance, progress, cheap re-runs after a loss)."""
    per_row = plan.projections * plan.width * 4 * 3  # as reco.plan counts a pass
    memory = min((w.get("memory_limit") or 0) for w in workers.values()) if workers else 0
    fits = max(1, int(memory * plan.options.memory_fraction) // per_row) if memory else plan.slices
    gpus = [free for frees in (gpu_memory or {}).values() for free in frees]
    if gpus:  # on a GPU: the sinograms twice (raw, filtered) and the slices
        per_gpu_row = plan.projections * plan.width * 4 * 2 + plan.width * plan.width * 4
        fits = min(fits, max(1, int(min(gpus) * plan.options.memory_fraction) // per_gpu_row))
    balanced = math.ceil(plan.slices / max(1, len(workers) * parts_per_worker))
    size = min(fits, balanced)
    return max(1, size // 16 * 16 if size >= 32 else size)  # whole stacks of 16 sinograms where possible


def gpu_memory_of_workers(client: Any) -> dict[str, list[int]]:
    """Free bytes of every GPU each worker sees (empty lists where there are none)."""
    return client.run(_free_gpu_memory)  # type: ignore[no-any-return]


def _free_gpu_memory() -> list[int]:
    from .gpu import available

    if not available():
        return []
    import cupy

    free = []
    for device in range(cupy.cuda.runtime.getDeviceCount()):
        with cupy.cuda.Device(device):
            free.append(int(cupy.cuda.runtime.memGetInfo()[0]))
    return free


class _RegionWriter(Task):
    """Writes slices into rows `offset ...` of an existing Zarr array (chunk-aligned: no conflicts)."""

    name = "_zarr-region"
    kind = Kind.SINK

    def __init__(self, store: str, array: str, offset: int):
        super().__init__()
        self.store, self.array, self.offset = store, array, offset

    def setup(self, ctx: Any) -> None:
        super().setup(ctx)
        import zarr

        self._target = zarr.open_group(self.store, mode="r+")[self.array]
        self._index = 0

    def consume(self, frame: np.ndarray) -> None:  # type: ignore[override]
        self._target[self.offset + self._index] = frame
        self._index += 1


def _part_options(options: reco_mod.RecoOptions, rows: list[int], part: Part, axis: float,
                  output: str, replicas: int) -> reco_mod.RecoOptions:
    chunk = rows[part.first: part.stop]
    step = rows[1] - rows[0] if len(rows) > 1 else 1
    return replace(options, region=f"{chunk[0]}:{chunk[-1] + 1}:{step}", axis=axis, output=output, overwrite=True,
                   replicas=replicas)


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
    opts = _part_options(options, rows, part, axis, output, replicas)
    plan = reco_mod.plan(opts)
    if kind == "zarr":
        reco_mod.run(plan, sink=lambda _plan, p: _RegionWriter(target["store"], target["array"],
                                                                part.first + p.first_slice))
    elif kind == "tiff":
        for p in plan.passes:  # global numbering: this range's first file is slice `part.first`
            graph, _ = reco_mod.graph(plan, p, axis, reco_mod.writer(plan, p, first_slice=part.first))
            graph.run(device=opts.gpus).wait()
    else:
        reco_mod.run(plan)
    return part.slices


def _prepare_output(plan: reco_mod.Plan, overwrite: bool) -> dict[str, Any]:
    """Check the output and lay out its parts before any worker writes."""
    o = plan.options
    target = parse_output_path(os.path.expanduser(o.output))
    width = o.roi[2] if o.roi else plan.width
    height = o.roi[3] if o.roi else plan.width
    if target.kind is FileKind.TIFF_SEQUENCE:
        first = target.frame_path(0)
        if os.path.exists(first) and not overwrite:
            raise UsageError(f"'{first}' exists; pass --overwrite to replace the slices")
        os.makedirs(os.path.dirname(first) or ".", exist_ok=True)
        return {"kind": "tiff"}
    if target.kind is FileKind.HDF5:
        if os.path.exists(target.path) and not overwrite:
            raise UsageError(f"'{target.path}' exists; pass --overwrite to replace it")
        parts = target.path + ".parts"
        shutil.rmtree(parts, ignore_errors=True)
        os.makedirs(parts)
        name = os.path.basename(target.path)
        return {"kind": "hdf5", "file": target.path, "dataset": target.dataset or "/data", "parts": parts,
                "part_path": os.path.join(parts, name + ".{first:07d}.h5") + ":/data"}
    if target.kind is FileKind.ZARR:
        import zarr

        if os.path.exists(target.path) and not overwrite:
            raise UsageError(f"'{target.path}' exists; pass --overwrite to replace it")
        array = (target.dataset or "data").strip("/")
        group = zarr.open_group(target.path, mode="w")
        group.create_array(array, shape=(plan.slices, height, width), chunks=(1, height, width), dtype="float32",
                           fill_value=0.0)
        return {"kind": "zarr", "store": target.path, "array": array}
    raise UsageError(f"'{o.output}': a cluster writes TIFF sequences (slice-%05i.tif), HDF5 (file.h5:/data) or Zarr "
                     "(volume.zarr); one BigTIFF or raw file cannot be written by several hosts at once")


def _join_hdf5(target: dict[str, Any], parts: list[Part]) -> None:
    """One virtual dataset over the part files (relative paths: the folder can move as a whole)."""
    import h5py

    folder = os.path.dirname(os.path.abspath(target["file"]))
    sources = []
    for part in parts:
        path = target["part_path"].format(first=part.first).split(":")[0]
        with h5py.File(path, "r") as f:
            shape, dtype = f["data"].shape, f["data"].dtype
        sources.append((part, os.path.relpath(path, folder), shape, dtype))
    total = sum(p.slices for p in parts)
    shape, dtype = sources[0][2], sources[0][3]
    layout = h5py.VirtualLayout(shape=(total, *shape[1:]), dtype=dtype)
    for part, rel, part_shape, _ in sources:
        layout[part.first: part.stop] = h5py.VirtualSource(rel, "data", shape=part_shape)
    with h5py.File(target["file"], "w") as f:
        f.create_virtual_dataset(target["dataset"], layout, fillvalue=0)


@contextlib.contextmanager
def connect(address: str) -> Iterator[Any]:
    """A Dask client for 'local:N' (a LocalCluster of N worker processes on 127.0.0.1) or a scheduler address."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise UsageError("--cluster needs Dask: pip install -e '.[cluster]'") from None
    if address.startswith("local"):
        _, _, count = address.partition(":")
        try:
            workers = int(count) if count else (os.cpu_count() or 1)
        except ValueError:
            raise UsageError(f"--cluster '{address}': write local:N with N worker processes") from None
        threads = max(1, (os.cpu_count() or 1) // workers)
        with LocalCluster(n_workers=workers, threads_per_worker=threads, processes=True, host="127.0.0.1",
                          dashboard_address=None) as cluster, Client(cluster) as client:
            yield client
        return
    try:
        with Client(address, timeout="10s") as client:
            yield client
    except OSError as exc:
        raise UsageError(f"--cluster '{address}': no Dask scheduler answers there ({exc}); start one with "
                         "'dask scheduler' and workers with 'dask worker ADDRESS'") from None


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
    workers = client.scheduler_info(n_workers=-1)["workers"]
    if not workers:
        raise UsageError("the Dask cluster has no workers")
    gpus = gpu_memory_of_workers(client) if options.gpus != "cpu" else {}
    parts = split(plan.slices, rows_per_task or rows_per_part(plan, workers, gpu_memory=gpus))
    target = _prepare_output(plan, options.overwrite)
    # workers started with `--resources GPU=n` run one range per GPU at a time
    resources = {"GPU": 1} if all("GPU" in (w.get("resources") or {}) for w in workers.values()) else None
    futures = [client.submit(reconstruct_part, options, plan.rows, part, float(axis), target, pure=False,
                             resources=resources, key=f"ufo-reco-{part.first}-{part.stop}-{time.time_ns()}")
               for part in parts]
    done = 0
    try:
        for future in as_completed(futures):
            done += future.result()
            if on_progress is not None:
                on_progress(done, plan.slices)
    except BaseException:
        client.cancel(futures)
        raise
    if target["kind"] == "hdf5":
        _join_hdf5(target, parts)
    return DistributedResult(plan.slices, len(parts), len(workers), float(axis), time.perf_counter() - t0,
                             options.output)


# -- streaming: frames from ZMQ fanned out to the workers by row band ------------------------
@dataclass
class StreamResult:
    frames: int
    slices: int
    workers: int
    seconds: float
    axes: list[float]  # the axis each band used (found per band with axis='auto')


def _free_ports(host: str, count: int) -> list[int]:
    import socket

    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind((host, 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def reconstruct_band(endpoint: str, part: Part, target: dict[str, Any], axis: float | str | None,
                     angle_span: float | None, timeout: float) -> tuple[int, float | None]:
    """Runs on a worker: receive one row band's frames until the end message, reconstruct them
    as they arrive (ufo.tomo.online), write the band's slices into their place in the output."""
    from .core.registry import create
    from .tomo.online import OnlineReconstructor

    engine = OnlineReconstructor(axis=axis, angle_span=angle_span)
    for frame in create("zmq-receive", address=endpoint, timeout=timeout)():
        engine.add(np.asarray(frame), dict(frame.meta))
    slices = engine.finish()
    if slices is None:
        return 0, None
    _write_band(slices, part, target)
    used = engine.found_axis if axis == "auto" else (float(axis) if axis is not None else slices.shape[-1] / 2)
    return len(slices), used


def _write_band(slices: np.ndarray, part: Part, target: dict[str, Any]) -> None:
    from .storage import open_writer

    if target["kind"] == "zarr":
        import zarr

        zarr.open_group(target["store"], mode="r+")[target["array"]][part.first: part.stop] = slices
        return
    path = target["part_path"].format(first=part.first) if target["kind"] == "hdf5" else target["pattern"]
    writer = open_writer(path, overwrite=True, start=part.first if target["kind"] == "tiff" else 0)
    try:
        for index, plane in enumerate(slices):
            writer.write(plane, {"index": part.first + index})
    finally:
        writer.close()


def stream(source: str, client: Any, output: str, shape: tuple[int, int], axis: float | str | None = "auto",
           angle_span: float | None = None, host: str = "127.0.0.1", timeout: float = 30.0,
           overwrite: bool = False, dtype: str = "uint16") -> StreamResult:
    """Online reconstruction over a cluster: frames (darks, flats, projections with their
    image_key and angle metadata) arrive at `source` (a zmq-send or camera server endpoint);
    the client cuts each frame into one row band per worker and pushes the bands to the
    workers, which reconstruct while frames arrive and write their slices when the stream ends.

    `host` is the client's address the workers connect to; `axis='auto'` finds the axis in
    every band (a tilted axis then gets one value per band).
    """
    from distributed import wait

    from .core import Graph
    from .core.registry import create

    t0 = time.perf_counter()
    rows, width = shape
    workers = sorted(client.scheduler_info(n_workers=-1)["workers"])
    if not workers:
        raise UsageError("the Dask cluster has no workers")
    parts = split(rows, math.ceil(rows / len(workers)))
    fake_plan = reco_mod.Plan(reco_mod.RecoOptions(output=output), width, rows, 0, list(range(rows)), [], None, 0)
    target = _prepare_output(fake_plan, overwrite)
    if target["kind"] == "tiff":
        target["pattern"] = output
    endpoints = [f"tcp://{host}:{port}" for port in _free_ports(host, len(parts))]
    received = create("zmq-receive", address=source, timeout=timeout, shape=list(shape), dtype=dtype)
    incoming = received()
    sends = [create("zmq-send", address=endpoint, bind=True, timeout=timeout)(
        create("crop", y=part.first, height=part.slices)(incoming)) for part, endpoint in zip(parts, endpoints)]
    handle = Graph(sends).run(device="cpu")  # binds the band endpoints before the workers connect
    futures = [client.submit(reconstruct_band, endpoint, part, target, axis, angle_span, timeout, pure=False,
                             workers=[workers[i % len(workers)]], key=f"ufo-band-{part.first}-{time.time_ns()}")
               for i, (part, endpoint) in enumerate(zip(parts, endpoints))]
    try:
        handle.wait()
        wait(futures)
        results = [f.result() for f in futures]
    except BaseException:
        handle.cancel()
        client.cancel(futures)
        raise
    if target["kind"] == "hdf5":
        _join_hdf5(target, parts)
    frames = next(s.frames_out for s in handle.stats.values() if s.kind == "source")
    return StreamResult(frames, sum(r[0] for r in results), len(workers), time.perf_counter() - t0,
                        [r[1] for r in results if r[1] is not None])
