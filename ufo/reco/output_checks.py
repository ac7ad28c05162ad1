"""The output's checks before any work: none of the inputs, new unless --overwrite, and room on
its disk for every slice.

The room, why: the writers stop cleanly at a full disk (the slices before it intact), but a reconstruction
of a 2560 x 2160 scan writes 56 GB of float32 and finds out after half an hour, half of the
volume written. What the plan will write is known from its header reads alone (slices x slice
shape x bytes a voxel), so a run that cannot fit is refused at once, with the choices that make
it fit, and `--dry-run` says the size and the room.
"""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

from ..core.errors import InputError, UsageError

if TYPE_CHECKING:
    from .options import RecoOptions
    from .planning import Plan


def check_outputs(o: RecoOptions) -> None:
    """Before any work (progress bar, axis search, a GUI run): the output is none of the inputs,
    does not contain or lie inside one (links followed), and can be written (UsageError)."""
    from ..storage.guard import check_output, refuse_conflict

    refuse_conflict(o.output, [p for p in (o.projections, o.sinograms, o.darks, o.flats, o.flats2, o.angles_file) if p])
    check_output(o.output, o.overwrite, layout=reco_layout(o.output), fix="use --overwrite")
    check_scale(o)


def check_scale(o: RecoOptions) -> None:
    """A scale that goes nowhere: --output-min/--output-max of float output were ignored (and the
    file's configuration said them, a window never applied); 8/16-bit integers in a raw file,
    which keeps no metadata, lost the scale that turns them back into values (4545..61193 for
    -0.001..0.018), unless the user gave it."""
    from ..storage.formats import FileKind, parse_output_path

    given = [f"--output-{n}" for n in ("min", "max") if getattr(o, f"output_{n}") is not None]
    if given and o.output_bits not in (8, 16):
        raise UsageError(f"{' and '.join(given)} set the scale of 8/16-bit output; the output is 32-bit floats, "
                         "which keep the values: add --output-bits 16 (or 8), or leave them out")
    known = o.output_min is not None and o.output_max is not None
    if o.output_bits in (8, 16) and not known and parse_output_path(o.output).kind is FileKind.RAW:
        raise UsageError(f"'{o.output}' is a raw file, which keeps no scale: its {o.output_bits}-bit integers could not "
                         "be turned back into values; write .tif, .h5, .nx or .zarr, give --output-min and "
                         "--output-max (and note them), or leave --output-bits out (32-bit floats)")


def check_numbered(o: RecoOptions, rows: list[int]) -> None:
    """A TIFF sequence is numbered by detector row (`--region 512:1024:4`: slice-00512.tif, ...):
    every file the plan writes must be new unless --overwrite (check_outputs sees only the first
    number, 0, and a run would stop at the first file that exists, after writing those before it)."""
    from ..storage import parse_output_path
    from ..storage.formats import FileKind

    target = parse_output_path(o.output)
    if o.overwrite or target.kind is not FileKind.TIFF_SEQUENCE:
        return
    there = next((path for path in map(target.frame_path, rows) if os.path.exists(path)), None)
    if there is not None:
        raise UsageError(f"'{there}' exists; refusing to overwrite it (use --overwrite)")


def note_stale(plan: Plan) -> None:
    """A warning on the plan where --overwrite writes a TIFF sequence into a folder holding other
    files of its pattern (`ufo.storage.stale`): said before the run; the write task says the same
    words at its end (said once)."""
    from ..storage import parse_output_path
    from ..storage.formats import FileKind
    from ..storage.stale import stale_note

    target = parse_output_path(plan.options.output)
    if not plan.options.overwrite or target.kind is not FileKind.TIFF_SEQUENCE:
        return
    if (note := stale_note(target, (target.frame_path(row) for row in plan.rows))) is not None:
        plan.warnings.append(note)


#: room kept beyond the slices' bytes: the writers' own reserve and the file's metadata, and a
#: file system block and header for each slice of a TIFF sequence
HEADROOM, PER_SLICE = 1 << 20, 8 << 10


def output_bytes(plan: Plan) -> int:
    """The bytes of the slices the plan writes (the HDF5/TIFF headers left out: a few KiB a file).
    A half acquisition whose axis is found when the run starts is counted at its widest (twice the
    detector)."""
    o = plan.options
    if o.half_acquisition and plan.axis is None and o.roi is None:
        rows = cols = 2 * plan.width
    else:
        rows, cols = plan.slice_shape(plan.axis)
    return plan.slices * rows * cols * (o.output_bits or 32) // 8


def output_folder(output: str) -> str:
    from ..storage import parse_output_path

    path = parse_output_path(output).path
    folder = os.path.dirname(os.path.abspath(path.rstrip("/")))
    while folder and not os.path.isdir(folder):  # a TIFF sequence's folder made by the writer
        folder = os.path.dirname(folder)
    return folder or "."


