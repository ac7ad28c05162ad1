"""The streaming scheduler: one thread per node (per replica), bounded channels between them.

Frames are handed over by reference; map outputs come from per-node buffer pools and go back
to them when the last consumer is done, so a steady stream allocates nothing. The first
error cancels every channel, which wakes every blocked thread: a graph never hangs. A source's
error is the exception: the frames it gave still reach the sinks (`RunHandle.fail_draining`),
so a camera or reader that fails mid-scan loses no frame already read.
"""

from __future__ import annotations

import threading
import time
import types
from typing import TYPE_CHECKING, Any

from .backends import prepare
from .channel import Channel
from .errors import Cancelled, GraphError
from .frame import EOS
from .handle import NodeStats, RunHandle
from .nodes import _BODIES, _Node, _run_replica
from .rejoin import rejoin_capacities
from .task import Context, Kind, Task

if TYPE_CHECKING:
    from .graph import Graph

_STARTING = threading.Lock()
#: what the tasks of a run being started hold until its handle exists (`start`)
_BEING_STARTED = types.SimpleNamespace(done=False)
DEFAULT_CAPACITY = 64
DISCARD_WAIT = 1.0  # seconds a failed map waits for the next input frame to drop (`_discard_inputs`)
DEFAULT_QUEUE_BYTES = 32 << 20


class _Discard(Task):
    """Consumes the frames of a leaf nobody reads, so that it never blocks the graph.

    The scheduler's own sink (not the registered `null` of ufo.core.memory, which sits above
    the scheduler because users run its streams).
    """

    name = "null"
    kind = Kind.SINK

    def consume(self, *frames: Any) -> None:
        pass


def start(
    graph: Graph,
    capacity: int | None = None,
    queue_bytes: int = DEFAULT_QUEUE_BYTES,
    trace: bool = False,
    device: str | None = None,
    gpu_streams: int | None = None,
) -> RunHandle:
    """Validate `graph`, wire channels and pools, start one thread per node and replica.

    `device` chooses where GPU-capable tasks run: 'cpu', 'all' or GPU numbers '0,1'
    (default: the UFO_DEVICES variable, else every GPU there is, else the CPU);
    `gpu_streams` how many streams each GPU overlaps (default: UFO_GPU_STREAMS, else 2).
    """
    users_tasks = list(graph.nodes)
    with _STARTING:  # checked and claimed at once: two threads starting the same tasks both ran, and
        _refuse_running(graph)  # one's teardown closed the other's input file under it
        for task in users_tasks:
            task._run_handle = _BEING_STARTED
    try:
        handle = _start(graph, capacity, queue_bytes, trace, device, gpu_streams)
    except BaseException:
        for task in users_tasks:
            task._run_handle = None
        raise
    for task in users_tasks:
        task._run_handle = handle  # a second run of these tasks is refused until this one ends
    return handle


