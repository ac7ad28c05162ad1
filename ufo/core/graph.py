"""Graphs: tasks connected by streams, validated before they run.

Users rarely see a `Graph`: calling a task on streams (`reco(read())`) connects it, and
running or iterating a stream assembles the graph behind it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import GraphError, UfoError, UsageError
from .spec import Spec
from .task import Kind, Task

if TYPE_CHECKING:
    from .handle import RunHandle


class Stream:
    """The output of one task: call another task on it, run it, iterate over it."""

    __slots__ = ("task",)

    def __init__(self, task: Task):
        self.task = task

    def graph(self) -> Graph:
        return Graph([self])

    def run(self, **options: Any) -> RunHandle:
        """Start the graph behind this stream in the background and return its handle."""
        return self.graph().run(**options)

    def __iter__(self) -> Iterator[np.ndarray]:
        """Run the graph and yield each output frame (a numpy array with `.meta`)."""
        return self.graph().iterate(self)

    def collect(self, **options: Any) -> np.ndarray:
        """Run the graph and stack every output frame into one numpy array."""
        return self.graph().collect(self, **options)

    def __repr__(self) -> str:
        return f"<Stream of {self.task!r}>"


def as_stream(value: Any) -> Stream:
    """Streams pass; numpy arrays and iterables of arrays become `memory-in` sources."""
    if isinstance(value, Stream):
        return value
    if isinstance(value, Task):
        if value.kind is Kind.SOURCE:
            return value()
        raise GraphError(f"task '{value.name}' was passed unconnected; call it on its inputs first: {value.name}(...)")
    from .memory import MemoryIn

    if isinstance(value, np.ndarray) or isinstance(value, Iterable):
        return MemoryIn(data=value)()
    raise GraphError(f"cannot use {type(value).__name__} as a stream; pass a stream, a numpy array or an iterable of arrays")


def connect(task: Task, upstreams: tuple[Any, ...]) -> Stream:
    streams = tuple(as_stream(u) for u in upstreams)
    if task.kind is Kind.SOURCE:
        if streams:
            raise GraphError(f"task '{task.name}' is a source and takes no inputs, got {len(streams)}")
        task._upstreams = ()
        return Stream(task)
    inputs = task.inputs
    needed = sum(1 for i in inputs if not i.optional)
    if not needed <= len(streams) <= len(inputs):
        names = ", ".join(i.name + (" (optional)" if i.optional else "") for i in inputs)
        raise GraphError(f"task '{task.name}' takes {len(inputs)} input(s) ({names}), got {len(streams)}")
    for s in streams:
        if s.task.kind is Kind.SINK:
            raise GraphError(f"task '{s.task.name}' is a sink and has no output to feed into '{task.name}'")
    if task._upstreams is not None:
        before = [s.task for s in task._upstreams]
        if len(before) != len(streams) or any(a is not b.task for a, b in zip(before, streams)):
            raise GraphError(
                f"task '{task.name}' is already connected to other inputs; create a second instance to use it twice"
            )
    task._upstreams = streams
    return Stream(task)


class Graph:
    """Nodes (task instances) in topological order and the edges between them."""

    def __init__(self, outputs: Iterable[Stream] = ()):
        self.nodes: list[Task] = []
        self.edges: list[tuple[Task, Task, int]] = []
        self._seen: set[int] = set()
        for stream in outputs:
            self._add(stream.task, ())

    def _add(self, task: Task, path: tuple[int, ...]) -> None:
        if id(task) in path:
            raise GraphError(f"the graph has a cycle through task '{task.name}'")
        if id(task) in self._seen:
            return
        ups = task._upstreams or ()
        if task.kind is not Kind.SOURCE and task._upstreams is None:
            raise GraphError(f"task '{task.name}' has no inputs connected; call it on a stream: {task.name}(...)")
        for index, stream in enumerate(ups):
            self._add(stream.task, path + (id(task),))
            self.edges.append((stream.task, task, index))
        self._seen.add(id(task))
        self.nodes.append(task)

    # -- structure --------------------------------------------------------------------
    def inputs_of(self, task: Task) -> list[Task]:
        ins = sorted((i, src) for src, dst, i in self.edges if dst is task)
        return [src for _, src in ins]

    def consumers_of(self, task: Task) -> list[tuple[Task, int]]:
        return [(dst, i) for src, dst, i in self.edges if src is task]

    def names(self) -> dict[int, str]:
        """Unique, readable node names: 'read', 'calculate', 'calculate-2', ..."""
        seen: dict[str, int] = {}
        out: dict[int, str] = {}
        for task in self.nodes:
            n = seen.get(task.name, 0) + 1
            seen[task.name] = n
            out[id(task)] = task.name if n == 1 else f"{task.name}-{n}"
        return out

    def leaves(self) -> list[Task]:
        has_consumer = {id(src) for src, _, _ in self.edges}
        return [t for t in self.nodes if id(t) not in has_consumer]

    # -- validation -------------------------------------------------------------------
    def validate(self) -> dict[int, Spec | None]:
        """Check properties, inputs and shapes; return each node's output spec by id."""
        if not self.nodes:
            raise GraphError("the graph is empty")
        names = self.names()
        specs: dict[int, Spec | None] = {}
        for task in self.nodes:
            name = names[id(task)]
            try:
                task.check_required()
            except UsageError as exc:
                raise type(exc)(f"{exc} [node '{name}']") from None
            in_specs = []
            for src in self.inputs_of(task):
                spec = specs[id(src)]
                if spec is None:
                    raise GraphError(f"node '{name}' reads from '{names[id(src)]}', which emits nothing")
                in_specs.append(spec)
            try:
                specs[id(task)] = task.output_spec(*in_specs)
            except UfoError as exc:
                error_type = type(exc) if type(exc).__init__ is Exception.__init__ else GraphError
                raise error_type(f"node '{name}': {exc}") from None
            except (ValueError, TypeError, KeyError, IndexError) as exc:
                given = ", ".join(str(s) for s in in_specs)
                raise GraphError(f"node '{name}' cannot take its input ({given}): {exc}") from None
        return specs

    def describe(self) -> str:
        specs = self.validate()
        names = self.names()
        lines = []
        for task in self.nodes:
            ins = ", ".join(names[id(s)] for s in self.inputs_of(task))
            props = " ".join(f"{k}={v}" for k, v in task.property_values(only_set=True).items())
            spec = specs[id(task)]
            rep = f" x{task.replicas}" if task.replicas > 1 else ""
            lines.append(f"{names[id(task)]}{rep}: {task.kind.value}{' <- ' + ins if ins else ''}"
                         f"{'  ' + props if props else ''}{'  -> ' + str(spec) if spec else ''}")
        return "\n".join(lines)

    # -- running ----------------------------------------------------------------------
    def run(self, **options: Any) -> RunHandle:
        from .scheduler import start

        return start(self, **options)

    def iterate(self, stream: Stream, **options: Any) -> Iterator[np.ndarray]:
        from .memory import iterate

        return iterate(self, stream, **options)

    def collect(self, stream: Stream, **options: Any) -> np.ndarray:
        frames = list(self.iterate(stream, **options))
        if not frames:
            return np.empty((0,))
        try:
            return np.stack([np.asarray(f) for f in frames])
        except ValueError as exc:
            raise GraphError(f"cannot stack frames of different shapes: {exc}") from None


def run(*streams: Stream, **options: Any) -> RunHandle:
    """Run several output streams as one graph (e.g. two sinks fed by one source)."""
    return Graph(streams).run(**options)
