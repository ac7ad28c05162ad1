"""A volume cut short says so in its file, and ufo's reader says it when the file is read again.

Why: an interrupted `ufo reco` (Ctrl-C, a failure, a full disk) into a Zarr store, or into an HDF5
file written in passes, left a volume of fewer slices that nothing in it told apart from a finished
one; only the one-pass HDF5 volume writer marked its cut (`hdf5_volume._mark_cut`). The marks are
the same in both formats: `complete` false and `frames_expected` on the data set or array.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

COMPLETE, EXPECTED = "complete", "frames_expected"


def state(output: str) -> tuple[int, int, int] | None:
    """(inode, size, modification time) of the file that changes as `output` is written (an HDF5
    file, a Zarr array's metadata document), or None where there is none."""
    import os

    from .formats import FileKind, parse_output_path

    try:
        target = parse_output_path(output)
        path = target.path
        if target.kind is FileKind.ZARR:
            folder = os.path.join(target.path, *(target.dataset or "data").strip("/").split("/"))
            path = next((os.path.join(folder, doc) for doc in ("zarr.json", ".zarray")
                         if os.path.exists(os.path.join(folder, doc))), folder)
        info = os.stat(path)
    except Exception:  # noqa: BLE001 - nothing there (yet)
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns)


def mark_cut(output: str, expected: int, before: tuple[int, int, int] | None) -> int | None:
    """Mark `output` (an HDF5 data set or a Zarr array; other formats show their cut by the files
    missing or say nothing) as cut short where it holds fewer than `expected` frames and was written
    since its `state` was `before` (an earlier result, not yet overwritten, is left as it is).
    Returns the frames it holds, or None where there was nothing to mark."""
    from .formats import FileKind, parse_output_path

    if state(output) == before:
        return None
    try:
        target = parse_output_path(output)
        if target.kind is FileKind.HDF5:
            import h5py

            with h5py.File(target.path, "a", locking=False) as f:
                dset = _dataset(f, target.dataset)
                return None if dset is None else _mark(dset.attrs, int(dset.shape[0]), expected)
        if target.kind is FileKind.ZARR:
            from .zarr_codecs import _zarr

            arr = _zarr().open_group(target.path, mode="r+")[(target.dataset or "data").strip("/")]
            return _mark(arr.attrs, int(arr.shape[0]), expected)
    except Exception:  # noqa: BLE001 - the frames written stay as they are; the command says the cut
        return None
    return None


def _dataset(f: Any, name: str | None) -> Any:
    """The volume's data set: the one named, else where ufo's writers put an unnamed one."""
    from .nexus import NXTOMOPROC_DATA

    for candidate in ([name] if name else []) + ["/data", NXTOMOPROC_DATA]:
        if candidate in f:
            return f[candidate]
    return None


def _mark(attrs: Any, held: int, expected: int) -> int:
    """The marks, and the last of `ufo reco`'s `rows` the last slice's (a Zarr volume of 6 slices said
    rows 0..31, as the HDF5 volume writer's cut once did)."""
    if held < expected:
        update: dict[str, Any] = {COMPLETE: False, EXPECTED: int(expected)}
        rows = attrs.get("rows")
        if isinstance(rows, Mapping) and isinstance(rows.get("first"), int) and held > 0:
            update["rows"] = {**rows, "last": rows["first"] + (held - 1) * int(rows.get("step") or 1)}
        attrs.update(update)
    return held


def cut_note(attrs: Mapping[str, Any], label: str, count: int) -> str | None:
    """What a reader says of a volume marked cut short (`mark_cut`), or None."""
    if COMPLETE not in attrs or bool(attrs[COMPLETE]):
        return None
    return (f"'{label}' holds {count} of the {attrs.get(EXPECTED, '?')} frames its run was to write: that run "
            "was cut short (stopped or failed); the rest are missing")
