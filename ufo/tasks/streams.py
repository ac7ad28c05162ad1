"""Tasks that change the structure of a stream: UFO's slice, merge, buffer, loop, monitor,
sliding-stack, interpolate-stream, flatten and flatten-inplace.

They carry UFO's names and property names so UFO pipelines run unchanged; where UFO's C code
and its documentation disagree, the docstring says which one ours follows. Tasks that change
the number of frames declare the new count in `output_spec`, so progress, `collect()` and the
writers downstream know it before the first frame.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..core import Input, Kind, Property, Spec, Task
from ..core.errors import GraphError, InputError
from ..core.resources import available_memory

#: how many inputs `merge` may take (UFO's `number` property; 2 by default)
MAX_MERGE_INPUTS = 8


def _fixed(task: Task, spec: Spec, ndim: int | None = None) -> tuple[int, ...]:
    """The frame shape of `spec`, or GraphError naming the task when it is unknown or of the wrong rank."""
    if spec.shape is None:
        raise GraphError(f"task '{task.name}' needs frames of a fixed shape")
    if ndim is not None and len(spec.shape) != ndim:
        raise GraphError(f"task '{task.name}' works on {ndim}-D frames, got shape {spec.shape}")
    return spec.shape


def _check_memory(task: Task, spec: Spec, frames: int | None, what: str) -> None:
    """Refuse, when the graph is built, a task that would keep more frames than memory holds."""
    if frames is None or spec.nbytes is None:
        return
    need, limit = frames * spec.nbytes, int(available_memory() * 0.8)
    if need > limit:
        raise GraphError(f"task '{task.name}' keeps {what}: {frames} frames of {spec} need {need / 2**30:.1f} GiB, "
                         f"more than the {limit / 2**30:.1f} GiB available")


def _shared(meta: dict[str, Any]) -> dict[str, Any]:
    """Metadata for a new frame made from this one: everything but the stream position."""
    return {k: v for k, v in meta.items() if k != "index"}


class Slice(Task):
    """Split each 3-D volume (n, rows, columns) into its n frames (UFO's `slice`, the inverse of `stack`).

    Every frame keeps the volume's metadata. The count is the volumes' count times n; after a
    `stack partial=true` the last volume may be smaller, so then it is an upper bound.
    """

    name = "slice"
    kind = Kind.REDUCE
    uses_meta = True

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        shape = _fixed(self, spec, 3)
        count = None if spec.count is None else spec.count * shape[0]
        return Spec(shape[1:], spec.dtype, count)

    def consume(self, volume: np.ndarray, meta: dict[str, Any]) -> Iterator[Any]:  # type: ignore[override]
        shared = _shared(meta)
        for plane in volume:
            out = self.ctx.buffer()
            np.copyto(out.data, plane)
            yield out, dict(shared)


class Merge(Task):
    """Join one frame of each of `number` inputs into one frame, input 0 on top (UFO's `merge`).

    UFO copies the inputs' bytes one after the other, which for frames of equal width is a
    vertical concatenation; ours is that concatenation and refuses frames of different widths
    (whose bytes UFO would interleave into rows that mean nothing). The output dtype is the
    common dtype of the inputs. The inputs are read in step; the shortest one ends the stream.
    """

    name = "merge"
    inputs = (Input("input0"), Input("input1"),
              *(Input(f"input{i}", optional=True) for i in range(2, MAX_MERGE_INPUTS)))
    number = Property(int, None, range=(2, MAX_MERGE_INPUTS),
                      doc="number of inputs (UFO's; default: as many as are connected)")

    def output_spec(self, *specs: Spec) -> Spec:  # type: ignore[override]
        if self.number is not None and self.number != len(specs):
            raise GraphError(f"task 'merge': number={self.number} but {len(specs)} inputs are connected")
        shapes = [_fixed(self, s, 2) for s in specs]
        widths = {shape[1] for shape in shapes}
        if len(widths) != 1:
            raise GraphError(f"task 'merge' stacks frames of one width on top of each other, got widths "
                             f"{[shape[1] for shape in shapes]}")
        dtypes = [s.dtype for s in specs]
        if any(d is None for d in dtypes):
            raise GraphError("task 'merge' needs inputs of a known dtype")
        counts = [s.count for s in specs]
        count = None if any(c is None for c in counts) else min(counts)  # type: ignore[type-var]
        return Spec((sum(shape[0] for shape in shapes), widths.pop()), np.result_type(*dtypes), count)

    def process(self, *frames: np.ndarray, out: np.ndarray | None) -> np.ndarray:  # type: ignore[override]
        assert out is not None
        row = 0
        for frame in frames:
            out[row: row + frame.shape[0]] = frame
            row += frame.shape[0]
        return out


class Buffer(Task):
    """Keep every frame until the stream ends, then emit them all (UFO's `buffer`).

    With `dup-count` each frame is emitted that many times in a row (0 0 1 1 2 2); with `loop`
    the whole sequence is emitted `dup-count` times instead (0 1 2 0 1 2), as UFO's C code does.
    UFO's `number` pre-allocates pages; here it is accepted and only sizes the first allocation.
    """

    name = "buffer"
    kind = Kind.REDUCE
    uses_meta = True
    number = Property(int, 4, range=(1, 32768), doc="frames to pre-allocate (UFO's; the buffer grows as needed)")
    dup_count = Property(int, 1, range=(1, 32768), doc="how many times each frame is emitted")
    loop = Property(bool, False, doc="emit the whole sequence dup-count times instead of each frame dup-count times")

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        _fixed(self, spec)
        _check_memory(self, spec, spec.count, "every frame until the stream ends")
        return spec.with_(count=None if spec.count is None else spec.count * self.dup_count)

    def setup(self, ctx: Any) -> None:
        super().setup(ctx)
        self._frames: list[tuple[np.ndarray, dict[str, Any]]] = []

    def consume(self, frame: np.ndarray, meta: dict[str, Any]) -> None:  # type: ignore[override]
        self._frames.append((np.array(frame, copy=True), _shared(meta)))

    def finish(self) -> Iterator[Any]:
        frames, self._frames = self._frames, []
        if self.loop:
            order = [f for _ in range(self.dup_count) for f in frames]
        else:
            order = [f for f in frames for _ in range(self.dup_count)]
        for data, meta in order:
            out = self.ctx.buffer()
            np.copyto(out.data, data)
            yield out, dict(meta)


class Loop(Task):
    """Emit every frame `number` times in a row, as it arrives (UFO's `loop`): 0 0 0 1 1 1 ..."""

    name = "loop"
    kind = Kind.REDUCE
    uses_meta = True
    number = Property(int, 1, range=(0, None), doc="how many times each frame is emitted (0: none)")

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        _fixed(self, spec)
        return spec.with_(count=None if spec.count is None else spec.count * self.number)

    def consume(self, frame: np.ndarray, meta: dict[str, Any]) -> Iterator[Any]:  # type: ignore[override]
        shared = _shared(meta)
        for _ in range(self.number):
            out = self.ctx.buffer()
            np.copyto(out.data, frame)
            yield out, dict(shared)


class Monitor(Task):
    """Pass frames through unchanged and print each one's index, shape, dtype and metadata keys (UFO's `monitor`).

    Why: to see what flows at one point of a pipeline without writing files. With `print=N`
    the first N values of every frame are printed too (UFO prints them in hexadecimal; ours
    prints the numbers). Output goes to stdout, one line per frame; frames pass on as copies.
    """

    name = "monitor"
    uses_meta = True
    print = Property(int, 0, range=(0, None), doc="values of each frame to print (0: none)")

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        return spec

    def process(self, frame: np.ndarray, out: np.ndarray | None, meta: dict[str, Any]) -> np.ndarray:  # type: ignore[override]
        keys = ", ".join(sorted(k for k in meta if k != "index"))
        line = (f"monitor[{self.ctx.node}] frame {meta.get('index', '?')}: shape {'x'.join(map(str, frame.shape))} "
                f"{frame.dtype} meta: {keys or '-'}")
        if self.print:
            values = " ".join(f"{v:g}" if isinstance(v, (float, np.floating)) else str(v)
                              for v in frame.ravel()[: self.print].tolist())
            line += f" values: {values}"
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        np.copyto(out, frame)  # a copy, not the input itself: the input may be shared with other consumers
        return out  # type: ignore[return-value]


class SlidingStack(Task):
    """Emit, for every frame, a (number, rows, columns) window of the last `number` frames (UFO's `sliding-stack`).

    As in UFO, the first frame fills the whole window, and frame i goes to window position
    i % number (for number=3: (0 0 0), (0 1 0), (0 1 2), (3 1 2), ...); with `ordered` the
    window runs from the oldest frame to the newest. One window per frame: the count is kept.
    A reduction, not a map, so it is never replicated: its window is sequential state.
    """

    name = "sliding-stack"
    kind = Kind.REDUCE
    uses_meta = True
    number = Property(int, 1, range=(1, None), doc="frames in the window (the length of the third dimension)")
    ordered = Property(bool, False, doc="order the window from the oldest frame to the newest")

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        shape = _fixed(self, spec, 2)
        return Spec((self.number, *shape), spec.dtype, spec.count)

    def setup(self, ctx: Any) -> None:
        super().setup(ctx)
        spec = ctx.input_specs[0]
        self._window = np.empty((self.number, *spec.shape), spec.dtype)
        self._seen = 0

    def consume(self, frame: np.ndarray, meta: dict[str, Any]) -> Iterator[Any]:  # type: ignore[override]
        n = self.number
        if self._seen == 0:
            self._window[:] = frame
        else:
            self._window[self._seen % n] = frame
        self._seen += 1
        out = self.ctx.buffer()
        if self.ordered:
            oldest = self._seen % n
            np.copyto(out.data, np.roll(self._window, -oldest, axis=0))
        else:
            np.copyto(out.data, self._window)
        yield out, _shared(meta)


def stream_weights(frames: int, number: int) -> list[tuple[int, float]]:
    """(lower frame, alpha) of each of `number` outputs interpolated from `frames` inputs, by UFO's rule.

    UFO's interpolate-stream splits the outputs into frames - 1 segments of round(number /
    (frames - 1)) outputs (the last segment takes what is left) and blends frame `lower` and
    `lower + 1` with alpha = position in the segment / segment length; the last input frame
    itself is reached only where a segment is cut short. Kept exactly, so the numbers match UFO's.
    """
    pairs = []
    per = math.floor(number / (frames - 1) + 0.5)  # C's roundf: halves away from zero
    for current in range(number):
        lower = min(math.floor((frames - 1) * current / number), frames - 2)
        segment = min((lower + 1) * per, number) - lower * per
        alpha = (current - per * lower) / segment if segment > 0 else 0.0
        pairs.append((lower, float(alpha)))
    return pairs


class InterpolateStream(Task):
    """Resample a whole stream to `number` frames by linear interpolation between neighbours (UFO's `interpolate-stream`).

    All input frames are kept until the stream ends (at least 2 are needed); output k is
    (1 - alpha) * frame[lower] + alpha * frame[lower + 1] with UFO's segment rule
    (`stream_weights`). float32 output.
    """

    name = "interpolate-stream"
    kind = Kind.REDUCE
    number = Property(int, 1, range=(1, None), doc="number of output frames")

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        _fixed(self, spec)
        if spec.count is not None and spec.count < 2:
            raise GraphError(f"task 'interpolate-stream' needs at least 2 frames, the stream has {spec.count}")
        _check_memory(self, spec.with_(dtype=np.float32), spec.count, "every frame until the stream ends")
        return Spec(spec.shape, np.float32, self.number)

    def setup(self, ctx: Any) -> None:
        super().setup(ctx)
        self._frames: list[np.ndarray] = []

    def consume(self, frame: np.ndarray) -> None:  # type: ignore[override]
        self._frames.append(np.array(frame, np.float32))

    def finish(self) -> Iterator[Any]:
        frames, self._frames = self._frames, []
        if len(frames) < 2:
            raise GraphError(f"task 'interpolate-stream' needs at least 2 frames, got {len(frames)}")
        for lower, alpha in stream_weights(len(frames), self.number):
            out = self.ctx.buffer()
            np.multiply(frames[lower], np.float32(1 - alpha), out=out.data)
            out.data += np.float32(alpha) * frames[lower + 1]
            yield out


FLATTEN_MODES = {"min": np.min, "max": np.max, "sum": np.sum, "median": np.median}


class Flatten(Task):
    """Reduce each 3-D volume (n, rows, columns) along its first axis to one frame: min, max, sum or median (UFO's `flatten`).

    UFO documents the four modes, but its C code computes the median whatever `mode` says;
    ours computes the mode asked for (median by default, which is what UFO gives). float32.
    """

    name = "flatten"
    mode = Property(str, "median", choices=tuple(FLATTEN_MODES), doc="how the values along the stack are combined")

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        shape = _fixed(self, spec, 3)
        return Spec(shape[1:], np.float32, spec.count)

    def process(self, volume: np.ndarray, out: np.ndarray | None) -> np.ndarray:  # type: ignore[override]
        assert out is not None
        if volume.shape[1:] != out.shape:
            raise GraphError(f"task 'flatten': a volume of shape {volume.shape} does not fit frames of {out.shape}")
        data = volume if volume.dtype == np.float32 else volume.astype(np.float32)
        if self.mode == "median":
            np.copyto(out, np.median(data, axis=0))
        else:
            FLATTEN_MODES[self.mode](data, axis=0, out=out)
        return out


class FlattenInplace(Task):
    """Combine all frames of a stream pixel by pixel into one: sum, min or max (UFO's `flatten-inplace`).

    The running result is updated per frame, so no frame is kept (`average` gives the mean,
    `flatten` the median of a stacked volume). float32 output, accumulated in float64.
    """

    name = "flatten-inplace"
    kind = Kind.REDUCE
    mode = Property(str, "sum", choices=("sum", "min", "max"), doc="how the frames are combined")

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        return Spec(_fixed(self, spec), np.float32, 1)

    def setup(self, ctx: Any) -> None:
        super().setup(ctx)
        self._acc: np.ndarray | None = None

    def consume(self, frame: np.ndarray) -> None:  # type: ignore[override]
        if self._acc is None:
            self._acc = np.array(frame, np.float64)
        elif self.mode == "sum":
            self._acc += frame
        elif self.mode == "min":
            np.minimum(self._acc, frame, out=self._acc)
        else:
            np.maximum(self._acc, frame, out=self._acc)

    def finish(self) -> Iterator[Any]:
        if self._acc is None:
            raise InputError("task 'flatten-inplace' received no frames: its input stream was empty")
        yield self._acc.astype(np.float32)
