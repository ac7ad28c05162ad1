"""Stream specifications: what a node emits, known before any frame flows.

A graph is validated and its buffers are allocated from these, so a wrong shape fails when
the graph is built, naming the node, instead of in the middle of a scan.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Spec:
    """Shape and dtype of every frame of a stream, and how many frames there will be.

    `shape` is None when frames may differ in shape (no preallocation then); `count` is
    None when the length is not known in advance (a camera running until stopped).
    """

    shape: tuple[int, ...] | None
    dtype: np.dtype | None
    count: int | None = None

    def __post_init__(self) -> None:
        if self.shape is not None:
            object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        if self.dtype is not None:
            object.__setattr__(self, "dtype", np.dtype(self.dtype))

    @property
    def nbytes(self) -> int | None:
        if self.shape is None or self.dtype is None:
            return None
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    def with_(self, **changes: Any) -> Spec:
        return replace(self, **changes)

    def __str__(self) -> str:
        shape = "x".join(str(s) for s in self.shape) if self.shape is not None else "?"
        dtype = str(self.dtype) if self.dtype is not None else "?"
        count = f", {self.count} frames" if self.count is not None else ""
        return f"{shape} {dtype}{count}"


UNKNOWN = Spec(None, None, None)
