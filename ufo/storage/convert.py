"""Value conversion for writing: float frames to 8/16-bit integers over one range, and back.

A volume stored as integers keeps its meaning only if every frame uses the same range and the
file says which: `find_scale` picks one range from a sample, `scale_metadata` is what the
writers store (HDF5 attributes, TIFF JSON and ImageJ calibration), `from_bits` maps back.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np


def to_bits(frame: np.ndarray, bits: int | None, minimum: float | None = None, maximum: float | None = None,
            rescale: bool = True) -> np.ndarray:
    """Frame in the stored type: `bits` None keeps it, 32 is float32, 8/16 map [min, max] onto the integer range.

    With `rescale` off, 8/16-bit values are clipped and cast instead. Unset min/max mean
    the frame's own finite range, so each frame uses the whole integer range.
    """
    if bits is None:
        return frame
    if bits == 32:
        return frame if frame.dtype == np.float32 else frame.astype(np.float32)
    dtype = np.uint8 if bits == 8 else np.uint16
    top = np.iinfo(dtype).max
    if not rescale:
        return np.clip(frame, 0, top).astype(dtype)
    lo, hi = minimum, maximum
    if lo is None or hi is None:
        finite = frame[np.isfinite(frame)] if frame.dtype.kind == "f" else frame
        if finite.size == 0:
            return np.zeros(frame.shape, dtype)
        lo = float(finite.min()) if lo is None else lo
        hi = float(finite.max()) if hi is None else hi
    scale = top / (hi - lo) if hi != lo else 0.0
    from ..kernels.convert import scale_to_integers  # one pass: numpy's six were the writer's bottleneck

    values = np.ascontiguousarray(frame, dtype=np.float32)
    out = np.empty(values.shape, dtype)
    scale_to_integers(values.reshape(-1), np.float32(lo), np.float32(scale), np.float32(top), out.reshape(-1))
    return out


def find_scale(frames: list[np.ndarray] | np.ndarray, low: float = 0.05, high: float = 99.95,
               widen: float = 0.1) -> tuple[float, float]:
    """One [min, max] for a whole volume from a sample of its frames.

    Percentiles (not the extremes) so that a few outlying pixels (zingers, the rim of the
    reconstruction circle) do not squeeze the useful range into a few integer steps; the range
    is then widened by `widen` of its span on each side, so that frames outside the sample
    rarely clip. Values beyond it are clipped to 0 and the largest integer when stored.
    """
    every = max(1, sum(int(np.size(f)) for f in frames) // 4_000_000)  # a few million values decide the percentiles
    values = np.concatenate([np.asarray(f, np.float32).ravel()[::every] for f in frames]) if len(frames) else np.zeros(0)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(values, [low, high]))
    if hi <= lo:
        lo, hi = float(values.min()), float(values.max())
    span = hi - lo if hi > lo else max(abs(hi), 1.0)
    return lo - widen * span, hi + widen * span


def scale_metadata(bits: int, minimum: float, maximum: float, units: str = "") -> dict[str, Any]:
    """How stored integers map back to values, for the file: value = scale_min + stored * scale_step."""
    top = (1 << bits) - 1
    return {"scale_min": float(minimum), "scale_max": float(maximum), "scale_step": (maximum - minimum) / top,
            "bits": bits, "units": units}


def stored_metadata(metadata: dict[str, Any] | None, bits: int | None, minimum: float | None,
                    maximum: float | None, units: str = "", first_row: int | None = None,
                    row_step: int = 1) -> dict[str, Any]:
    """What a writer stores with its frames: `metadata` (how they were made), the integer scale of
    8/16 bits once both ends are known, the units, and the detector row of the first frame with
    the step between rows. One composition for the write task and a cluster's Zarr volume, so
    that both files say the same."""
    stored = dict(metadata or {})
    units = units or str(stored.get("units", ""))
    if bits in (8, 16) and minimum is not None and maximum is not None:
        stored.update(scale_metadata(bits, minimum, maximum, units))
    elif units:
        stored["units"] = units
    if first_row is not None:
        stored.update(first_row=first_row, row_step=row_step)
    return stored


def scale_problem(bits: int, minimum: float, maximum: float) -> str | None:
    """Why [minimum, maximum] (minimum below maximum) cannot be the scale of `bits`-bit output of
    float32 values, or None: a step that overflows or underflows float32 stored every value as 0 or
    as the two ends (--output-max 1e308, --output-max 1e-300)."""
    with np.errstate(all="ignore"):  # the ends may be float32 infinities already
        step = (float(maximum) - float(minimum)) / float(2**bits - 1)
    f32 = np.finfo(np.float32)
    if max(abs(minimum), abs(maximum)) <= f32.max and np.isfinite(step) and step >= f32.tiny:
        return None
    return (f"[{minimum:g}, {maximum:g}] cannot be stored in {bits} bits of float32 values: its step {step:g} lies "
            f"outside float32's {f32.tiny:g} .. {f32.max:g}; give the range the values span")


def from_bits(stored: np.ndarray, scale_min: float, scale_max: float) -> np.ndarray:
    """The values stored integers stand for (the inverse of `to_bits` with that scale)."""
    top = float(np.iinfo(stored.dtype).max)
    return scale_min + stored.astype(np.float64) * ((scale_max - scale_min) / top)


def stored_scale(path: str) -> tuple[float, float] | None:
    """(scale_min, scale_max) an existing 8/16-bit HDF5 dataset, Zarr array or TIFF output records, or None (no
    such output, no scale, another format): what frames appended to it must be stored with."""
    from .formats import FileKind, parse_output_path

    target = parse_output_path(path)
    try:
        if target.kind is FileKind.HDF5:
            from .hdf5_cut import open_file

            with open_file(target.path) as f:
                attrs = dict(f[target.dataset or "/data"].attrs)
        elif target.kind is FileKind.ZARR:
            import zarr

            attrs = dict(zarr.open_group(target.path, mode="r")[(target.dataset or "data").strip("/")].attrs)
        elif target.kind in (FileKind.BIGTIFF, FileKind.TIFF_SEQUENCE):
            attrs = tiff_record(target.path, target.kind is FileKind.TIFF_SEQUENCE)
        else:
            return None
    except Exception:  # noqa: BLE001 - nothing there (yet) to append to
        return None
    if "scale_min" not in attrs or "scale_max" not in attrs:
        return None
    return float(attrs["scale_min"]), float(attrs["scale_max"])


def tiff_record(path: str, sequence: bool) -> dict[str, Any]:
    """The metadata ufo wrote into a TIFF stack (the first page's JSON description, or an ImageJ
    stack's Info), or into the first file found of a sequence's pattern; {} where there is none."""
    import glob
    import json
    import re

    import tifffile

    if sequence:  # frame-%05i.tif or frame-{:05d}.tif: any number in the number's place (of the name)
        folder, name = os.path.split(path)
        parts = re.split(r"%[-+ #0]*\d*[diu]|\{[^{}]*\}", name)
        found = sorted(glob.glob(os.path.join(glob.escape(folder), "*".join(glob.escape(part) for part in parts))))
        if not found:
            return {}
        path = found[0]
    with tifffile.TiffFile(path) as tif:
        texts = [tif.pages[0].description if tif.pages else "", (tif.imagej_metadata or {}).get("Info", "")]
    for text in texts:
        try:
            record = json.loads(text)
        except (TypeError, ValueError):
            continue
        if isinstance(record, dict):
            return record
    return {}
