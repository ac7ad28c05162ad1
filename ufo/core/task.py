"""The task protocol: what every unit of work declares and implements, and how tasks connect.

A task is a plain class. It names itself (`name`, kebab-case), says what it is (`kind`),
what it reads (`inputs`), where it runs (`devices`) and declares its properties as typed
descriptors. The runtime calls `setup` once, then `generate` (sources), `process` (maps),
`consume`/`finish` (reductions and sinks), and always `teardown`.

Calling a task on streams connects it (`connect`) and returns its output `Stream`. This module
sits below the graph and the scheduler, so its `Stream` is data only; streams that run, iterate
and collect are `ufo.core.api.Stream`, the `stream_type` of the public `ufo.core.Task`.
"""

from __future__ import annotations

import copy
import enum
import itertools
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np

from .errors import GraphError, PropertyError, suggest
from .frame import Frame
from .properties import Property, declared
from .replicas import check_replicas
from .spec import UNKNOWN, Spec
from .ufocompat import UfoName, UfoSemantics, resolve, spelling
from .ufocompat import apply as ufo_apply


class Kind(enum.Enum):
    SOURCE = "source"  # no input, emits frames
    MAP = "map"  # one frame (from each input) in, one frame out
    REDUCE = "reduce"  # consumes the whole stream, then emits frames
    SINK = "sink"  # consumes frames, emits nothing


@dataclass(frozen=True)
class Input:
    """One input of a task.

    `collect=True` inputs are read completely (as a list of arrays) before the streamed
    inputs start, for data such as darks and flats that every frame needs.
    """

    name: str
    collect: bool = False
    optional: bool = False


STOPPED = "stopped"  # Context.ended_early: the run was stopped, its sources did not fail


@dataclass
class Context:
    """What the runtime tells a task in `setup`."""

    node: str
    input_specs: tuple[Spec, ...]
    output_spec: Spec | None
    replica: int = 0
    replicas: int = 1
    cancelled: threading.Event = field(default_factory=threading.Event)
    alloc: Callable[[], Frame] | None = None
    warn: Callable[[str], None] = lambda message: None
    #: why the input ended before its sources' end (a sink's `finish` says so downstream, as zmq-send
    #: tells its receivers): None when whole, STOPPED (Ctrl-C, SIGTERM), else the failed source's error
    ended_early: Callable[[], str | None] = lambda: None

    def buffer(self) -> Frame:
        """An output frame from this node's pool (sources fill and yield it)."""
        if self.alloc is None:
            spec = self.output_spec
            if spec is None or spec.shape is None or spec.dtype is None:
                raise RuntimeError(f"node '{self.node}' has no fixed output shape to allocate")
            return Frame(np.empty(spec.shape, spec.dtype))
        return self.alloc()


class Stream:
    """The output of one task, as data: the task that produces it.

    Running, iterating and collecting need the scheduler, which sits above this module; the
    streams users get are `ufo.core.api.Stream`, a subclass that adds them (see `Task.stream_type`).
    """

    __slots__ = ("task",)

    def __init__(self, task: Task):
        self.task = task

    def __repr__(self) -> str:
        return f"<Stream of {self.task!r}>"


