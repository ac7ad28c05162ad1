"""Elementwise arithmetic on frames."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from ..core import Input, Kind, Property, Spec, Task
from ..core.errors import GraphError, PropertyError
from ..core.ufocompat import declare, differs, only
from .expression import compile_expression


def _ufo_expression(text: Any) -> dict[str, Any]:
    """UFO's expression where it means the same here: v only (UFO's x, y are positions, ours x is the value)."""
    if {"x", "y"} & set(re.findall(r"[A-Za-z_]\w*", str(text))):
        raise PropertyError(f"{text!r}: UFO's x and y are the pixel's position; ufo's calculate has no positions "
                            "and its x is the value: use @ufo.jit for positions (UFO's v works as is)")
    return {"expression": text}


class Calculate(Task):
    """Compute an elementwise expression of up to four inputs (x or v, x0..x3): 'x * 2 + 1'."""

    name = "calculate"
    kind = Kind.MAP
    inputs = (Input("x0"), Input("x1", optional=True), Input("x2", optional=True), Input("x3", optional=True))

    expression = Property(str, "x", doc="elementwise expression, e.g. 'sqrt(x0**2 + x1**2)' or 'where(x > 0, x, 0)'")
    dtype = Property(str, "float32", choices=("float32", "float64"), doc="output data type")
    #: UFO's expression is OpenCL C with v the pixel value (x, y its position); ours is numpy with x the value
    ufo_names = declare({
        "expression": differs("expression", "UFO's v (the pixel value) is v here too; UFO's x and y are the "
                              "pixel's position, which ufo's x is not: in a UFO graph they are refused (use "
                              "@ufo.jit)", _ufo_expression),
        "dimensions": only({"2": {}}, "ufo computes on whole frames (UFO's dimensions=2)"),
    })

    def output_spec(self, *specs: Spec) -> Spec:
        compile_expression(self.expression, len(specs), self.dtype)  # fail at build time on bad text
        shapes = {s.shape for s in specs}
        if len(shapes) > 1:
            raise GraphError(f"inputs have different shapes: {', '.join(str(s.shape) for s in specs)}")
        first = specs[0]
        return Spec(first.shape, np.dtype(self.dtype), first.count)

    def setup(self, ctx: Any) -> None:
        super().setup(ctx)
        self._eval = compile_expression(self.expression, len(ctx.input_specs), self.dtype)

    def process(self, *inputs: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        return self._eval(inputs, out)  # type: ignore[no-any-return]

