"""Stream specifications: what a node emits, known before any frame flows.

A graph is validated and its buffers are allocated from these, so a wrong shape fails when
the graph is built, naming the node, instead of in the middle of a scan.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .errors import GraphError


@functools.cache
def memory_bytes() -> int:
    """Physical memory of this machine (0 where the platform does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        return 0


@dataclass(frozen=True)
class Spec:
    """Shape and dtype of every frame of a stream, and how many frames there will be.

    `shape` is None when frames may differ in shape (no preallocation then); `count` is
    None when the length is not known in advance (a camera running until stopped).
    """

    shape: tuple[int, ...] | None
    dtype: np.dtype | None
    count: int | None = None
    #: frames held by all of a stream of stacks (`stack partial=true`: its last stack is filled in
    #: part), kept through tasks that change the frames' shape (`with_`), so that `unstack` says
    #: how many frames come out: its upper bound laid out a volume a frame too long, and a
    #: complete file was marked as cut short
    stacked: int | None = None

    def __post_init__(self) -> None:
        if self.shape is not None:
            shape = tuple(int(s) for s in self.shape)
            if any(s < 0 for s in shape):
                raise GraphError(f"a frame shape cannot have negative sizes, got {shape}")
            object.__setattr__(self, "shape", shape)
        if self.dtype is not None:
            object.__setattr__(self, "dtype", np.dtype(self.dtype))
        if self.count is not None and self.count < 0:
            raise GraphError(f"a stream cannot have {self.count} frames")
        size, memory = self.nbytes, memory_bytes()
        if size is not None and memory and size > memory:
            raise GraphError(f"one {'x'.join(map(str, self.shape or ()))} {self.dtype} frame needs "  # type: ignore[union-attr]
                             f"{size / 2**30:.3g} GiB, more than this machine's {memory / 2**30:.3g} GiB of memory")

    @property
    def nbytes(self) -> int | None:
        if self.shape is None or self.dtype is None:
            return None
        return math.prod(self.shape) * self.dtype.itemsize  # Python ints: no int64 overflow

    def with_(self, **changes: Any) -> Spec:
        return replace(self, **changes)

    def __str__(self) -> str:
        shape = "x".join(str(s) for s in self.shape) if self.shape is not None else "?"
        dtype = str(self.dtype) if self.dtype is not None else "?"
        count = f", {self.count} frames" if self.count is not None else ""
        return f"{shape} {dtype}{count}"


UNKNOWN = Spec(None, None, None)