class Task:
    """Base class of all tasks; subclasses set the class variables and override methods.

    Tasks outside the core subclass `ufo.core.Task` (ufo.core.api), whose calls return streams
    that run; this base is what the graph, the scheduler and the core's own tasks need.
    """

    name: ClassVar[str] = ""
    kind: ClassVar[Kind] = Kind.MAP
    inputs: ClassVar[tuple[Input, ...]] = (Input("input"),)
    devices: ClassVar[tuple[str, ...]] = ("cpu",)
    #: a map that sets `uses_meta` receives `meta=` (a private copy it may change)
    uses_meta: ClassVar[bool] = False
    #: a map that allocates its own output (views, shape known only per frame)
    own_output: ClassVar[bool] = False
    #: a sink or reduction that keeps the arrays it consumes (they leave the buffer pool)
    keeps_input: ClassVar[bool] = False
    #: makes real frames of complex ones on purpose (ifft, power-spectrum); any other task whose output
    #: is real while an input is complex would drop the imaginary part: the graph refuses it
    from_complex: ClassVar[bool] = False

    #: what a call returns; connect picks the most derived of this and the upstreams' types, so a core
    #: task fed by a runnable stream returns a runnable stream too
    stream_type: ClassVar[type[Stream]] = Stream

    #: ufo-filters' property names of this task (core/ufocompat.py), so UFO users' pipelines run unchanged
    ufo_names: ClassVar[Mapping[str, UfoName]] = MappingProxyType({})
    #: our property values that give UFO's result where UFO's same spelling computes something else
    ufo_semantics: ClassVar[UfoSemantics | None] = None
    #: set where a UFO-only property name was used (Task.set)
    ufo_spelled: bool = False
    #: values of names both spell, which UFO reads otherwise (ufocompat.apply)
    ufo_shared: Mapping[str, Any] = MappingProxyType({})  # replaced per instance, never mutated
    #: what ufocompat.apply changed to give UFO's meaning (ufo run prints it)
    ufo_notes: Sequence[str] = ()

    #: attributes a map fills from the stream's first frame: its replicas share them (core/first_frame.py)
    first_frame_state: ClassVar[tuple[str, ...]] = ()

    ctx: Context

    def __init__(self, *given: Any, replicas: int = 1, **properties: Any):
        if given:  # ufo.Crop(3) set replicas=3 without a word
            first = next((f"{p.name}=..." for p in self.properties().values()), "name=value")
            raise PropertyError(f"task '{self.name}' takes its properties by name, e.g. "
                                f"{type(self).__name__}({first}); got {', '.join(map(repr, given))}")
        check_replicas(self.name, replicas)
        if replicas > 1 and self.kind is not Kind.MAP:
            raise PropertyError(f"task '{self.name}': only map tasks can be replicated ({self.kind.value} task)")
        self.replicas = replicas
        self._upstreams: tuple[Stream, ...] | None = None
        self.set(**properties)

    # -- properties -------------------------------------------------------------------
    @classmethod
    def properties(cls) -> dict[str, Property]:
        return declared(cls)

    @classmethod
    def find_property(cls, name: str) -> Property:
        props = cls.properties()
        key = name.replace("-", "_")
        for attribute, prop in props.items():
            if key in prop.aliases:
                return prop
        if key not in props:
            valid = ", ".join(p.cli_name for p in props.values()) or "none"
            hint = suggest(name.replace("_", "-"), [p.cli_name for p in props.values()])
            raise PropertyError(f"task '{cls.name}' has no property '{name}'.{hint} Valid properties: {valid}")
        return props[key]

    def set(self, **properties: Any) -> Task:
        """Set properties by our names, aliases or UFO's names (translated by `ufocompat.resolve`)."""
        for key, value in properties.items():
            for attribute, resolved in resolve(type(self), key, value).items():
                setattr(self, attribute, resolved)
            if self.ufo_names:
                spelled = spelling(type(self), key, value)
                if spelled == "ufo":
                    self.ufo_spelled = True  # the graph is a UFO user's: ufocompat.apply gives UFO's semantics
                elif spelled == "both":  # read as UFO reads it where the graph turns out to be a UFO user's
                    self.ufo_shared = {**self.ufo_shared, key: value}
        if self.ufo_spelled:  # this task was written in UFO's spelling: it means what UFO means (Python API too)
            ufo_apply([self])
        return self

    def property_values(self, only_set: bool = False) -> dict[str, Any]:
        out = {}
        for key, prop in self.properties().items():
            if only_set and key not in self.__dict__:
                continue
            out[prop.cli_name] = getattr(self, key)
        return out

    def check_required(self) -> None:
        for key, prop in self.properties().items():
            if prop.required and key not in self.__dict__:
                raise PropertyError(
                    f"task '{self.name}': property '{prop.cli_name}' is required ({prop.type_name()}: {prop.doc})"
                )

    # -- connecting -------------------------------------------------------------------
    def __call__(self, *upstreams: Any, replicas: int | None = None) -> Stream:
        if replicas is not None:
            check_replicas(self.name, replicas)
            if replicas > 1 and self.kind is not Kind.MAP:
                raise PropertyError(f"task '{self.name}': only map tasks can be replicated")
            self.replicas = replicas
        return connect(self, upstreams)

    def clone(self) -> Task:
        """A copy for another replica: same properties, its own per-run state."""
        twin = copy.copy(self)
        twin.__dict__ = dict(self.__dict__)
        return twin

    # -- the protocol -----------------------------------------------------------------
    def output_spec(self, *input_specs: Spec) -> Spec | None:
        """Shape, dtype and count of the output; the default keeps the first input's."""
        if self.kind is Kind.SINK:
            return None
        if input_specs:
            return input_specs[0]
        return UNKNOWN

    def setup(self, ctx: Context) -> None:
        """Prepare for a run (open files, allocate state). Called once per run and replica."""
        self.ctx = ctx

    def generate(self) -> Iterable[Any]:
        """Sources: yield frames (arrays, (array, meta) pairs, or `ctx.buffer()` frames)."""
        raise NotImplementedError

    def process(self, *inputs: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        """Maps: compute the output, into `out` when the runtime gave one."""
        raise NotImplementedError

    def batch_size(self) -> int:
        """Maps: how many frames one `process_batch` call takes (called after `setup`); 1 calls `process`.

        For kernels that share work between frames (a back-projection computes each detector
        position once for K slices). Replicated maps always call `process`.
        """
        return 1

    def process_batch(self, frames: list[np.ndarray], metas: list[dict[str, Any]]) -> list[Any]:
        """Batching maps: one output (array or `ctx.buffer()` frame) per frame, in order; `metas` are
        private copies the task may change, as `process` may change its `meta`."""
        raise NotImplementedError

    def collected(self, index: int, frames: list[np.ndarray]) -> None:
        """Receives the whole stream of a `collect=True` input before streaming starts."""

    def collected_meta(self, index: int, metas: list[dict[str, Any]]) -> None:
        """The metadata of those frames, handed just before `collected` (flats' places in their file)."""

    def consume(self, *inputs: np.ndarray) -> None:
        """Reductions and sinks: take one frame (one from each input)."""
        raise NotImplementedError

    def finish(self) -> Iterable[Any]:
        """Reductions: emit the results once the input ended."""
        return ()

    def teardown(self) -> None:
        """Always called at the end of a run, also after errors and cancellation."""

    def __repr__(self) -> str:
        props = " ".join(f"{k}={v!r}" for k, v in self.property_values(only_set=True).items())
        return f"<{type(self).__name__} {self.name}{' ' + props if props else ''}>"


def frame_meta_of(value: Any) -> tuple[Any, dict[str, Any] | None]:
    """Split what a source or reduction yielded into (array or Frame, metadata)."""
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], dict):
        return value[0], value[1]
    return value, None


