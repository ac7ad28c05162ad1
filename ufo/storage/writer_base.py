"""What every frame writer shares: the `FrameWriter` protocol, `WriterBase` and `disk_error`.

Its own module, below the format dispatch in ufo.storage.writers and below the HDF5 and Zarr
writers that it dispatches to, so that those import it without importing the dispatch back.

Three limits stop a write, and a writer says which: a full disk (ENOSPC), a quota (EDQUOT: a
user's, group's or fileset's, common on GPFS and Lustre) and a file-size limit (EFBIG: `ulimit -f`,
RLIMIT_FSIZE, or the largest file a file system takes). Only the first shows in the free space
(statvfs); the other two are met by a write (`preallocate.grow` meets them before the library writes).
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import struct
import threading
from typing import Any, Protocol

import numpy as np

from ..core.errors import InputError
from .preallocate import LIMITS


class FrameWriter(Protocol):
    path: str
    frames: int

    def write(self, frame: np.ndarray, meta: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


MISFIT = "an output's type does not hold these frames' values: write a new file or dataset, or convert them first"


def fits_type(frame: Any, stored: Any) -> bool:
    """Whether frames of type `frame` go into an output of type `stored` keeping their values: a
    safe cast, or float into float (float64 results appended to a float32 volume)."""
    frame, stored = np.dtype(frame), np.dtype(stored)
    return bool(np.can_cast(frame, stored, "safe")) or frame.kind == stored.kind == "f"


def conform(path: str, index: int, frame: np.ndarray, kept: tuple[tuple[int, ...], Any] | None) -> np.ndarray:
    """Frame `index` in the shape and type `kept` of the frames its file holds (None: the first), or
    an InputError naming both: a frame of another shape (`stack partial=true`'s last) resized a Zarr
    array over the frames before it, made its chunks unreadable, or shifted a raw file's frames."""
    if kept is None:
        return frame
    shape, dtype = kept
    if frame.shape != tuple(shape) or not fits_type(frame.dtype, dtype):
        partial = frame.ndim == len(shape) > 2 and frame.shape[1:] == tuple(shape)[1:] and frame.shape[0] < shape[0]
        raise InputError(f"frame {index} has shape {frame.shape} {frame.dtype}, '{path}' holds frames of shape "
                         f"{tuple(shape)} {np.dtype(dtype)}: " + (MISFIT if frame.shape == tuple(shape) else
                         "one file holds frames of one shape" + (" (a partial last stack: stack partial=false, or "
                                                                 "a TIFF sequence)" if partial else "")))
    return frame if frame.dtype == dtype else frame.astype(dtype)


def first_page(path: str) -> tuple[tuple[int, ...], Any] | None:
    """(shape, dtype) of a TIFF stack's first page, or None (no page yet)."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            return (tuple(tif.pages[0].shape), tif.pages[0].dtype) if tif.pages else None
    except Exception:  # noqa: BLE001 - no stack to match (a file tifffile cannot read is refused where it is opened)
        return None


def make_parent(path: str) -> None:
    """The folder that will hold `path`, made if need be (InputError naming it where it cannot be)."""
    parent = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create directory '{parent}': {exc}") from exc


class WriterBase:
    """What every writer shares: use it as a context manager so the file is closed on errors."""

    _claim: int | None = None  # the descriptor holding the output's lock (claim), released at close

    def close(self) -> None:
        raise NotImplementedError

    def notes(self) -> list[str]:
        """What the user should know of the output once it is closed (other files left beside it)."""
        return []

    def release(self) -> None:
        """Let other writers have the output (the lock `claim` took); closing the writer does it."""
        fd, self._claim = self._claim, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def claim(path: str) -> int | None:
    """An exclusive lock on an existing output file, held until the writer closes: a second ufo
    writer on the same file (`--overwrite`, another grab into the same stack) is refused here
    instead of truncating the file under the first, whose frames were then lost without a word.
    None where the file system has no locks (the writes go on unguarded).

    Where Linux has them, an open-file-description lock (F_OFD_SETLK): it conflicts with another
    writer's, in this process or another, but not with the flock() that HDF5 takes to read a file,
    so h5py (and every HDF5 tool) opens an HDF5 volume while ufo writes it (an flock here made
    them fail with "unable to lock file"). Elsewhere, and for a folder (a Zarr store), flock."""
    import fcntl

    ofd = getattr(fcntl, "F_OFD_SETLK", None)
    if os.path.isdir(path):  # a folder opens for reading only, which an OFD write lock refuses
        ofd = None
    try:
        fd = os.open(path, (os.O_WRONLY if ofd is not None else os.O_RDONLY) | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        if ofd is not None:  # struct flock: l_type, l_whence, l_start, l_len 0 (the whole file), l_pid 0
            fcntl.fcntl(fd, ofd, struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0))
        else:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            raise InputError(f"'{path}' is being written by another process (or another writer of this one) right "
                             "now; choose another output, or wait until that one ends") from None
        return None  # no locks here (some network file systems)
    return fd


def claimed(path: str, open_file: Any) -> tuple[Any, int | None]:
    """(`open_file()`, the lock of `path` (`claim`)): the lock is taken before the file is opened
    (and truncated); a new file is made empty first to be claimed (two writers starting at once
    on a new file both opened it, and the one then refused closed it over the other's frames)."""
    made = make_empty(path)
    held = claim(path)
    try:
        opened = open_file()
    except BaseException:
        if held is not None:
            os.close(held)
        drop_empty(path, made)
        raise
    return opened, held


def make_empty(path: str) -> bool:
    """Make `path` as an empty file where there is none (O_EXCL: one process of several does);
    True where this call made it."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o644))
    except FileExistsError:
        return False
    except OSError:  # no room, no permission: the writer's own open says so
        return False
    return True


def drop_empty(path: str, made: bool) -> None:
    """The empty file `make_empty` made for a writer that then failed, not left behind."""
    if made and os.path.exists(path) and not os.path.getsize(path):
        os.unlink(path)


def claim_sequence(pattern: str) -> str | None:
    """A claim on the TIFF sequence `folder/name-%05i.tif`, shared by this process's writers of it
    (the passes of one reconstruction), exclusive against other processes: a hidden lock file
    beside its frames (`.name-%05i.tif.ufo-lock`, removed with the last of them). Two processes'
    writers of one sequence wrote their frames into each other's and both reported success (each
    frame is its own file, renamed into place: no file of theirs to lock). Returns the key for
    `release_sequence`, None where the file system has no locks."""
    folder, name = os.path.split(pattern)
    lock = os.path.join(folder or ".", f".{name}.ufo-lock")
    key = os.path.realpath(lock)
    with _SHARING:
        held = _SEQUENCES.get(key)
        if held is None:
            make_empty(lock)
            try:
                fd = claim(lock)
            except InputError:
                raise InputError(f"'{pattern}' is being written by another process right now; choose another "
                                 "output, or wait until that one ends") from None
            if fd is None:
                return None
            held = _SEQUENCES[key] = [fd, 0]
        held[1] += 1
    return key


def release_sequence(key: str | None) -> None:
    """A writer's part of `claim_sequence` given back; the last one's removes the lock file (while
    held: no other process has it) and drops the lock."""
    if key is None:
        return
    with _SHARING:
        held = _SEQUENCES.get(key)
        if held is None:
            return
        held[1] -= 1
        if held[1] > 0:
            return
        del _SEQUENCES[key]
    try:
        os.unlink(key)
    except OSError:
        pass
    os.close(held[0])


def disk_full(path: str) -> bool:
    """Whether the filesystem holding `path` has (almost) no room left."""
    folder = os.path.dirname(os.path.abspath(path)) or "."
    try:
        return shutil.disk_usage(folder).free < 64 * 1024
    except OSError:
        return False


def size_limit() -> int | None:
    """This process's file-size limit (RLIMIT_FSIZE, `ulimit -f`) in bytes; None where there is none.
    A write past it fails with EFBIG (Python ignores SIGXFSZ), which the free space does not show."""
    try:
        import resource
    except ImportError:  # not POSIX
        return None
    soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    return None if soft == resource.RLIM_INFINITY else int(soft)


def _limit_met(path: str, exc: BaseException) -> int | None:
    """Which limit (ENOSPC, EDQUOT, EFBIG) stopped a write that failed with `exc`, or None (another
    failure). Libraries do not always pass the errno on: HDF5 names it in its text, tifffile
    reports a short write ("5529600 requested and 376584 written"), numpy, which reserves a
    frame's room before it writes it, says "Not enough free space". Where no errno came, the
    file at the file-size limit or a full disk says which."""
    code = exc.errno if isinstance(exc, OSError) else None
    if code in LIMITS:
        return code
    text = str(exc)
    for limit in LIMITS:
        if os.strerror(limit) in text:
            return limit
    if "Not enough free space" in text:
        return errno.ENOSPC
    if code is not None:  # the OS said what it was (no such folder, no permission): not a limit
        return None
    limit = size_limit()
    try:
        if limit is not None and os.path.getsize(path) >= limit:
            return errno.EFBIG
    except OSError:
        pass
    # a short write is the file system refusing more bytes: by the time it is looked at, the free space
    # may be back (other writers' files removed, root's reserve) and said "requested and ... written"
    return errno.ENOSPC if disk_full(path) or re.search(r"\d+ requested and \d+ written", text) else None


def disk_error(path: str, frames: int, exc: BaseException) -> InputError:
    """A clear message for a failed write; a limit met (a full disk, a quota, a file-size limit)
    is named and says what is still intact."""
    kept = f"after {frames} frame(s); those frames are intact"
    limit = _limit_met(path, exc)
    if limit == errno.ENOSPC:
        return InputError(f"the disk holding '{path}' is full {kept}, free space or write elsewhere")
    if limit == errno.EDQUOT:
        return InputError(f"the disk quota (user, group or fileset) for '{path}' is used up {kept}, "
                          "free space within the quota, have it raised or write elsewhere")
    if limit == errno.EFBIG:
        most = size_limit()
        which = (f"this process's file-size limit ({most} bytes, ulimit -f {most // 1024})" if most is not None
                 else "the largest file its file system takes")
        return InputError(f"'{path}' reached {which} {kept}, raise the limit or write smaller files")
    return InputError(f"writing frame {frames} to '{path}' failed: {exc}")


#: claims of this process's writers on one file (`share`): realpath -> [descriptor, data sets written]
_SHARED: dict[str, list[Any]] = {}
_SEQUENCES: dict[str, list[int]] = {}  # a TIFF sequence's lock file: [its lock, this process's writers]
_SHARING = threading.Lock()


def share(path: str, dataset: str) -> str | None:
    """A claim on the file `path` that this process's writers share, one a data set (a walker writes
    darks, flats and projections of one HDF5 file side by side), exclusive against other processes:
    a second process's writer with overwrite deleted the first one's frames. A data set another
    writer of this process is writing is refused too (HDF5 crashed under it). Returns the key for
    `unshare`, or None where the file system has no locks."""
    key = os.path.realpath(path)
    with _SHARING:
        held = _SHARED.get(key)
        if held is None:
            fd = claim(path)
            if fd is None:
                return None
            held = _SHARED[key] = [fd, set()]
        if dataset in held[1]:
            raise InputError(f"'{path}:{dataset}' is being written by another writer of this process; close it first "
                             "or choose another output")
        held[1].add(dataset)
    return key


def sole_writer(key: str | None, dataset: str) -> bool:
    """Whether the writer of `dataset` is the only one of this process holding the `share`d file
    (True where nothing is shared: the writer claims its file alone, or there are no locks)."""
    with _SHARING:
        held = _SHARED.get(key) if key is not None else None
        return held is None or held[1] <= {dataset}


def unshare(key: str | None, dataset: str) -> None:
    """This writer's part of a `share`d claim given back; the lock goes with the file's last writer."""
    if key is None:
        return
    with _SHARING:
        held = _SHARED.get(key)
        if held is None:
            return
        held[1].discard(dataset)
        if not held[1]:
            os.close(held[0])
            del _SHARED[key]


def room_note(path: str, count: int | None, shape: tuple[int, ...], itemsize: int) -> str | None:
    """What a writer of `count` frames of `shape` x `itemsize` bytes says where they need more than the
    output's disk has free (the run goes on and stops cleanly once the disk is full, its frames
    intact), else None: said up front, as `ufo camera grab` says it (81 GB were written, then 'full')."""
    if not count:
        return None
    each = int(np.prod(shape)) * itemsize
    try:
        from .formats import parse_output_path

        folder = os.path.dirname(os.path.abspath(parse_output_path(os.path.expanduser(path)).path)) or "."
        while not os.path.isdir(folder):  # the folders the writer makes
            folder = os.path.dirname(folder)
        free = shutil.disk_usage(folder).free
    except (OSError, ValueError):
        return None
    if count * each <= free:
        return None
    return (f"{count} frames of {each / 1e6:.1f} MB need {count * each / 1e9:.1f} GB and the disk of '{folder}' has "
            f"{free / 1e9:.1f} GB free: the run stops once it is full (after about {free // each} frames, those "
            "intact); write fewer frames or elsewhere")
