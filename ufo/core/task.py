"""The task protocol: what every unit of work declares and implements.

A task is a plain class. It names itself (`name`, kebab-case), says what it is (`kind`),
what it reads (`inputs`), where it runs (`devices`) and declares its properties as typed
descriptors. The runtime calls `setup` once, then `generate` (sources), `process` (maps),
`consume`/`finish` (reductions and sinks), and always `teardown`.
"""

from __future__ import annotations

import copy
import enum
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from .errors import PropertyError, suggest
from .frame import Frame
from .properties import Property, declared
from .spec import UNKNOWN, Spec

if TYPE_CHECKING:
    from .graph import Stream


def max_replicas() -> int:
    """The most replicas one node may have: 4 per CPU core (at least 64), at most 1024.

    Each replica is a thread with its own buffers; `replicas=100000` would start 100 000
    threads. UFO_MAX_REPLICAS overrides the limit (still capped at 1024).
    """
    override = os.environ.get("UFO_MAX_REPLICAS", "").strip()
    if override.isdigit() and int(override) > 0:
        return min(1024, int(override))
    return min(1024, max(64, 4 * (os.cpu_count() or 1)))


def check_replicas(task_name: str, replicas: Any) -> int:
    """`replicas` as a valid count, or PropertyError naming the task and the limit."""
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
        raise PropertyError(f"task '{task_name}': replicas must be an integer >= 1, got {replicas!r}")
    limit = max_replicas()
    if replicas > limit:
        raise PropertyError(f"task '{task_name}': replicas={replicas} is too many; at most {limit} "
                            f"(4 per CPU core, at least 64, at most 1024; UFO_MAX_REPLICAS changes it)")
    return replicas


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

    def buffer(self) -> Frame:
        """An output frame from this node's pool (sources fill and yield it)."""
        if self.alloc is None:
            spec = self.output_spec
            if spec is None or spec.shape is None or spec.dtype is None:
                raise RuntimeError(f"node '{self.node}' has no fixed output shape to allocate")
            return Frame(np.empty(spec.shape, spec.dtype))
        return self.alloc()


class Task:
    """Base class of all tasks; subclasses set the class variables and override methods."""

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

    ctx: Context

    def __init__(self, replicas: int = 1, **properties: Any):
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
        for key, value in properties.items():
            prop = self.find_property(key)
            setattr(self, prop.name, value)
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
        from .graph import connect

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

    def collected(self, index: int, frames: list[np.ndarray]) -> None:
        """Receives the whole stream of a `collect=True` input before streaming starts."""

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