def replaced_bytes(output: str, rows: list[int] | None = None) -> int:
    """Bytes that --overwrite frees: a file the output replaces whole, a TIFF sequence's files of the
    plan's rows (an HDF5 file keeps its other data sets' room: counted by none)."""
    from ..storage import parse_output_path
    from ..storage.formats import FileKind

    target = parse_output_path(output)
    if target.kind is FileKind.BIGTIFF or target.kind is FileKind.RAW:
        try:
            return os.path.getsize(target.path)
        except OSError:
            return 0
    if target.kind is FileKind.TIFF_SEQUENCE and rows is not None:  # each old slice file is replaced by its new one
        return sum(os.path.getsize(p) for p in map(target.frame_path, rows) if os.path.isfile(p))
    return 0


def room(plan: Plan) -> tuple[int, int | None]:
    """(bytes the slices need, bytes free for them on the output's disk, or None where the disk
    cannot be asked: a compressed Zarr store, whose size is not known, or no statvfs there)."""
    o = plan.options
    need = output_bytes(plan)
    if getattr(o, "compression", None) not in (None, "none"):
        return need, None
    try:
        free = shutil.disk_usage(output_folder(o.output)).free
    except (OSError, ValueError):
        return need, None
    return need, free + (replaced_bytes(o.output, plan.rows) if o.overwrite else 0)


def size_text(nbytes: int) -> str:
    """Bytes for people: GB from 0.1 GB on, else MB."""
    return f"{nbytes / 1e9:.1f} GB" if nbytes >= 1e8 else f"{nbytes / 1e6:.1f} MB"


def room_problem(plan: Plan) -> str | None:
    """Why the slices cannot fit on the output's disk, with the ways to make them fit, or None. The
    bytes said are those compared: the slices', the writer's reserve and, for a TIFF sequence, a
    block a file."""
    from ..storage import parse_output_path
    from ..storage.formats import FileKind

    o = plan.options
    slices, free = room(plan)
    sequence = parse_output_path(o.output).kind is FileKind.TIFF_SEQUENCE
    need = slices + HEADROOM + (plan.slices * PER_SLICE if sequence else 0)
    if free is None or need <= free:
        return None
    ways = ["free space", "write to another disk (--output)"]
    if (o.output_bits or 32) > 8:
        bits = 16 if (o.output_bits or 32) == 32 else 8
        ways.append(f"store {bits}-bit integers (--output-bits {bits}: {size_text(need - slices // 2)})")
    ways.append("fewer slices (--region FROM:TO:STEP) or a smaller slice (--roi)")
    # a region larger than the slice itself is what makes it too large: said as --roi's (the GUI's field)
    blame = f"--roi {','.join(map(str, o.roi))}: " if o.roi is not None and o.roi[2] * o.roi[3] > plan.width ** 2 else ""
    return (f"{blame}the {plan.slices} slices need {size_text(need)} and the disk of '{output_folder(o.output)}' (output "
            f"'{o.output}') has {size_text(max(free, 0))} free: {'; '.join(ways)}")


def check_room(plan: Plan) -> None:
    """InputError before any work where the slices cannot fit on the output's disk."""
    problem = room_problem(plan)
    if problem is not None:
        raise InputError(problem)


def remove_if_empty(output: str, existed: bool) -> bool:
    """Remove an HDF5 output that this run made and that holds no value (a run stopped before its
    first slice); True where it did. Why: an empty file where the slices should be looks like a
    result to the next command and to the person who finds it; a file that was there before the
    run, or one holding any data set with values, is never removed."""
    from ..storage import parse_output_path
    from ..storage.formats import FileKind
    from ..storage.hdf5_cut import holds_values

    target = parse_output_path(output)
    if existed or target.kind is not FileKind.HDF5:
        return False
    if not os.path.lexists(target.path):  # its writer took back the file it made (`Hdf5Writer.close`)
        return True
    if not os.path.isfile(target.path) or holds_values(target.path):  # unreadable (not HDF5 yet): not ours to judge
        return False
    os.remove(target.path)
    return True


def reco_layout(output: str) -> str:
    """The HDF5 layout of `ufo reco`'s slices: a NeXus reconstruction (NXentry, NXdata, NXprocess) where the
    output is a NeXus file (.nx, .nxs), whose default layout (NXtomo) is a scan's; else the name's. The
    output check asks for the same data set (an existing .nx was refused only after the run, exit 1)."""
    from ..storage.formats import NEXUS_SUFFIXES, split_dataset

    return "nxdata" if split_dataset(output)[0].lower().endswith(NEXUS_SUFFIXES) else "auto"
