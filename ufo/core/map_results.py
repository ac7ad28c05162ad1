"""What a map's process() returned, checked before it goes on (`ufo.core.nodes`, `ufo.core.batched_map`)."""

from __future__ import annotations

from typing import Any


def check_result(result: Any, declared: tuple[int, ...] | None, meta: dict[str, Any]) -> None:
    """A map's result is an array of its declared output shape, or a stack smaller at the end
    (backproject's last pass, stack partial=true): unchecked, an (8, 1) column of an 8 x 8 map was
    broadcast downstream, mixed into files, or failed as the next task."""
    if result is None or getattr(result, "shape", None) is None:
        raise TypeError(f"process() returned {result!r:.40}; return the output array")
    shape = tuple(result.shape)
    if declared is not None and shape != declared and not (len(shape) == len(declared) > 2 and shape[0] < declared[0]
                                                            and shape[1:] == declared[1:]):
        raise ValueError(f"process() returned a frame of shape {shape} at frame {meta.get('index', '?')}; its "
                         f"output_shape() declares {declared}")
