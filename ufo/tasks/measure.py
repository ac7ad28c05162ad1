"""Measurements of ufo-filters on 2-D frames: measure, measure-sharpness, stat-monitor.

UFO's measurements answer "is the beam there, is the sample in focus, did the detector
saturate" while data streams; the names and property names are UFO's.
"""

from __future__ import annotations

import sys
import threading
from typing import IO, Any

import numpy as np

from ..core import Property, Spec, Task
from ..core.errors import GraphError
from .filters2d import frame2d

METRICS = ("min", "max", "sum", "mean", "var", "std", "skew", "kurtosis")


def measure(frame: np.ndarray, metric: str, axis: int | None) -> np.ndarray:
    """One of UFO's metrics of a frame in float64, over all pixels (axis None) or along a numpy axis.

    Moments are UFO's (population) moments: var = mean((x - mean)**2), std its root,
    skew = m3 / var**1.5 and kurtosis = m4 / var**2 - 3 (excess), 0 where var is 0.
    """
    data = np.asarray(frame, np.float64)
    if metric in ("min", "max", "sum", "mean"):
        return np.asarray(getattr(np, metric)(data, axis=axis))
    deviation = data - data.mean(axis=axis, keepdims=True)
    var = np.mean(deviation ** 2, axis=axis)
    if metric == "var":
        return np.asarray(var)
    if metric == "std":
        return np.sqrt(var)
    power = 3 if metric == "skew" else 4
    moment = np.mean(deviation ** power, axis=axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = moment / var ** (power / 2)
    value = np.where(var != 0, value, 0.0)
    return value - 3 if metric == "kurtosis" else value


class Measure(Task):
    """A statistic of each frame (float32): over all pixels, or along rows or columns, as UFO's measure.

    `axis` counts as UFO does (OpenCL order, x first): -1 measures the whole frame and
    gives one value, 0 measures along x (each row: one value per row) and 1 along y (each
    column: one value per column). The value is also in the frame's metadata under the
    metric's name for axis=-1.
    """

    name = "measure"
    uses_meta = True
    metric = Property(str, "std", choices=METRICS, doc="statistic (var, std, skew, kurtosis: population moments)")
    axis = Property(int, -1, choices=(-1, 0, 1), doc="-1: whole frame; 0: along x (per row); 1: along y (per column)")

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        h, w = frame2d(self, spec)
        size = {-1: 1, 0: h, 1: w}[self.axis]
        return spec.with_(shape=(size,), dtype=np.float32)

    def process(self, frame: np.ndarray, *, out: np.ndarray | None, meta: dict[str, Any]) -> np.ndarray:  # type: ignore[override]
        assert out is not None
        numpy_axis = {-1: None, 0: 1, 1: 0}[self.axis]
        value = measure(frame, self.metric, numpy_axis)
        out[...] = value
        if numpy_axis is None:
            meta[self.metric] = float(value)
        return out


class MeasureSharpness(Task):
    """UFO's sharpness of each frame: the mean absolute difference between neighbours, halved.

    sum over rows y >= 1 and columns x >= 1 of |f[y, x] - f[y, x-1]| + |f[y, x] - f[y-1, x]|,
    divided by 2 * width * height, as UFO. UFO reports it as a readable property and emits
    nothing; ours emits it as a one-value float32 frame and in the metadata as `sharpness`,
    so it can be written, collected or compared along a focus scan.
    """

    name = "measure-sharpness"
    uses_meta = True

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        h, w = frame2d(self, spec)
        if h < 2 or w < 2:
            raise GraphError(f"task 'measure-sharpness' needs frames of at least 2x2 pixels, got {w}x{h}")
        return spec.with_(shape=(1,), dtype=np.float32)

    def process(self, frame: np.ndarray, *, out: np.ndarray | None, meta: dict[str, Any]) -> np.ndarray:  # type: ignore[override]
        assert out is not None
        data = np.asarray(frame, np.float64)
        h, w = data.shape
        total = np.abs(np.diff(data[1:], axis=1)).sum() + np.abs(np.diff(data[:, 1:], axis=0)).sum()
        sharpness = float(total / 2.0 / (w * h))
        out[0] = sharpness
        meta["sharpness"] = sharpness
        return out


class _Shared:
    """What the replicas of one stat-monitor node share: the output file, its lock, a frame count."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.file: IO[str] | None = None
        self.count = 0
        self.done = 0  # replicas torn down


class StatMonitor(Task):
    """Pass frames through unchanged and print or record min, max, sum, sum of squares, mean and variance.

    One line per frame, as UFO's stat-monitor: `index min max sum sum-of-squares mean var`
    (var with n - 1, as UFO), to standard output (filename '-') or appended to a file that
    starts with a `#` header line. The same values are added to each frame's metadata under
    `stats`, so a later task or `collect` sees them. `quiet` and `trace` are accepted for
    UFO's pipelines; ours prints no monitoring line besides the statistics, and `trace`
    adds one 'done frame N' line per frame as UFO's does.
    """

    name = "stat-monitor"
    uses_meta = True
    filename = Property(str, "-", doc="file the statistics are appended to ('-': standard output)")
    trace = Property(bool, False, doc="also print 'stat-monitor: done frame N' for each frame")
    quiet = Property(bool, False, doc="accepted for UFO's pipelines (ours prints only the statistics)")

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        if spec.shape is None:
            raise GraphError("task 'stat-monitor' needs frames of a fixed shape")
        if spec.dtype is not None and np.dtype(spec.dtype).kind == "c":
            raise GraphError(f"task 'stat-monitor' works on real frames, got {spec.dtype}")
        # state shared by every replica of this node (replicas are clones with their own
        # attributes, so it lives in one object they all hold), made before their threads
        # start: the file is opened, header first, by whichever replica has the first frame
        self._shared = _Shared()
        return spec

    def process(self, frame: np.ndarray, *, out: np.ndarray | None, meta: dict[str, Any]) -> np.ndarray:  # type: ignore[override]
        assert out is not None
        data = np.asarray(frame, np.float64)
        n = data.size
        total, squares = float(data.sum()), float(np.square(data).sum())
        mean = total / n
        var = (squares - n * mean * mean) / (n - 1) if n > 1 else 0.0
        stats = {"min": float(data.min()), "max": float(data.max()), "sum": total, "sum_sq": squares,
                 "mean": mean, "var": var}
        meta["stats"] = stats
        shared = self._shared
        with shared.lock:
            if shared.file is None and self.filename != "-":
                shared.file = open(self.filename, "a", buffering=1)  # noqa: SIM115 (closed in teardown)
                shared.file.write("# index min max sum sum-of-sq mean var\n")
            index = int(meta.get("index", shared.count))
            shared.count += 1
            line = f"{index} " + " ".join(f"{v:e}" for v in stats.values())
            if shared.file is not None:
                shared.file.write(line + "\n")
            else:
                print(line, file=sys.stdout, flush=True)
            if self.trace:
                print(f"stat-monitor: done frame {index}", file=sys.stdout, flush=True)
        np.copyto(out, frame)
        return out

    def teardown(self) -> None:
        shared = getattr(self, "_shared", None)  # None where the graph never validated
        if shared is None:
            return
        with shared.lock:  # every replica tears down; the last one closes the file
            shared.done += 1
            if shared.done >= self.replicas and shared.file is not None:
                shared.file.close()
                shared.file = None
