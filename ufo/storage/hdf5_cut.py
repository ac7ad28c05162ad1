"""HDF5 files cut short: shorter than HDF5's own record of their end ("truncated file").

A copy stopped part-way, a disk that filled under another tool's writer, a file-size limit or a
quota met mid-write leave such a file; h5py refuses it outright, though its frames up to the cut
are whole. Here it is opened through a file object as long as HDF5 recorded, the missing end read
as zeros (`_Padded`: any superblock; SWMR mode skips the check for superblock 3 only, and on a
file cut through its records HDF5 then retried reading them for good), and only the frames whose
bytes lie wholly inside the file are read (past the cut they would read as zeros without a word);
the reader says so.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from typing import Any

import numpy as np


def is_cut(exc: BaseException) -> bool:
    """Whether h5py refused a file because it is shorter than HDF5's record of its end."""
    return "truncated file" in str(exc)


class _Padded(io.RawIOBase):
    """The cut file read as if it were as long as HDF5 recorded, the missing bytes as zeros: HDF5
    then opens it as any file (in SWMR mode, which skips the check of its end, a cut through its
    metadata made HDF5 retry reading it for good: Ctrl-C and SIGTERM did not stop it)."""

    def __init__(self, filename: str, size: int):
        self._file = open(filename, "rb")  # noqa: SIM115 - closed with this object
        self._real, self._size, self._at = file_size(filename), size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        self._at = offset if whence == 0 else self._at + offset if whence == 1 else self._size + offset
        return self._at

    def tell(self) -> int:
        return self._at

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        count = max(0, min(len(view), self._size - self._at))
        real = max(0, min(count, self._real - self._at))
        if real:
            self._file.seek(self._at)
            got = self._file.readinto(view[:real])
            real = got or 0
        view[real:count] = bytes(count - real)
        self._at += count
        return count

    def close(self) -> None:
        self._file.close()
        super().close()


def open_cut(filename: str, exc: BaseException) -> Any:
    """The cut file opened for reading, its missing end read as zeros (`_Padded`); its frames past the
    cut are to be left out (`whole_frames`). InputError where HDF5's own records lie past the cut."""
    import h5py

    from ..core.errors import InputError

    recorded = re.search(r"stored_eof = (\d+)", str(exc))
    if recorded is None:
        raise InputError(f"cannot open HDF5 file '{filename}': {exc}") from exc
    padded = _Padded(filename, int(recorded.group(1)))
    try:
        return h5py.File(padded, "r", locking=False)
    except Exception as err:  # its structure lies past the cut: nothing in it can be found
        padded.close()
        raise InputError(f"cannot open HDF5 file '{filename}': it is cut short ({file_size(filename)} of the "
                         f"{recorded.group(1)} bytes HDF5 recorded) and the records of its data lie past the cut "
                         f"({err}); copy it again, or h5clear/h5recover it where its writer left it") from err


def open_file(filename: str, **kwargs: Any) -> Any:
    """`filename` opened for reading without HDF5's file locks (a file a SWMR writer holds stays
    readable; file systems without locks work), or with HDF5's default locks where this process
    holds it open with them already: HDF5 refuses a second open with other flags ("file locking
    flag values don't match"), and a scan looked at with h5py in a notebook could not be read."""
    import h5py

    try:
        return h5py.File(filename, "r", locking=False, **kwargs)
    except OSError as exc:
        if "locking flag values" not in str(exc):
            raise
        return h5py.File(filename, "r", **kwargs)


def open_reading(filename: str) -> Any:
    """`filename` opened for reading as HDF5, a file cut short too (`open_cut`): what reads its
    metadata (angles, units, layout) reads it as the frames' reader does, not refused by h5py."""

    try:
        return open_file(filename)
    except Exception as exc:
        if is_cut(exc):
            return open_cut(filename, exc)
        raise


def whole_frames(dset: Any, frames: list[int], size: int) -> list[int]:
    """Of `frames` (indices along the first axis of `dset`, ascending), those before the first
    whose stored bytes do not lie wholly inside the first `size` bytes of the file; none of a
    dataset whose storage cannot be told (virtual, external, an h5py without chunk queries)."""
    if not frames:
        return frames
    ends = _frame_ends(dset)
    if ends is None:
        return []
    kept = []
    for index in frames:
        if index >= len(ends) or ends[index] < 0 or ends[index] > size:
            break
        kept.append(index)
    return kept


def _frame_ends(dset: Any) -> np.ndarray | None:
    """The end offset in the file of each frame's bytes (-1: not stored), or None where not known."""
    count = 1 if dset.ndim == 2 else dset.shape[0]
    frame = int(np.prod(dset.shape[-2:])) * dset.dtype.itemsize
    try:
        if dset.chunks is None:
            base = dset.id.get_offset()
            return None if base is None else base + frame * np.arange(1, count + 1, dtype=np.int64)
        ends = np.full(count, -1, np.int64)
        per = 1 if dset.ndim == 2 else dset.chunks[0]

        def note(info: Any) -> None:  # a chunk holds `per` frames: each ends no earlier than it
            first = 0 if dset.ndim == 2 else info.chunk_offset[0]
            ends[first: first + per] = np.maximum(ends[first: first + per], info.byte_offset + info.size)

        dset.id.chunk_iter(note)  # a frame over several chunks ends where its last stored one does
        return ends
    except Exception:  # noqa: BLE001 - an h5py without chunk queries, a virtual dataset: not known
        return None


