"""What a map's process() fills and returns (`ufo.core.nodes`, `ufo.core.batched_map`): the output it is
given, and its result checked and turned into the frame that goes on."""

from __future__ import annotations

from typing import Any

from .frame import Frame


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


def target_of(node: Any, out: Frame | None, data: Any) -> Any:
    """What the task fills: the pooled output, or the front of it for a stack smaller than its
    input's declared ones (the last of `stack partial=true`, of a pass), where the output's stacks
    follow the input's: tasks filled the full stack ('could not broadcast (23, 37) into (46, 37)')."""
    if out is None:
        return None
    declared = getattr(node.in_specs[0] if node.in_specs else None, "shape", None)
    shape, full = getattr(data, "shape", ()), out.data.shape
    if declared is not None and len(shape) == len(declared) == len(full) > 2 and shape[0] < declared[0] == full[0] \
            and tuple(shape[1:]) == tuple(declared[1:]):
        return out.data[:shape[0]]
    return out.data


def map_output(node: Any, source: Frame, out: Frame | None, result: Any, meta: dict[str, Any],
                target: Any = None) -> Frame:
    """Turn what `process` returned into the frame to emit, recycling what is not needed."""
    if out is not None and result is out.data:
        out.meta = meta
        source.release()
        return out
    if out is not None and (result is target or getattr(result, "base", None) is out.data):  # the front of the
        check_result(result, out.data.shape, meta)  # pooled output, or a view of it (`return out[:]`)
        frame = Frame(result, meta)
        frame._parents = (out,)  # back to the pool when the part is released (it went back at once)
        source.release()
        return frame
    declared = None if out is None else out.data.shape
    if out is not None:
        node.pool.put(out)  # type: ignore[union-attr]
    check_result(result, declared, meta)
    if result is source.data and source._refs == 1 and not source._parents:
        source.meta = meta
        return source
    frame = Frame(result, meta)
    if result is not source.data and getattr(result, "base", None) is None:
        source.release()  # a fresh array: the input buffer can go back now
    else:  # a view, or the shared input itself: keep the input alive while the output lives
        frame._parents = (source,)
    return frame
