"""Projections to sinograms."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..core import Kind, Property, Spec, Task
from ..core.errors import GraphError
from ..core.resources import available_memory
from ..core.ufocompat import declare, same


class TransposeProjections(Task):
    """Turn a stream of projections (rows x width) into one sinogram (projections x width) per row."""

    name = "transpose-projections"
    kind = Kind.REDUCE
    uses_meta = True
    number = Property(int, None, range=(1, None), doc="projections per scan (default: the whole stream)")
    memory_fraction = Property(float, 0.8, range=(0.01, 1.0), doc="largest share of available memory the stack may take")
    ufo_names = declare({"number": same("number")})

    def _count(self, spec: Spec) -> int:
        count = self.number or spec.count
        if count is None:
            raise GraphError("transpose-projections needs the number of projections (number=N) for an open-ended stream")
        return count

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        if spec.shape is None or len(spec.shape) != 2:
            raise GraphError(f"transpose-projections takes 2-D projections, got shape {spec.shape}")
        rows, width = spec.shape
        count = self._count(spec)
        need = count * rows * width * 4
        limit = int(available_memory() * self.memory_fraction)
        if need > limit:
            raise GraphError(
                f"the sinograms of {count} projections of {rows} x {width} need {need / 2**30:.1f} GiB, more than the "
                f"{limit / 2**30:.1f} GiB allowed; read fewer rows at a time (read y=... height=...; "
                f"'ufo reco' does this by itself in passes)"
            )
        scans = (spec.count // count) if spec.count else None
        return Spec((count, width), np.float32, rows * scans if scans is not None else None)

    def setup(self, ctx: Any) -> None:
        super().setup(ctx)
        rows, width = ctx.input_specs[0].shape
        self._n = self._count(ctx.input_specs[0])
        # projection after projection, each one contiguous: storing a projection is one copy into
        # memory written in order. Stored row-major by row instead, every row of a projection went
        # to its own page of a fresh array, 20x slower (1024 projections of 128 x 1024: 1.65 s
        # against 0.045 s), and a sinogram is gathered from rows of 4 KiB either way
        self._stack = np.empty((self._n, rows, width), np.float32)
        self._filled = 0
        self._kind: Any = None  # the image_key of the frames (NXtomo, DXchange readers), where they carry one
        self._rows = (0, 1)  # the detector row of the frames' first row and the step (`read y= y-step=`)

    def consume(self, projection: np.ndarray, meta: dict[str, Any]) -> Iterator[Any]:  # type: ignore[override]
        self._check_kind(meta)
        if self._filled == 0:
            self._rows = (int(meta.get("y", 0)), int(meta.get("y_step", 1)))
        self._stack[self._filled] = projection
        self._filled += 1
        if self._filled == self._n:
            self._filled = 0
            first, step = self._rows
            for row in range(self._stack.shape[1]):
                out = self.ctx.buffer()
                np.copyto(out.data, self._stack[:, row, :])
                yield out, {"row": first + row * step}  # the detector row, as `ufo reco` tags its slices

    def _check_kind(self, meta: dict[str, Any]) -> None:
        """Frames of one kind only: darks or flats among the projections (an NXtomo read without
        image-key=0) made sinograms of them all, reconstructed without a word."""
        kind = meta.get("image_key")
        if kind is None:
            return
        if self._kind is None:
            self._kind = kind
        elif kind != self._kind:
            names = {0: "projections", 1: "flats", 2: "darks"}
            raise GraphError(f"{names.get(self._kind, f'image_key {self._kind}')} and {names.get(kind, f'image_key {kind}')} "
                             f"come mixed ({meta.get('path', 'frame ' + str(meta.get('index', '?')))}): sinograms are "
                             "made of projections alone: read them with image-key=0 (ufo reco sorts darks, flats "
                             "and projections by itself)")

    def finish(self) -> Iterator[Any]:
        if self._filled:
            self.ctx.warn(f"the stream ended {self._n - self._filled} projection(s) short of {self._n}; "
                          "those sinograms were not emitted")
        return iter(())
