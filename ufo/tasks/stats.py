"""Reductions over a whole stream."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..core import Kind, Property, Spec, Task
from ..core.errors import GraphError, InputError
from ..core.ufocompat import declare, missing


class Average(Task):
    """Pixel-wise mean (or median) of all frames, emitted once the stream ends (float32)."""

    name = "average"
    kind = Kind.REDUCE
    method = Property(str, "mean", choices=("mean", "median"), doc="mean (streaming) or median (keeps all frames)")
    ufo_names = declare({"number": missing("ufo's average reduces the whole stream; for groups of N use "
                                   "stack number=N ! ... or read number=N")})

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        if spec.shape is None:
            raise GraphError("task 'average' needs frames of a fixed shape")
        return Spec(spec.shape, np.float32, 1)

    def setup(self, ctx: Any) -> None:
        super().setup(ctx)
        self._sum = np.zeros(ctx.input_specs[0].shape, np.float64)
        self._frames: list[np.ndarray] = []
        self._n = 0

    def consume(self, frame: np.ndarray) -> None:  # type: ignore[override]
        if self.method == "median":
            self._frames.append(np.array(frame, np.float32))
        else:
            self._sum += frame
        self._n += 1

    def finish(self) -> Iterator[Any]:
        if self._n == 0:
            raise InputError("task 'average' received no frames: its input stream was empty")
        if self.method == "median":
            yield np.median(np.stack(self._frames), axis=0).astype(np.float32)
        else:
            yield (self._sum / self._n).astype(np.float32)
