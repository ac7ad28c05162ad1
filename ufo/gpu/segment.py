"""GPU segments: a chain of GPU-capable maps fused into one node that runs on a device.

Inside a segment frames stay on the device from task to task; only its ends copy (host to
device before the first task, device to host after the last), on the replica's own CUDA
stream. The segment is replicated over devices x streams: while one replica copies, another
computes, and several GPUs each take their share of frames round-robin; the runtime's
sequence numbers restore the order (UFO's graph expansion, without copying the graph).
"""

from __future__ import annotations

import numbers
import os
import threading
from typing import Any

import numpy as np

from ..core import Context, Graph, Kind, Spec, Task
from ..core.errors import UsageError

STREAMS_PER_DEVICE = 2  # while one stream copies, the other computes
STREAMS_VARIABLE = "UFO_GPU_STREAMS"  # the default when a run does not say (`graph.run(gpu_streams=N)`)


def streams_per_device(streams: int | None = None) -> int:
    """Replicas (CUDA streams) per GPU: `streams` when the run gives it, else UFO_GPU_STREAMS, else 2.

    The one place that reads the variable: a run's setting travels as an argument from
    `graph.run(gpu_streams=...)` to here, so nobody sets os.environ to change it (which would
    leak into every other run of the process and race with runs in other threads).
    """
    if streams is not None:
        if isinstance(streams, bool) or not isinstance(streams, numbers.Integral) or streams < 1:
            raise UsageError(f"gpu_streams must be a whole number >= 1, got {streams!r}")
        return int(streams)
    try:
        return max(1, int(os.environ.get(STREAMS_VARIABLE, STREAMS_PER_DEVICE)))
    except ValueError:
        return STREAMS_PER_DEVICE


class GpuSegment(Task):
    """Runs a chain of tasks' GPU implementations on one device per replica."""

    kind = Kind.MAP
    uses_meta = True

    def __init__(self, steps: list[Task], gpus: list[int], streams: int | None = None):
        self.streams = streams_per_device(streams)
        super().__init__(replicas=max(1, len(gpus) * self.streams))
        self.steps = steps
        self.gpus = gpus
        self.name = "gpu:" + "+".join(step.name for step in steps)  # type: ignore[misc]
        self.inputs = steps[0].inputs  # type: ignore[misc]
        self._specs: list[tuple[Spec, ...]] = []
        # one dict per step, shared by the segment's replicas (clones copy this list's reference):
        # state a step keeps for the whole stream, such as non-local-means' noise estimate
        self._shared: list[dict[str, Any]] = [{"lock": threading.Lock()} for _ in steps]

    @staticmethod
    def host_allocator(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        """Output buffers in pinned memory, so device-to-host copies are asynchronous DMA."""
        from . import pinned_empty

        return pinned_empty(shape, dtype)  # type: ignore[return-value]

    def output_spec(self, *specs: Spec) -> Spec | None:
        self._specs = []
        current: tuple[Spec, ...] = specs
        for step in self.steps:
            self._specs.append(current)
            out = step.output_spec(*current)
            current = (out,)  # type: ignore[assignment]
        self._specs.append(current)
        return current[0]

    def setup(self, ctx: Context) -> None:
        import cupy

        from .tasks import GPU_TASKS

        super().setup(ctx)
        self._device_id = self.gpus[ctx.replica % len(self.gpus)]
        cupy.cuda.Device(self._device_id).use()
        self._stream = cupy.cuda.Stream(non_blocking=True)
        self._impl = []
        for index, step in enumerate(self.steps):
            impl = GPU_TASKS[step.name].__new__(GPU_TASKS[step.name])
            impl.__dict__ = dict(step.__dict__)
            impl.shared = self._shared[index]
            step_ctx = Context(node=f"{ctx.node}/{step.name}", input_specs=self._specs[index],
                               output_spec=self._specs[index + 1][0], replica=ctx.replica, replicas=ctx.replicas,
                               cancelled=ctx.cancelled, alloc=None, warn=ctx.warn)
            with self._stream:
                impl.setup(step_ctx)
            self._impl.append(impl)

    def collected(self, index: int, frames: list[np.ndarray]) -> None:
        with self._stream:
            self._impl[0].collected(index, frames)
        self._stream.synchronize()

    def process(self, *inputs: np.ndarray, out: np.ndarray | None, meta: dict[str, Any]) -> np.ndarray:  # type: ignore[override]
        import cupy

        stream = self._stream
        with stream:
            host = np.ascontiguousarray(inputs[0])
            data = cupy.empty(host.shape, host.dtype)
            data.set(host, stream=stream)  # asynchronous when `host` is pinned
            for impl in self._impl:
                if impl.uses_meta:
                    data = impl.process(data, out=None, meta=meta)
                else:
                    data = impl.process(data, out=None)
            if out is not None and out.shape == data.shape and out.dtype == data.dtype:
                data.get(stream=stream, out=out)
                result = out
            else:
                result = data.get(stream=stream)
        stream.synchronize()
        return result

    def teardown(self) -> None:
        for impl in getattr(self, "_impl", []):
            impl.teardown()


def _eligible(task: Task) -> bool:
    return task.kind is Kind.MAP and "gpu" in task.devices


def rewrite(graph: Graph, gpus: list[int], streams: int | None = None) -> Graph:
    """A new graph with every maximal chain of GPU-capable maps replaced by one segment,
    replicated over `gpus` x `streams` (streams per GPU; None: `streams_per_device()`)."""
    streams = streams_per_device(streams)  # once per run, and a bad value fails before any rewriting
    consumers: dict[int, list[tuple[Task, int]]] = {id(t): [] for t in graph.nodes}
    producers: dict[int, list[Task]] = {id(t): [] for t in graph.nodes}
    for src, dst, index in graph.edges:
        consumers[id(src)].append((dst, index))
        producers[id(dst)].append(src)
    owner: dict[int, GpuSegment] = {}
    first: dict[int, GpuSegment] = {}
    for task in graph.nodes:
        if id(task) in owner or not _eligible(task):
            continue
        chain = [task]
        while True:
            outs = consumers[id(chain[-1])]
            if len(outs) != 1:
                break
            nxt, index = outs[0]
            if index != 0 or not _eligible(nxt) or len(producers[id(nxt)]) != 1 or id(nxt) in owner:
                break
            chain.append(nxt)
        segment = GpuSegment(chain, gpus, streams)
        for member in chain:
            owner[id(member)] = segment
        first[id(task)] = segment
    if not owner:
        return graph
    rewritten = Graph()
    for task in graph.nodes:
        if id(task) in first:
            rewritten.nodes.append(first[id(task)])
        elif id(task) not in owner:
            rewritten.nodes.append(task)
    for src, dst, index in graph.edges:
        s, d = owner.get(id(src), src), owner.get(id(dst), dst)
        if s is d:
            continue  # inside a segment
        if id(dst) in owner and id(dst) not in first:
            continue
        rewritten.edges.append((s, d, index))
    return rewritten
