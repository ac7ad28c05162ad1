"""What the streaming reconstructor gives out: its slices, so far or complete (host copies)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .stream_input import StreamStats


class StreamOutput:
    """The reading side of ufo.tomo.streaming.StreamingReconstructor (its state is set there)."""

    _bp: Any  # the Backprojector (CPU or CUDA), None before the first projection was staged
    _count: int
    _result: np.ndarray | None
    done: bool
    stats: StreamStats

    def weight(self) -> float:
        raise NotImplementedError

    @property
    def slice_count(self) -> int:
        """Slices being reconstructed (0 before the first projection was staged)."""
        return 0 if self._bp is None else self._count

    @property
    def slice_shape(self) -> tuple[int, int]:
        """(rows, columns) of one slice."""
        return (0, 0) if self._bp is None else (self._bp.rows, self._bp.cols)

    @property
    def slices_nbytes(self) -> int:
        return 0 if self._bp is None else self._bp.nbytes

    def current(self) -> np.ndarray | None:
        """The slices so far (host copy, weighted as if the projections so far were all), None before any."""
        if self.done and self._result is not None:
            return self._result
        if self._bp is None or not self.stats.backprojected:
            return None
        return self._bp.slices(self.weight())

    @property
    def slices(self) -> np.ndarray | None:
        return self.current()

    def blocks(self, out: Callable[[int], np.ndarray] | None = None, transform: Any = None) -> Iterator[np.ndarray]:
        """Finished slices in order, a group at a time (host; in `out(count)`'s array; `transform`ed first)."""
        if not self.done or self._bp is None:
            raise ValueError("the slices are complete only after finish()")
        for group in range(self._bp.groups):
            yield self._bp.group_slices(group, self.weight(), out, transform)

    def slice(self, index: int) -> np.ndarray:
        """One slice (host float32) of the reconstruction so far."""
        if self._bp is None:
            raise ValueError("no slices yet: no projection was back-projected")
        if not 0 <= index < self._count:
            raise IndexError(f"slice {index} is outside 0..{self._count - 1}")
        return self._bp.slice(index, self.weight())
