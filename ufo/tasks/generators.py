"""Sources that make data: for tests, benchmarks and trying a pipeline without a scan."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..core import Kind, Property, Spec, Task
from ..core.ufocompat import declare, differs, only, same

DTYPES = ("uint8", "uint16", "uint32", "int16", "int32", "float32", "float64")


class DummyData(Task):
    """Generate frames: constant, uniform random values or a ramp."""

    name = "dummy-data"
    kind = Kind.SOURCE
    inputs = ()

    shape = Property(int, [512, 512], array=True, doc="frame shape (rows, columns; depth, rows, columns for volumes)")
    width = Property(int, None, range=(1, None), doc="columns (overrides the last value of shape)")
    height = Property(int, None, range=(1, None), doc="rows (overrides the first value of shape)")
    dtype = Property(str, "float32", choices=DTYPES, doc="data type of each frame")
    number = Property(int, 1, range=(0, None), doc="number of frames")
    init = Property(str, "constant", choices=("constant", "random", "ramp"), doc="frame content")
    value = Property(float, 0.0, doc="value of constant frames, scale of random ones")
    seed = Property(int, 0, range=(0, None), doc="random seed (random frames are reproducible)")

    #: ufo-filters' dummy-data: frames of one value (`init`), 2-D only
    ufo_names = declare({
        "width": same("width"), "height": same("height"), "number": same("number"),
        "depth": only({"1": {}}, "ufo's frames are 2-D; use stack number=N for 3-D"),
        "init": differs("value", "UFO's init is the value of every pixel (ours: init=constant value=V)",
                        lambda value: {"init": "constant", "value": value}),
    })

    def frame_shape(self) -> tuple[int, ...]:
        shape = list(self.shape)
        if any(s < 1 for s in shape) or not 2 <= len(shape) <= 3:  # 'shape=,' made frames of one value
            from ..core import PropertyError

            raise PropertyError(f"task 'dummy-data': property 'shape' needs 2 positive sizes (rows, columns), or 3 "
                                f"for frames that are volumes, got {shape}")
        if self.width is not None:
            shape[-1] = self.width
        if self.height is not None:
            if len(shape) < 2:
                shape = [self.height] + shape
            else:
                shape[-2] = self.height
        return tuple(shape)

    def output_spec(self) -> Spec:  # type: ignore[override]
        dtype = np.dtype(self.dtype)
        if self.init == "constant" and dtype.kind in "iu":  # wrapped or cut before: -5 as 65531, 2.7 as 2
            info = np.iinfo(dtype)
            if not (info.min <= self.value <= info.max and float(self.value).is_integer()):
                from ..core import PropertyError

                raise PropertyError(f"task 'dummy-data': value={self.value:g} is not a {dtype.name} "
                                    f"(whole numbers {info.min} .. {info.max}); give one, or dtype=float32")
        return Spec(self.frame_shape(), dtype, self.number)

    def generate(self) -> Iterator[Any]:
        shape, dtype = self.frame_shape(), np.dtype(self.dtype)
        if self.init == "constant":
            frame = np.full(shape, self.value, dtype=dtype)
            frame.flags.writeable = False  # inputs are read-only: one array serves every frame
            for _ in range(self.number):
                yield frame
            return
        if self.init == "ramp":
            base = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)
            for i in range(self.number):
                out = self.ctx.buffer()
                np.copyto(out.data, base + i * self.value, casting="unsafe")
                yield out
            return
        rng = np.random.default_rng(self.seed)
        scale = self.value or 1.0
        for _ in range(self.number):
            out = self.ctx.buffer()
            if dtype.kind == "f":
                rng.random(out=out.data, dtype=dtype.type)
                out.data *= scale
            else:
                high = min(np.iinfo(dtype).max, int(scale) if self.value else np.iinfo(dtype).max)
                out.data[...] = rng.integers(0, high, size=shape, dtype=dtype, endpoint=True)
            yield out