def as_stream(value: Any) -> Stream:
    """Streams pass; source tasks are called; numpy arrays and iterables of arrays become `memory-in` sources."""
    if isinstance(value, Stream):
        return value
    if isinstance(value, Task):
        if value.kind is Kind.SOURCE:
            return value()
        raise GraphError(f"task '{value.name}' was passed unconnected; call it on its inputs first: {value.name}(...)")
    if isinstance(value, np.ndarray) or (isinstance(value, Iterable) and not isinstance(value, (str, bytes))):
        return MemoryIn(data=value)()  # not a path's characters: a str is named, with the reader to use
    raise GraphError(f"cannot use the {type(value).__name__} {str(value)[:80]!r} as a stream; pass a stream, a numpy "
                     "array or an iterable of arrays (files: ufo.Reader(path=...)())")


def _stream_type(task: Task, streams: tuple[Stream, ...]) -> type[Stream]:
    """The most derived stream type of the task and its inputs: runnable wins over data-only."""
    kind = task.stream_type
    for stream in streams:
        if issubclass(type(stream), kind):
            kind = type(stream)
    return kind


def connect(task: Task, upstreams: tuple[Any, ...]) -> Stream:
    """Check the inputs against the task's declaration, record them and return the task's output stream."""
    streams = tuple(as_stream(u) for u in upstreams)
    if task.kind is Kind.SOURCE:
        if streams:
            raise GraphError(f"task '{task.name}' is a source and takes no inputs, got {len(streams)}")
        task._upstreams = ()
        return task.stream_type(task)
    inputs = task.inputs
    needed = sum(1 for i in inputs if not i.optional)
    if not needed <= len(streams) <= len(inputs):
        names = ", ".join(i.name + (" (optional)" if i.optional else "") for i in inputs)
        count = f"{needed}" if needed == len(inputs) else f"{needed} to {len(inputs)}"
        raise GraphError(f"task '{task.name}' takes {count} input(s) ({names}), got {len(streams)}")
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
    return _stream_type(task, streams)(task)


