"""`ufo reco --angles-file`: every projection's angle given by hand.

Why: a fly scan's angles are irregular (NSLS-II FXI, a stage that accelerates), and TIFF folders or
HDF5 stacks carry none; `--angle` takes one step, so such scans could only get a mean step
(relative error 0.24 on a probe's scan, against 0.036 with the true angles). The file is text
(numbers separated by spaces, commas or newlines), `.npy`, or `file.h5:/dataset`; values are in
degrees (as NXtomo and DXchange store them) unless an HDF5 data set's `units` says radians; without
units, 8 or more values spanning 0.8 pi .. 2 pi are radians, said (as a DXchange theta without units
is read): a file of radians read as degrees was a scan of 3.1 degrees, reconstructed, exit 0.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from ..core.errors import UsageError
from ..core.small_files import check_small_file
from ..storage.formats import split_dataset
from ..tomo.stream_input import MAX_ANGLE

HDF5 = (".h5", ".hdf5", ".hdf", ".nx", ".nxs")


def load_angles(path: str, notes: list[str] | None = None) -> np.ndarray:
    """The angles in `path`, in radians (float64); UsageError naming the file where it cannot be.
    Values without units read as radians are said in `notes`."""
    file, dataset = split_dataset(os.path.expanduser(path))
    if not os.path.exists(file):
        raise UsageError(f"--angles-file '{path}' does not exist")
    check_small_file(file, "--angles-file")
    units = ""
    try:
        if file.lower().endswith(HDF5):
            from ..storage.hdf5_cut import open_file

            if not dataset:
                raise UsageError(f"--angles-file '{path}': name the data set of the angles, e.g. {file}:/angles")
            with open_file(file) as f:
                if dataset not in f:
                    raise UsageError(f"--angles-file '{path}': '{file}' has no data set '{dataset}'")
                values = np.asarray(f[dataset][()], np.float64)
                units = f[dataset].attrs.get("units", "")
                units = units.decode() if isinstance(units, bytes) else str(units)
        elif file.lower().endswith(".npy"):
            values = np.asarray(np.load(file, allow_pickle=False), np.float64)
        else:
            with open(file, encoding="utf-8") as handle:
                values = np.array(handle.read().replace(",", " ").split(), np.float64)
    except OSError as exc:
        raise UsageError(f"--angles-file '{path}' cannot be read: {exc.strerror or exc}") from exc
    except ValueError as exc:  # not the offending text: it showed a file's contents (a password hash)
        raise UsageError(f"--angles-file '{path}' holds no list of numbers (one angle a line or separated by "
                         "spaces or commas; HDF5 file:/dataset; .npy)") from exc
    values = values.ravel()
    if not units and values.size >= 8 and np.all(np.isfinite(values)):
        span = float(values.max() - values.min())
        if 0.8 * math.pi <= span <= 2 * math.pi * 1.01:
            units = "rad"
            if notes is not None:
                notes.append(f"--angles-file '{path}' spans {span:.4g}: read as radians, not degrees (8 or more "
                             "projections within 6.3 degrees are no scan; an HDF5 data set's units='degree' says so)")
    from ..core.units import radians_per

    try:
        factor = radians_per(units)  # degrees unless the data set says (mrad, grad were read as degrees)
    except ValueError as exc:
        raise UsageError(f"--angles-file '{path}': {exc}") from exc
    if factor is None:  # text that names no unit
        factor = math.pi / 180
        if notes is not None:
            notes.append(f"--angles-file '{path}' has units '{units}', which name no unit: read as degrees")
    radians = values * factor
    if values.size < 2 or not np.all(np.abs(radians) <= MAX_ANGLE):  # NaN, inf, 1e300 (its cosine is noise)
        raise UsageError(f"--angles-file '{path}' must hold two or more finite numbers within "
                         f"+-{math.degrees(MAX_ANGLE):g} degrees (one angle per projection)")
    return radians


def given_angles(o: Any, count: int, angles: list[float] | None, notes: list[str]) -> list[float] | None:
    """--angles-file's angles for the `count` projections (radians), in place of the file's; `angles` else."""
    if not o.angles_file:
        return angles
    if o.angle is not None:
        raise UsageError("--angles-file gives every angle; leave --angle out (--offset still turns the whole scan)")
    values = load_angles(o.angles_file, notes)
    used = min(count, o.number or count)
    if not used <= values.size <= count:
        raise UsageError(f"--angles-file '{o.angles_file}' holds {values.size} angles for {count} projections"
                         + (f" (--number {o.number})" if o.number else "") + ": give one angle per projection")
    notes.append(f"angles from '{o.angles_file}': {values.size} values, {math.degrees(values[0]):g} to "
                 f"{math.degrees(values[-1]):g} degrees" + (f", started at --offset {o.offset:g} rad" if o.offset else ""))
    start = values[0] if o.offset == 0.0 else o.offset  # as a file's own angles: --offset moves the scan's start
    return [float(a - values[0] + start) for a in values]
