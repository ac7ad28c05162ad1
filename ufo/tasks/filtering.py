"""Fourier-domain tasks: `fft`, `filter` and `ifft`, and the fused filter used by FBP."""

from __future__ import annotations

import threading
import weakref
from typing import Any

import numpy as np
import scipy.fft

from ..core import Property, Spec, Task
from ..core.errors import GraphError, PropertyError
from ..core.resources import available_cores
from ..core.ufocompat import UfoName, UfoSemantics, declare, missing, only, same, zero_is_default
from ..tomo.fbp import filter_rows
from ..tomo.filters import FILTERS, fbp_filter, padded_size, ufo_response


def _workers(ctx: Any) -> int:
    return max(1, available_cores() // max(1, ctx.replicas))


class FilterProperties:
    """Properties shared by every task that applies a reconstruction filter."""

    filter = Property(str, "ramp", choices=FILTERS, doc="reconstruction filter ('none' for pre-filtered input)")
    filter_cutoff = Property(float, 1.0, range=(1e-3, 1.0), doc="highest frequency kept, as a fraction of Nyquist")
    filter_order = Property(int, 4, range=(1, 32), doc="order of the butterworth filter")
    padding = Property(str, "zero", choices=("zero", "edge"), doc="row padding against wrap-around: zeros or edge values")

    def filter_for(self, meta: dict[str, Any]) -> str:
        """The filter to apply to a frame: this task's, or 'none' for input marked `filtered` upstream.

        Why: filtering is said once. The `filter` task marks its output (metadata `filtered`,
        kept by `ifft` and the stacks), so a UFO-style `fft ! filter ! ifft ! backproject` chain
        and the short `backproject` give the same slices instead of filtering twice. The flag
        wins; a filter set explicitly on this task is then skipped with one warning in the
        run's warnings (the default filter is silent: that chain is the ordinary use).
        """
        if not meta.get("filtered"):
            return str(self.filter)
        ctx = getattr(self, "ctx", None)
        if self.filter != "none" and "filter" in self.__dict__ and ctx is not None and _first_warning(ctx):
            ctx.warn(f"the input is already filtered (by a 'filter' task upstream): this task's "
                     f"filter={self.filter} was skipped")
        return "none"


# the nodes of each run (keyed by the run's cancel event, shared by all its tasks) that warned already:
# replicas and GPU streams are separate task objects, the warning is said once per node
_WARNED: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()
_WARNED_LOCK = threading.Lock()


def _first_warning(ctx: Any) -> bool:
    """True for the first replica of a node in a run to ask, False for the others."""
    with _WARNED_LOCK:
        nodes = _WARNED.setdefault(ctx.cancelled, set())
        first = ctx.node not in nodes
        nodes.add(ctx.node)
        return first


def fft_size(width: int, size: int) -> int:
    """Row length after `fft`'s padding: `size` > 0 as given; 0: a power of two >= 2 x width (no
    wrap-around when filtering); -1: a power of two >= width (UFO's auto-zeropadding)."""
    if size > 0:
        if size < width:
            raise GraphError(f"fft size={size} is shorter than the rows ({width} pixels)")
        if size % 2:  # ifft and filter take a row of n values for 2 (n - 1): an odd length came back wrong
            raise GraphError(f"fft size={size} is odd; give an even length (e.g. {size + 1})")
        return size
    if size == -1:
        return int(2 ** np.ceil(np.log2(max(width, 1))))
    return padded_size(width)


def _ufo_size(value: Any) -> dict[str, Any]:
    number = int(float(value))
    return {} if number <= 1 else {"size": number}  # UFO's 1 (its default) or 0: automatic


class Fft(Task):
    """Real FFT of every row, zero- or edge-padded (complex64 output of size // 2 + 1 values)."""

    name = "fft"
    padding = Property(str, "zero", choices=("zero", "edge"), doc="padding: zeros or edge values")
    size = Property(int, 0, range=(-1, None),
                    doc="row length after padding: 0 a power of two >= 2 x width (no wrap-around in filtering), "
                    "-1 a power of two >= width (UFO's auto-zeropadding), else this (even) length")
    ufo_names = declare({
        "dimensions": only({"1": {}}, "ufo's fft transforms rows (UFO's dimensions=1); for phase retrieval "
                           "(tofu's pad ! fft dimensions=2 ! retrieve-phase ! ifft ! crop) give retrieve-phase the real "
                           "frames: it pads and transforms them itself; other 2-D transforms: power-spectrum or "
                           "@ufo.jit"),
        "auto-zeropadding": only({"true": {}, "1": {}}, "ufo always pads rows"),
        "size-x": UfoName("size", "the row length after padding (UFO's 1: automatic)", _ufo_size),
        "size-y": missing("ufo transforms rows only"), "size-z": missing("ufo transforms rows only"),
    })
    #: UFO's auto-zeropadding pads to a power of two >= width (checked against ufo-launch 0.16)
    ufo_semantics = UfoSemantics({"size": -1}, "UFO pads rows to a power of two >= width; ufo to one >= 2 x width "
                                 "(no wrap-around when filtering)")

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        if spec.shape is None:
            raise GraphError("task 'fft' needs frames of a fixed shape")
        size = fft_size(spec.shape[-1], self.size)
        return spec.with_(shape=(*spec.shape[:-1], size // 2 + 1), dtype=np.complex64)

    def process(self, frame: np.ndarray, out: np.ndarray | None) -> np.ndarray:  # type: ignore[override]
        width = frame.shape[-1]
        size = fft_size(width, self.size)
        pad = [(0, 0)] * (frame.ndim - 1) + [(0, size - width)]
        padded = np.pad(frame.astype(np.float32, copy=False), pad, mode="edge" if self.padding == "edge" else "constant")
        np.copyto(out, scipy.fft.rfft(padded, axis=-1, workers=_workers(self.ctx)), casting="same_kind")
        return out  # type: ignore[return-value]


def _ufo_filter_name(value: Any) -> dict[str, Any]:
    name = str(value).strip().lower()
    if name == "ramp-fromreal":  # UFO's ramp from the real-space kernel: ours, at half scale
        return {"filter": "ramp", "response": "fbp", "scale": 0.5}
    if name in ("faris-byer", "bh3"):
        raise PropertyError(f"UFO's filter '{name}' is not provided; use ramp, butterworth or hamming")
    return {"filter": name}


class Filter(FilterProperties, Task):
    """Apply a reconstruction filter to every row: on `fft` output, or fused (FFT, filter, inverse) on real rows.

    Its output is marked filtered (metadata `filtered`; not for filter=none), so `backproject`
    and `dfi-sinc` downstream do not filter it a second time.
    """

    devices = ("cpu", "gpu")
    uses_meta = True  # sets 'filtered' in the frames' metadata

    name = "filter"
    #: UFO's filter takes filter=ramp|butterworth|... with scale/cutoff/order; ours names them filter-*
    response = Property(str, "fbp", choices=("fbp", "ufo"),
                        doc="fbp: the filters of ufo's FBP (slices in attenuation per pixel); ufo: UFO's filter "
                        "task's ramp, butterworth and hamming (on fft output)")
    scale = Property(float, 1.0, doc="multiply the filter by this (UFO's scale)")
    ufo_names = declare({
        "filter": UfoName("filter", "UFO's ramp-fromreal is ufo's ramp at half scale", _ufo_filter_name),
        "order": same("filter-order"), "scale": same("scale"),
        "cutoff": UfoName("filter-cutoff", "UFO's cutoff is in cycles per pixel (0.5: Nyquist), ufo's a fraction of "
                          "Nyquist", lambda value: {"filter-cutoff": min(1.0, 2 * float(value))}),
        "tau": missing("no Faris-Byer filter in ufo"), "theta": missing("no Faris-Byer filter in ufo"),
    })
    #: UFO's filter task's responses (measured against ufo-launch 0.16; ufo/tomo/filters.py ufo_response)
    ufo_semantics = UfoSemantics({"response": "ufo"}, "UFO's filter samples |k|/N (ramp, butterworth, hamming); "
                                 "ufo's FBP filters are the real-space ramp, about twice that")

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        if spec.shape is None:
            raise GraphError("task 'filter' needs frames of a fixed shape")
        if spec.dtype is not None and spec.dtype.kind == "c":
            return spec
        return spec.with_(dtype=np.float32)

    def setup(self, ctx: Any) -> None:
        super().setup(ctx)
        shape = ctx.input_specs[0].shape
        size = 2 * (shape[-1] - 1)
        if self.response == "ufo" and self.filter != "none":
            if ctx.input_specs[0].dtype.kind != "c":
                raise GraphError("filter response=ufo filters fft output, as UFO's filter does: put fft before it")
            try:
                kernel = ufo_response(size, self.filter, self.filter_cutoff / 2, self.filter_order)
            except ValueError as exc:
                raise GraphError(str(exc)) from exc
        elif ctx.input_specs[0].dtype.kind == "c":
            kernel = fbp_filter(size, self.filter, self.filter_cutoff, self.filter_order)
        else:
            kernel = None
        self._kernel = None if kernel is None else (kernel * self.scale).astype(np.float32)

    def process(self, frame: np.ndarray, out: np.ndarray | None, meta: dict[str, Any]) -> np.ndarray:  # type: ignore[override]
        mark_filtered(self, meta)
        if self._kernel is not None:
            np.multiply(frame, self._kernel, out=out)
            return out  # type: ignore[return-value]
        filtered = filter_rows(frame, self.filter, self.filter_cutoff, self.filter_order, self.padding,
                               _workers(self.ctx), out=out)
        if self.scale != 1.0:  # real rows filtered in one step: the scale after (a linear filter's gain)
            filtered *= np.float32(self.scale)
        return filtered


def mark_filtered(task: Filter, meta: dict[str, Any]) -> None:
    """Mark a frame the `filter` task has filtered (not for filter=none), for the tasks downstream."""
    if task.filter != "none":
        meta["filtered"] = True


class Ifft(Task):
    """Inverse of `fft`: real rows, cropped to `crop-width` (the width before `fft`)."""

    name = "ifft"
    from_complex = True
    crop_width = Property(int, None, range=(1, None), doc="output width (default: the whole padded row)")
    ufo_names = declare({
        "dimensions": only({"1": {}}, "ufo's ifft transforms rows (UFO's dimensions=1)"),
        "crop-width": zero_is_default("crop-width"),
        "crop-height": only({"-1": {}, "0": {}}, "ufo's ifft keeps every row; follow it by crop height="),
    })
    norm = Property(str, "inverse", choices=("inverse", "ufo"),
                    doc="inverse: the exact inverse of fft; ufo: divided by the row length once more, as UFO's ifft")
    #: UFO's ifft scales by 1/N twice (checked against ufo-launch 0.16: fft ! ifft gives x / N)
    ufo_semantics = UfoSemantics({"norm": "ufo"}, "UFO's ifft divides by the row length N once more than an inverse "
                                 "FFT: UFO's fft ! filter ! ifft ! backproject slices are 1/N of ufo's")

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        if spec.shape is None or spec.dtype is None or spec.dtype.kind != "c":
            raise GraphError(f"task 'ifft' needs complex input from 'fft', got {spec}")
        size = 2 * (spec.shape[-1] - 1)
        width = self.crop_width or size
        if width > size:
            raise GraphError(f"crop-width={width} is larger than the padded row of {size}")
        return spec.with_(shape=(*spec.shape[:-1], width), dtype=np.float32)

    def process(self, frame: np.ndarray, out: np.ndarray | None) -> np.ndarray:  # type: ignore[override]
        size = 2 * (frame.shape[-1] - 1)
        rows = scipy.fft.irfft(frame, n=size, axis=-1, workers=_workers(self.ctx))
        if self.norm == "ufo":
            rows /= size
        np.copyto(out, rows[..., : out.shape[-1]], casting="same_kind")  # type: ignore[union-attr]
        return out  # type: ignore[return-value]
