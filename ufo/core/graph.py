"""Graphs: tasks connected by streams, in topological order, named and validated before they run.

Users rarely see a `Graph`: calling a task on streams (`reco(read())`) connects it, and
running or iterating a stream assembles the graph behind it. This module is the structure
only, below the scheduler; `ufo.core.api.Graph` (what `ufo.core.Graph` is) adds running.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from .errors import GraphError, UfoError, UsageError
from .spec import Spec
from .task import Kind

if TYPE_CHECKING:
    from .task import Stream, Task


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
                raise type(exc)(f"{exc} [node '{name}']") from exc
            in_specs = []
            for src in self.inputs_of(task):
                spec = specs[id(src)]
                if spec is None:
                    raise GraphError(f"node '{name}' reads from '{names[id(src)]}', which emits nothing")
                in_specs.append(spec)
            try:
                specs[id(task)] = task.output_spec(*in_specs)
                _check_complex(task, specs[id(task)], in_specs)
            except UfoError as exc:
                error_type = type(exc) if type(exc).__init__ is Exception.__init__ else GraphError
                empty = " (its input gives no frames: an empty iterable, file or selection)" \
                    if any(spec.count == 0 and spec.shape is None for spec in in_specs) else ""
                raise error_type(f"node '{name}': {exc}{empty}") from exc
            except (ValueError, TypeError, KeyError, IndexError) as exc:
                given = ", ".join(str(s) for s in in_specs)
                raise GraphError(f"node '{name}' cannot take its input ({given}): {exc}") from exc
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


def _is_complex(spec: Spec | None) -> bool:
    return spec is not None and spec.dtype is not None and np.dtype(spec.dtype).kind == "c"


def _check_complex(task: Task, out: Spec | None, in_specs: list[Spec]) -> None:
    """Complex frames (Fourier coefficients from 'fft') into a task that makes real ones of them
    without meaning to: numpy kept the real part with a warning, and phase retrieval of a
    spectrum wrote numbers that meant nothing (exit 0)."""
    if task.from_complex or out is None or out.dtype is None or np.dtype(out.dtype).kind == "c":
        return
    if any(_is_complex(spec) for spec in in_specs):
        raise GraphError(f"task '{task.name}' works on real frames, its input is complex (Fourier coefficients "
                         "from 'fft'): put 'ifft' before it (or 'power-spectrum' for their magnitudes)")