class MemoryIn(Task):
    """Stream frames from a numpy array (one frame per first-axis entry) or an iterable.

    It lives here, not in ufo.core.memory, because connecting needs it: `task(array)` wraps the
    array in a memory-in source (`as_stream`), and the modules above may not be imported from here.
    """

    name = "memory-in"
    kind = Kind.SOURCE
    inputs = ()

    def __init__(self, data: Any = None, **properties: Any):
        super().__init__(**properties)
        if data is None:
            raise GraphError("task 'memory-in' needs data: MemoryIn(data=array_or_iterable) (Python API only)")
        self._peeked: list[Any] = []
        self._one_shot = False  # a generator or iterator: its frames can be streamed once
        self._used = False
        if isinstance(data, np.ndarray):
            if data.ndim < 2:
                raise GraphError(f"task 'memory-in': an array source needs 2 or more dimensions, got shape {data.shape}")
            self._data: Any = data[np.newaxis] if data.ndim == 2 else data
        elif isinstance(data, (list, tuple)):
            self._data = [np.asarray(d) for d in data]
        elif isinstance(data, Iterable):
            self._data = self._source = data
            self._one_shot = iter(data) is data
        else:
            raise GraphError(f"task 'memory-in' needs an array or an iterable of arrays, got {type(data).__name__}")

    def output_spec(self) -> Spec:  # type: ignore[override]
        data = self._data
        if isinstance(data, np.ndarray):
            return Spec(data.shape[1:], data.dtype, len(data))
        if isinstance(data, list):
            if not data:
                return Spec(None, None, 0)
            shapes = {d.shape for d in data}
            dtypes = {d.dtype for d in data}
            return Spec(
                data[0].shape if len(shapes) == 1 else None,
                data[0].dtype if len(dtypes) == 1 else None,
                len(data),
            )
        if self._used and self._one_shot:  # a second run streamed nothing, its shape unknown, without a word
            raise GraphError("a generator (or iterator) streams its frames once, and an earlier run used this one "
                             "up; pass a list or an array to run it again, or a new generator")
        if not self._peeked:
            iterator = iter(data if self._one_shot or not self._used else self._source)
            self._peeked = list(itertools.islice(iterator, 1))
            self._data = iterator
        if not self._peeked:
            return Spec(None, None, 0)
        first = np.asarray(self._peeked[0])  # its shape stands for the rest (a task of fixed shapes, crop,
        return Spec(first.shape, first.dtype, None)  # refused every generator); a frame unlike it fails where it goes

    def generate(self) -> Iterator[Any]:
        if isinstance(self._data, np.ndarray):
            yield from self._data
            return
        peeked, self._peeked = self._peeked, []
        self._used = True
        kind = None if isinstance(self._data, list) or not peeked else (np.shape(peeked[0]), np.asarray(peeked[0]).dtype)
        for number, frame in enumerate(map(np.asarray, itertools.chain(peeked, self._data))):
            if kind is not None and (frame.shape, frame.dtype) != kind:  # a writer cast a float frame into uint16
                raise GraphError(f"task 'memory-in': frame {number} of the iterable has shape {frame.shape} {frame.dtype}, "
                                 f"its first {kind[0]} {kind[1]}: the frames of an iterable must have one shape and type")
            yield frame
