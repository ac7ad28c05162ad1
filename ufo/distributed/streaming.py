"""Online reconstruction over a cluster: camera frames cut into row bands, one band per worker."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.errors import UsageError
from .outputs import join_hdf5, prepare_output, write_band
from .ranges import Part, split


@dataclass
class StreamResult:
    frames: int
    slices: int
    workers: int
    seconds: float
    axes: list[float]  # the axis each band used (found per band with axis='auto')


def free_ports(host: str, count: int) -> list[int]:
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
    as they arrive (ufo.tomo.streaming), write the band's slices into their place in the output."""
    from ..core.registry import create
    from ..tomo.streaming import StreamingReconstructor

    engine = StreamingReconstructor(axis=axis, angle_span=angle_span)
    for frame in create("zmq-receive", address=endpoint, timeout=timeout)():
        engine.add(np.asarray(frame), dict(frame.meta))
    slices = engine.finish()
    if slices is None:
        return 0, None
    write_band(slices, part, target)
    used = engine.found_axis if axis == "auto" else (float(axis) if axis is not None else slices.shape[-1] / 2)
    return len(slices), used


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

    from ..core import Graph
    from ..core.registry import create

    t0 = time.perf_counter()
    rows, width = shape
    workers = sorted(client.scheduler_info(n_workers=-1)["workers"])
    if not workers:
        raise UsageError("the Dask cluster has no workers")
    parts = split(rows, math.ceil(rows / len(workers)))
    target = prepare_output(output, rows, (width, width), overwrite)
    endpoints = [f"tcp://{host}:{port}" for port in free_ports(host, len(parts))]
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
        join_hdf5(target, parts)
    frames = next(s.frames_out for s in handle.stats.values() if s.kind == "source")
    return StreamResult(frames, sum(r[0] for r in results), len(workers), time.perf_counter() - t0,
                        [r[1] for r in results if r[1] is not None])
