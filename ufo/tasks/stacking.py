"""Stacking frames into volumes and splitting volumes into frames."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..core import Kind, Property, Spec, Task
from ..core.errors import GraphError
from ..core.ufocompat import declare, same


class Stack(Task):
    """Gather every `number` consecutive frames into one (number, rows, columns) volume."""

    name = "stack"
    kind = Kind.REDUCE
    uses_meta = True  # a stack carries its first frame's metadata (an axis found upstream, say)
    number = Property(int, range=(1, None), doc="frames per stack")
    partial = Property(bool, False, doc="emit the frames left at the end as a smaller last stack (else: drop them)")
    ufo_names = declare({"number": same("number")})

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        if spec.shape is None:
            raise GraphError("task 'stack' needs frames of a fixed shape")
        count = None if spec.count is None else spec.count // self.number
        if count is not None and self.partial and spec.count % self.number:
            count += 1
        return Spec((self.number, *spec.shape), spec.dtype, count, stacked=spec.count if self.partial else None)

    def setup(self, ctx: Any) -> None:
        super().setup(ctx)
        self._current: Any = None
        self._filled = 0
        self._meta: dict[str, Any] = {}

    def consume(self, frame: np.ndarray, meta: dict[str, Any]) -> Iterator[Any]:  # type: ignore[override]
        if self._current is None:
            self._current = self.ctx.buffer()
            self._filled = 0
            self._meta = {k: v for k, v in meta.items() if k != "index"}
        self._current.data[self._filled] = frame
        self._filled += 1
        if self._filled == self.number:
            done, self._current = self._current, None
            yield done, self._meta

    def finish(self) -> Iterator[Any]:
        if self._current is not None and self._filled:
            if self.partial:
                yield np.array(self._current.data[: self._filled]), self._meta
            else:
                self.ctx.warn(f"the last {self._filled} frame(s) did not fill a stack of {self.number} and were dropped")


class Unstack(Task):
    """Split each (n, rows, columns) volume into n frames."""

    name = "unstack"
    kind = Kind.REDUCE
    uses_meta = True  # every plane keeps the volume's metadata

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        if spec.shape is None or len(spec.shape) < 3:
            raise GraphError(f"task 'unstack' needs 3-D volumes, got shape {spec.shape}")
        count = None if spec.count is None else spec.count * spec.shape[0]  # an upper bound after partial stacks
        if spec.stacked is not None and count is not None:  # what `stack partial=true` took in
            count = min(count, spec.stacked)
        return Spec(spec.shape[1:], spec.dtype, count)

    def consume(self, volume: np.ndarray, meta: dict[str, Any]) -> Iterator[Any]:  # type: ignore[override]
        shared = {k: v for k, v in meta.items() if k != "index"}
        for plane in volume:
            out = self.ctx.buffer()
            np.copyto(out.data, plane)
            yield out, dict(shared)