def _start(graph: Graph, capacity: int | None, queue_bytes: int, trace: bool, device: str | None,
           gpu_streams: int | None) -> RunHandle:
    specs = graph.validate()  # errors name the user's nodes, before any rewriting
    prepared = prepare(graph, device, gpu_streams)
    if prepared is not graph:  # rewritten for a device: its new nodes are checked too
        specs = prepared.validate()
    graph = prepared
    names = graph.names()
    leaves = [t for t in graph.leaves() if t.kind not in (Kind.SINK,)]
    extra_edges: list[tuple[Task, Task, int]] = []
    for leaf in leaves:  # frames nobody reads are discarded, not left to block the graph
        sink = _Discard()
        sink._upstreams = ()
        extra_edges.append((leaf, sink, 0))
    tasks = graph.nodes + [dst for _, dst, _ in extra_edges]
    edges = graph.edges + extra_edges
    for leaf, sink, _ in extra_edges:
        names[id(sink)] = f"discard-{names[id(leaf)]}"
        specs[id(sink)] = None

    stats: dict[str, NodeStats] = {}
    handle = RunHandle(stats)
    nodes: dict[int, _Node] = {}
    for task in tasks:
        ins = sorted((i, src) for src, dst, i in edges if dst is task)
        in_specs = tuple(specs[id(src)] for _, src in ins)  # type: ignore[misc]
        node = _Node(task, names[id(task)], specs[id(task)], in_specs, handle)  # type: ignore[arg-type]
        if trace:
            node.trace = []
        nodes[id(task)] = node
        stats[node.name] = node.stats
    channels: list[Channel] = []
    held = rejoin_capacities(tasks, edges, specs, names)  # branches of one stream meeting after a reduction
    for task in tasks:
        node = nodes[id(task)]
        ins = sorted((i, src) for src, dst, i in edges if dst is task)
        for i, src in ins:
            nbytes = specs[id(src)].nbytes if specs[id(src)] is not None else None  # type: ignore[union-attr]
            cap = capacity or DEFAULT_CAPACITY
            if (id(task), i) in held:
                channel = Channel(held[(id(task), i)])
            elif nbytes:
                channel = Channel(max(2, min(cap, queue_bytes // nbytes)))
            else:  # frame size unknown: bound the bytes held, not only the count
                channel = Channel(cap, max_bytes=queue_bytes)
            channels.append(channel)
            node.ins.append(channel)
            nodes[id(src)].outs.append(channel)

    instances: list[tuple[_Node, Task]] = []

    def cancel_all() -> None:
        for channel in channels:
            channel.cancel()
        for node in nodes.values():
            with node.out_cond:
                node.out_cond.notify_all()
        for node, instance in instances:  # a task blocked in a call of its own can be woken
            _call_on_cancel(node, instance)

    handle._cancel_hooks.append(cancel_all)
    live = [sum(t.replicas for t in tasks)]
    live_lock = threading.Lock()

    def finished() -> None:
        with live_lock:
            live[0] -= 1
            last = live[0] == 0
        if last:
            if trace:
                handle.trace_events = _trace_events(nodes.values(), handle.started)
            handle._finish()

    def worker(node: _Node, task: Task, replica: int) -> None:
        try:
            node.stats.started = node.stats.started or time.perf_counter()
            task.setup(
                Context(
                    node=node.name,
                    input_specs=node.in_specs,
                    output_spec=node.spec,
                    replica=replica,
                    replicas=node.task.replicas,
                    cancelled=handle._cancelled,
                    alloc=node.pool.acquire if node.pool is not None else None,
                    warn=node.stats.warnings.append,
                    ended_early=handle.ended_early,
                )
            )
            if node.task.replicas > 1:
                _run_replica(node, task)
            else:
                _BODIES[task.kind](node, task)
        except Cancelled:
            handle.cancel()
        except BaseException as exc:  # noqa: BLE001 - every error must reach wait()
            if isinstance(exc, Exception) and _drains(node) and not handle._cancelled.is_set():
                handle.fail_draining(node.name, exc)  # what the node gave is still written
                if node.task.kind is Kind.MAP:  # its producers end at their next frame: taken and dropped
                    _discard_inputs(node, handle)
            elif handle._cancelled.is_set() and handle.error is None and not isinstance(exc, KeyboardInterrupt):
                # a call woken by the cancel (a receive told to stop): the run was cancelled, not failed
                node.stats.warnings.append(f"stopped by the cancel: {exc}")
            else:
                handle.fail(node.name, exc)
        finally:
            try:
                task.teardown()
            except BaseException as exc:  # noqa: BLE001
                handle.fail(node.name, exc)
            last_replica = False
            with node.out_cond:
                node.live -= 1
                last_replica = node.live == 0
            if last_replica:
                node.stats.ended = time.perf_counter()
                node.stats.buffers = node.pool.allocated if node.pool is not None else 0
                if node.task.kind is not Kind.SINK:
                    if node.pool is not None:
                        node.stats.bytes = node.stats.frames_out * (node.spec.nbytes or 0)  # type: ignore[union-attr]
                    if not handle._cancelled.is_set():
                        node.emit_eos()
            finished()

    threads = []
    for task in tasks:
        node = nodes[id(task)]
        copies = [task] + [task.clone() for _ in range(task.replicas - 1)]
        for replica, instance in enumerate(copies):
            instances.append((node, instance))
            suffix = f"#{replica}" if task.replicas > 1 else ""
            # daemon threads: a node stuck in a call that ignores cancellation cannot keep the process
            # alive after Ctrl-C; wait(), stop() and the exit hook in ufo.core.handle join them
            thread = threading.Thread(target=worker, args=(node, instance, replica), name=f"ufo:{node.name}{suffix}",
                                      daemon=True)
            threads.append(thread)
            if task.kind in (Kind.SINK, Kind.REDUCE):
                handle._sink_threads.append(thread)
    handle._threads = threads
    if not threads:
        raise GraphError("the graph has no nodes")
    handle._register()
    for thread in threads:
        thread.start()
    return handle


def _drains(node: _Node) -> bool:
    """Whether a failure of `node` lets what it gave drain to the sinks (`RunHandle.fail_draining`):
    a source, or a map (a detector glitch at frame 50 dropped the 5 frames it had passed on that
    were queued to the writer; with replicas, 3-5 more: the failed replica's frame ends the others'
    intake, and those before it are emitted in order)."""
    return node.task.kind in (Kind.SOURCE, Kind.MAP)


def _discard_inputs(node: _Node, handle: RunHandle) -> None:
    """A failed map's inputs taken and released until their end, so that its producers, which end
    at their next frame, are not blocked on it; a second without a frame ends it too (the end may have
    come in the batch the map was working through)."""
    for index, channel in enumerate(node.ins):
        while index not in node.collected and not handle._cancelled.is_set() and channel.wait(DISCARD_WAIT):
            try:
                with node.in_lock:  # beside replicas still taking a frame's inputs
                    frame = channel.get()
            except Cancelled:  # the run was cancelled meanwhile (a replica's failure): nothing to drain
                return  # (raised here it was a thread's traceback on the command's stderr, CI)
            if frame is EOS:
                break
            frame.release()


def _call_on_cancel(node: _Node, task: Task) -> None:
    """The cancellation hook of tasks that block in calls of their own (a receive, a camera's grab).

    A task may define `on_cancel()`: it is called once, from the thread that cancels the run
    (any thread), and should only wake the blocked call (set a flag, close a socket from the
    right thread, or nothing when the task polls `self.ctx.cancelled` every 0.2 s anyway).
    """
    hook = getattr(type(task), "on_cancel", None)
    if not callable(hook):
        return
    try:
        hook(task)
    except Exception as exc:  # noqa: BLE001 - cancelling goes on; the hook's failure is worth a warning
        node.stats.warnings.append(f"on_cancel failed: {exc}")


def _trace_events(nodes: Any, origin: float) -> list[dict[str, Any]]:
    """Chrome trace 'complete' events, one per process call, one row per node."""
    events: list[dict[str, Any]] = []
    for tid, node in enumerate(nodes):
        events.append({"name": "thread_name", "ph": "M", "pid": 1, "tid": tid, "args": {"name": node.name}})
        for t0, t1, index in node.trace or ():
            events.append({
                "name": node.name, "cat": node.stats.kind, "ph": "X", "pid": 1, "tid": tid,
                "ts": (t0 - origin) * 1e6, "dur": (t1 - t0) * 1e6, "args": {"index": index},
            })
    return events


def _refuse_running(graph: Graph) -> None:
    """Tasks keep a run's state on themselves: a second run of the same tasks while the first
    is still going would mix the two (wrong frames, not an error), so it is refused."""
    names = graph.names()
    for task in graph.nodes:
        handle = getattr(task, "_run_handle", None)
        if handle is not None and not handle.done:
            raise GraphError(f"node '{names[id(task)]}' is part of a run that has not ended; wait for it "
                             "(handle.wait()) or build a new graph for a second run")