def file_size(filename: str) -> int:
    try:
        return os.path.getsize(filename)
    except OSError:
        return 0


def damaged_hdf5(path: str) -> bool:
    """Whether `path` begins as an HDF5 file (its signature) but does not open, not even as SWMR
    readers open it: what a writer leaves that was killed before it wrote the file's metadata. Such
    a file holds nothing readable, so --overwrite may replace it; a file that is no HDF5 at all is
    never replaced, nor one a killed SWMR writer left open (`left_open`: its frames read)."""

    try:
        with open(path, "rb") as f:
            if f.read(8) != b"\x89HDF\r\n\x1a\n":
                return False
    except OSError:
        return False
    try:
        open_file(path).close()
    except Exception:  # noqa: BLE001 - whatever h5py says: it does not open
        return not left_open(path)
    return False


def left_open(path: str) -> bool:
    """Whether the HDF5 file at `path` is marked open for writing (a live writer, or a SWMR writer
    that was killed: `ufo camera grab -o x.h5` killed) and opens as SWMR readers open it. Plain
    h5py refuses it ("already open for write ... h5clear"); its frames read."""

    try:
        open_file(path).close()
        return False
    except Exception:  # noqa: BLE001 - it does not open plainly
        pass
    try:
        open_file(path, swmr=True).close()
    except Exception:  # noqa: BLE001 - nor as a SWMR reader
        return False
    return True


def left_open_error(path: str) -> str:
    """What to say of a file `left_open`: the process still writing it, or what it holds and how to
    write into it. Replacing it lost the killed writer's frames (they read in SWMR mode)."""
    writers = holders(path)
    if writers:
        return f"'{path}' is being written by process {', '.join(map(str, writers))}: wait for it, or write another file"
    return (f"'{path}' was left open by a writer that was stopped before it closed the file{_held(path)}; "
            f"ufo and h5py (swmr=True) read it. To write into it, clear its open mark first (`h5clear -s "
            f"{path}`), or write another file")


def _held(path: str) -> str:
    import h5py

    try:
        with open_file(path, swmr=True) as f:
            found: list[str] = []
            f.visititems(lambda name, item: found.append(f"/{name} {item.shape}")
                         if isinstance(item, h5py.Dataset) and item.ndim >= 3 else None)
    except Exception:  # noqa: BLE001 - what it holds is not said then
        return ""
    return f" (it holds {', '.join(found[:3])})" if found else ""


def holders(path: str) -> list[int]:
    """The ids of other processes that hold `path` open (Linux's /proc; [] elsewhere, or where
    other users' processes cannot be looked at)."""
    try:
        real, own, pids = os.path.realpath(path), os.getpid(), os.listdir("/proc")
    except OSError:
        return []
    found = []
    for pid in filter(str.isdigit, pids):
        if int(pid) == own:
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == real:
                    found.append(int(pid))
                    break
            except OSError:
                continue
    return found


def holds_values(path: str) -> bool:
    """Whether the HDF5 file at `path` holds a data set with any value (True where it cannot be read)."""
    import h5py

    try:
        with open_file(path) as f:
            found: list[str] = []
            f.visititems(lambda name, item: found.append(name) if isinstance(item, h5py.Dataset) and item.size else None)
            return bool(found)
    except Exception:  # noqa: BLE001 - unreadable: not ours to remove
        return True


def trim_laid_out(h5file: Any, dataset: str) -> tuple[int, int] | None:
    """A volume whose laid-out writer stopped before it closed (`Hdf5VolumeWriter`: the count of
    frames written whole beside it) cut to those frames, its per-frame values with it, and the count
    removed, so that frames appended go after them: appended after the laid-out length, 61 frames of
    zeros stood between, and the count kept ufo's reader from the new frames. (laid out, written),
    or None for any other dataset."""
    import posixpath

    from .formats import FRAMES_WRITTEN

    parent, name = posixpath.split(dataset)
    group = h5file.get(parent or "/")
    counter = None if group is None else group.get(name + FRAMES_WRITTEN)
    if counter is None or getattr(counter, "shape", None) != (1,) or name not in group:
        return None
    laid = int(group[name].shape[0])
    written = max(0, min(int(counter[0]), laid))
    # its per-frame values as the writer listed them (earlier files: the 1-D ones beside it); a volume
    # beside it whose name begins alike ('/recon_b' beside '/recon') was cut with it
    listed = counter.attrs.get("values")
    others = [k for k in group if k != name and getattr(group[k], "ndim", 0) >= 2]  # volumes of their own
    values = [str(v) for v in listed] if listed is not None else \
        [k for k in group if k.startswith(name + "_") and getattr(group[k], "ndim", 0) == 1 and k != name + FRAMES_WRITTEN
         and not any(k.startswith(o + "_") for o in others)]
    for key in [name, *(v for v in values if v in group)]:
        item = group[key]
        if getattr(item, "ndim", 0) >= 1 and item.shape[0] == laid and item.maxshape[0] is None:
            item.resize(written, axis=0)
    del group[name + FRAMES_WRITTEN]
    warnings.warn(f"'{h5file.filename}:{dataset}' was laid out for {laid} frames and holds {written} written whole "
                  "(its writer stopped); the frames are appended after those", RuntimeWarning, stacklevel=4)
    return laid, written
