"""Flat-field correction and outlier (zinger) removal."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core import Input, Property, Spec, Task
from ..core.errors import GraphError
from ..core.ufocompat import UfoSemantics, declare, differs, only, same

REDUCTIONS = ("mean", "median", "first", "each")
#: flat-field-correct's `starved` choices; ufo.kernels.flat.STARVED_CEILING, copied: that module is numba's
STARVES = ("floor", "ufo")
STARVED_CEILING = 1e-3

#: frames of this many pixels or more are corrected by the one-pass numba kernel (ufo.kernels.flat); smaller
#: ones by numpy, which costs microseconds on them and spares a short run numba's import and load (~1 s).
#: With absorption numpy is used at every size: its SIMD float32 log beats the kernel's scalar one
#: (2048 x 2048: 12.5 against 20 ms a frame on one core)
NUMBA_FROM_PIXELS = 1 << 18


def flat_correct(proj: np.ndarray, dark: np.ndarray, flat: np.ndarray, absorption: bool, fix: bool,
                 out: np.ndarray, span: np.ndarray | None = None, starved: str = "floor") -> np.ndarray:
    """out = (proj - dark) / (flat - dark), then -log where positive (NaN elsewhere) if `absorption`.
    starved='floor': pixels with projection <= dark < flat get the transmission min(1 / (flat - dark), 1e-3)
    (less than one count of their flat), dead ones (flat <= dark) are non-finite; `fix` makes non-finite
    values transparent: 0 after -log, 1 in transmission. starved='ufo': UFO's numbers (the ratio as is,
    non-finite -> 0 in either domain). The numba kernel and numpy give the same values (float32).
    `span`: `divisor(dark, flat, ...)` when the caller keeps it across frames."""
    floor = starved == "floor"
    if dark.dtype.kind in "biu" or flat.dtype.kind in "biu":  # integer references: their differences wrapped
        dark, flat = np.asarray(dark, np.float32), np.asarray(flat, np.float32)
    if proj.size >= NUMBA_FROM_PIXELS and not absorption:
        from ..kernels.flat import flat_correct as one_pass

        one_pass(proj, dark, flat, absorption, fix, out, floor)
        return out
    with np.errstate(divide="ignore", invalid="ignore"):
        if span is None:
            span = divisor(dark, flat, floor and fix)
        np.subtract(proj, dark, out=out, casting="unsafe")
        np.divide(out, span, out=out)
        if floor:
            _floor_starved(out, span)
        if absorption:
            positive = out > 0
            np.log(out, out=out, where=positive)
            np.negative(out, out=out)
            out[~positive] = np.nan
    if fix:
        out[~np.isfinite(out)] = 1.0 if floor and not absorption else 0.0
    return out


def divisor(dark: np.ndarray, flat: np.ndarray, dead_nan: bool) -> np.ndarray:
    """flat - dark (float32); with `dead_nan` NaN where it is not > 0, so that dead pixels (whatever their
    ratio) are non-finite and fixed with the rest (starved=floor with fix-nan-and-inf)."""
    span = np.subtract(flat, dark, dtype=np.float32)
    if dead_nan:
        span[~(span > 0)] = np.nan
    return span


def _floor_starved(ratio: np.ndarray, span: np.ndarray) -> None:
    """Transmissions <= 0 where the flat is above the dark -> min(1 / (flat - dark), 1e-3), in place."""
    starved = ratio <= 0
    if starved.any():
        starved &= span > 0
        ratio[starved] = np.minimum(np.float32(1) / span[starved], np.float32(STARVED_CEILING))


def _references(frames: list[np.ndarray], how: str, what: str, shape: tuple[int, ...]) -> list[np.ndarray]:
    """The reference frames to use: one reduced frame, or (how='each') every frame in order."""
    if not frames:
        raise GraphError(f"task 'flat-field-correct' received no {what}")
    arrays = [np.asarray(f, np.float32) for f in frames]
    for number, array in enumerate(arrays):
        if array.shape != tuple(shape):
            raise GraphError(f"task 'flat-field-correct': {what} frame {number} has shape {array.shape}, "
                             f"the projections {tuple(shape)}: they must match")
    if how == "each":  # UFO pairs its inputs: projection i with dark i and flat i, the last one repeated
        return arrays
    if how == "first":
        return [arrays[0]]
    from ..tomo.steps import reduce_frames  # the step module pulls in the FBP filters: only when references come

    return [reduce_frames(np.stack(arrays), how)]


def _pick(frames: list[Any], index: int) -> Any:
    """Frame `index` of a pairing ('each'), the last one once they run out; the one reduced frame otherwise."""
    return frames[min(max(index, 0), len(frames) - 1)]


class FlatFieldCorrect(Task):
    """(projection - dark) / (flat - dark), optionally -log; flats before and after the scan are interpolated.

    Flats taken in several runs of one file (before, during and after the scan: their frames
    carry `file_index`, as NXtomo readers give it) are reduced run by run and interpolated by
    each projection's `file_index` (ufo.tomo.flat_runs), unless a `flats2` input is given.
    With `flats2` (the flats after the scan) each projection's flat lies between the two by its
    place along the scan: its `scan_fraction` where `read` took part of a file (`start`,
    `number`, `step`), else its index in the stream.
    """

    devices = ("cpu", "gpu")

    name = "flat-field-correct"
    uses_meta = True
    inputs = (Input("projections"), Input("darks", collect=True), Input("flats", collect=True),
              Input("flats2", collect=True, optional=True))

    absorption = Property(bool, False, doc="output -log of the transmission (for back-projection)")
    fix_nan_and_inf = Property(bool, True, doc="replace NaN and infinite results by transparent: 0 with absorption, "
                               "1 without (starved=ufo: 0 in either); dead pixels (flat <= dark) are filled from the "
                               "good pixels beside them in their row (starved=ufo: 0)")
    starved = Property(str, "floor", choices=STARVES,
                       doc="pixels without counts above the dark (projection <= dark < flat): floor: transmission "
                       "min(1 / (flat - dark), 1e-3), less than one count of their flat (-log at least 6.9); "
                       "ufo: UFO's numbers, the ratio as is (0 or negative; its -log NaN, which fix-nan-and-inf "
                       "sets to 0: transparent), and dead pixels 0 in transmission too")
    dark_reduction = Property(str, "mean", choices=REDUCTIONS,
                              doc="how darks are combined (first: the first only; each: projection i uses dark i, "
                              "the last one once they run out, as UFO pairs its inputs)")
    flat_reduction = Property(str, "median", choices=REDUCTIONS,
                              doc="how flats are combined (median drops zingers; first: the first only; each: "
                              "projection i uses flat i, the last one once they run out, as UFO does)")
    dark_scale = Property(float, 1.0, doc="multiply the dark by this (e.g. for another exposure time)")
    flat_scale = Property(float, 1.0, doc="multiply the flat by this")

    ufo_names = declare({
        "absorption-correct": same("absorption"),
        "fix-nan-and-inf": differs("fix-nan-and-inf", "UFO sets NaN and inf to 0 in either domain, dead pixels "
                                   "(flat = dark) in transmission opaque; ufo fills them from the good pixels beside "
                                   "them in their rows; starved=ufo, which a UFO graph gets, gives UFO's 0"),
        "sinogram-input": only({"false": {}, "0": {}}, "ufo corrects projections; correct first, then "
                               "transpose-projections"),
        "dark-scale": same("dark-scale"), "flat-scale": same("flat-scale"),
    })
    #: UFO's runtime pairs a task's inputs item by item and repeats the last item of an input that ran out
    #: (checked against ufo-launch 0.16: benchmarks/ufo_launch.py)
    ufo_semantics = UfoSemantics({"dark-reduction": "each", "flat-reduction": "each", "starved": "ufo"},
                                 "UFO corrects projection i with dark i and flat i (the last one once they run out); "
                                 "ufo with the mean of the darks and the median of the flats. UFO's fix-nan-and-inf "
                                 "sets pixels without counts (projection <= dark) to 0 after -log (transparent) and "
                                 "dead ones (flat = dark) to 0 in transmission too (opaque); ufo floors the former at "
                                 "less than one count of their flat and fills the latter from their rows' good pixels")

    def output_spec(self, *specs: Spec) -> Spec:  # type: ignore[override]
        shapes = {s.shape for s in specs}
        if None in shapes or len(shapes) > 1:
            names = [i.name for i in self.inputs]
            detail = ", ".join(f"{n} {s.shape}" for n, s in zip(names, specs))
            raise GraphError(f"projections, darks and flats must have one shape, got {detail}")
        if len(specs) > 3 and self.flat_reduction == "each":
            raise GraphError("flat-reduction=each pairs flats with projections; flats before and after the scan "
                             "are interpolated from one flat each: use flat-reduction=mean or median")
        return specs[0].with_(dtype=np.float32)

    def setup(self, ctx: Any) -> None:
        super().setup(ctx)
        self._shape = ctx.input_specs[0].shape
        self._count = ctx.input_specs[0].count
        self._darks: list[Any] = []
        self._flats: list[list[Any]] = []  # the flats before the scan, then (if given) those after
        self._spans: dict[tuple[int, int], np.ndarray] = {}
        self._host_dark: np.ndarray | None = None  # the (first) reduced dark and flats, kept for _check
        self._host_flats: list[np.ndarray] = []
        self._flats_checked = 0
        self._flat_places: list[Any] = []  # the flats' file_index, where their reader gave one
        self._runs: Any = None  # ufo.tomo.flat_runs.FlatRuns of flats in several runs of one file
        self._no_place_said = False
        self._dead: Any = False  # not made yet: dead_fill()

    def to_device(self, frame: np.ndarray) -> Any:
        """Where the references live (the GPU variant puts them on its device once)."""
        return frame

    def collected_meta(self, index: int, metas: list[dict[str, Any]]) -> None:
        if index == 2:
            self._flat_places = [m.get("file_index") for m in metas]

    def collected(self, index: int, frames: list[np.ndarray]) -> None:
        if index == 1:
            refs = [r * np.float32(self.dark_scale) for r in _references(frames, self.dark_reduction, "darks", self._shape)]
            self._host_dark = refs[0]
            self._darks = [self.to_device(r) for r in refs]
        elif index in (2, 3):
            what = "flats" if index == 2 else "flats after the scan"
            refs = [r * np.float32(self.flat_scale) for r in _references(frames, self.flat_reduction, what, self._shape)]
            self._host_flats.append(refs[0])
            devices = [self.to_device(r) for r in refs]
            self._flats.insert(0, devices) if index == 2 else self._flats.append(devices)
            if index == 2:
                self._runs = self._flat_runs(frames)
        self._check()

    def _flat_runs(self, frames: list[np.ndarray]) -> Any:
        """FlatRuns where the flats come in two or more runs at known places of their file and are
        reduced (mean, median) with no flats2 input; None otherwise."""
        from ..tomo.flat_runs import FlatRuns, split_runs

        places = self._flat_places
        if (self.flat_reduction not in ("mean", "median") or len(self.ctx.input_specs) > 3 or len(places) != len(frames)
                or any(not isinstance(p, (int, np.integer)) for p in places) or list(places) != sorted(places)):
            return None
        runs = split_runs(places)
        if len(runs) < 2:
            return None
        reduced = [_references([frames[i] for i in run], self.flat_reduction, "flats", self._shape)[0] for run in runs]
        self._host_flats += [r * np.float32(self.flat_scale) for r in reduced]
        return FlatRuns([float(np.mean([places[i] for i in run])) for run in runs],
                        [self.to_device(r * np.float32(self.flat_scale)) for r in reduced])

    def _check(self) -> None:
        """Each set of flats against the darks, once both are known (on the host): references that
        would correct every pixel to NaN (then 0) are refused, many bad pixels are warned of
        (ufo.tomo.steps.check_references, which the streaming engine's FlatField calls too)."""
        if self._host_dark is None:
            return
        from ..tomo.steps import check_references

        while self._flats_checked < len(self._host_flats):
            flat = self._host_flats[self._flats_checked]
            self._flats_checked += 1
            if (warning := check_references(self._host_dark, flat)) is not None:
                self.ctx.warn(warning)

    def dark_for(self, index: int) -> Any:
        return _pick(self._darks, index)

    def flat_for(self, index: int, place: Any = None, fraction: float | None = None) -> Any:
        """The flat of projection `index` (of the stream): of its run by its `place` in the file
        (flats in runs), interpolated by its `fraction` along the whole scan where it is one of a
        part read (else by its index in the stream) between flats before and after."""
        if self._runs is not None:
            if isinstance(place, (int, np.integer)):
                return self._runs.at(float(place))
            if not self._no_place_said:
                self._no_place_said = True
                self.ctx.warn(f"the flats come in {len(self._runs)} runs of their file, but the projections carry no "
                              "place in it (file_index): all flats are reduced into one, not interpolated")
        if len(self._flats) == 1:
            return _pick(self._flats[0], index)
        if not self._count or self._count < 2:
            raise GraphError("interpolating flats before and after the scan needs the number of projections")
        along = index / (self._count - 1) if fraction is None else float(fraction)
        weight = np.float32(min(max(along, 0.0), 1.0))
        return (1 - weight) * self._flats[0][0] + weight * self._flats[1][0]

    def _span(self, dark: np.ndarray, flat: np.ndarray) -> np.ndarray | None:
        """flat - dark (`divisor`), computed once per pair of kept references (not for flats interpolated per frame)."""
        if len(self._flats) != 1 or self._runs is not None:
            return None
        key = (id(dark), id(flat))  # both live in self._darks / self._flats for the whole run
        span = self._spans.get(key)
        if span is None:
            span = self._spans[key] = divisor(dark, flat, self.starved == "floor" and self.fix_nan_and_inf)
        return span

    def dead_fill(self, xp: Any = np) -> Any:
        """The dead pixels of the references (flat <= dark in any flat) and where each is filled from
        (ufo.tomo.dead_pixels.DeadFill), made at the first projection; None where there are none or
        they are not filled (starved=ufo, fix-nan-and-inf=false)."""
        if self._dead is False:
            self._dead = None
            if self.fix_nan_and_inf and self.starved == "floor" and self._host_dark is not None:
                from ..tomo.dead_pixels import DeadFill

                self._dead = DeadFill.of(self._host_dark, self._host_flats, xp)
        return self._dead

    def process(self, proj: np.ndarray, darks: Any = None, flats: Any = None, flats2: Any = None, *,
                out: np.ndarray | None, meta: dict[str, Any]) -> np.ndarray:
        index = int(meta.get("index", 0))
        dark, flat = self.dark_for(index), self.flat_for(index, meta.get("file_index"), meta.get("scan_fraction"))
        flat_correct(proj, dark, flat, self.absorption, self.fix_nan_and_inf, out, self._span(dark, flat), self.starved)
        dead = self.dead_fill()
        return out if dead is None else dead.apply(out)  # type: ignore[return-value]


class RemoveOutliers(Task):
    """Replace zingers and dead pixels by the local median where they stray more than a threshold from it."""

    devices = ("cpu", "gpu")

    name = "remove-outliers"
    size = Property(int, 3, range=(3, 101), doc="median window edge in pixels (odd)")
    threshold = Property(float, 5.0, range=(0, None), doc="allowed deviation from the median (see unit)")
    unit = Property(str, "sigma", choices=("sigma", "absolute"),
                    doc="threshold in robust standard deviations of each row (sigma) or in data units")
    sign = Property(str, "both", choices=("both", "bright", "dark"), doc="remove bright, dark or both kinds")
    #: UFO's remove-outliers (rm-outliers.cl): `input * sign > median * sign + threshold`, a threshold in
    #: data units (default 1) and sign an integer, 1 bright (its default), -1 dark
    ufo_names = declare({
        "size": same("size"), "threshold": same("threshold"),
        "sign": only({"1": {"sign": "bright"}, "-1": {"sign": "dark"}, "bright": {"sign": "bright"},
                      "dark": {"sign": "dark"}, "both": {"sign": "both"}},
                     "UFO's sign is 1 (bright outliers) or -1 (dark ones)", ours="sign"),
    })
    ufo_semantics = UfoSemantics({"unit": "absolute", "sign": "bright", "threshold": 1.0},
                                 "UFO's threshold is in data units above the median (default 1), bright "
                                 "outliers only (its sign=1); ufo's default is 5 robust sigmas, both kinds. "
                                 "UFO puts in the mean of the median and its neighbour in the sorted window and "
                                 "leaves the frame's border; ufo the median, everywhere")

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        if spec.shape is None or len(spec.shape) != 2:
            raise GraphError(f"task 'remove-outliers' works on 2-D frames, got shape {spec.shape}")
        if self.size % 2 == 0:
            raise GraphError(f"size={self.size} must be odd")
        return spec.with_(dtype=np.float32)

    def process(self, frame: np.ndarray, out: np.ndarray | None) -> np.ndarray:  # type: ignore[override]
        from ..tomo.outliers import remove_outliers  # scipy.ndimage: paid only by graphs that remove outliers

        return remove_outliers(frame, self.size, self.threshold, self.unit, self.sign, out=out)
