"""An HDF5 volume of a known number of frames, laid out first and written past the HDF5 library.

Why: h5py holds the GIL while HDF5 copies a frame into the page cache, so a writer thread beside
a busy one (the GPU engine's, the reader's) waits for the GIL for every frame, and the slices of
one pass are written slower than the disk can take them while the next pass is read (`ufo reco`
in passes on the H200 host: the writer 1.5-1.9 s busy for 4.29 GB against 1.2-1.4 s alone). Here
the dataset is made at the first frame with its full shape, one chunk per frame and every chunk
allocated at once (no fill values written), its chunks' byte offsets are read and the file is
closed; their disk blocks are reserved (`preallocate`: a write into a hole allocates page by page)
and the frames are then written with `os.pwrite`, which copies without the GIL.

What a reader sees: the file is a closed, valid HDF5 file all the time the frames are written
(no SWMR, nothing to repair after a kill: a killed SWMR writer's file needs h5clear). Dataset
`<name>_frames_written` (int64, one value) counts the frames written whole, in order; it is
updated after each frame's bytes, so after a kill or a full disk it says which frames are
complete (ufo's reader reads only those; frames past it read as zeros). Closing the writer cuts
the dataset to the frames written (fewer may come than announced) and removes the count: a
finished file is what `Hdf5Writer` makes. More frames than announced go on through h5py.

Only for the plain and NXdata layouts without compression, and not for appending (`open_writer` decides).
"""

from __future__ import annotations

import math
import os
import posixpath
import shutil
import warnings
from typing import Any

import numpy as np

from ..core.errors import InputError
from .formats import FRAMES_WRITTEN
from .hdf5 import RESERVE, Hdf5Writer
from .hdf5_records import UNITS, record_type
from .nexus import nxdata_metadata, store_attributes
from .preallocate import reserve_runs
from .writer_base import claim, disk_error, size_limit

WRITTEN = FRAMES_WRITTEN  # suffix of the dataset counting the frames written whole
MOST_CHUNKS = 1 << 20  # frames laid out at most (each chunk is an entry of the dataset's index)


def _allocated(group: Any, name: str, shape: tuple[int, ...], dtype: Any, chunk: tuple[int, ...]) -> Any:
    """A dataset of `shape` (first axis unlimited) in chunks of `chunk`, every chunk allocated now
    and none filled: the file has room for the data, its bytes are written later by offset."""
    import h5py

    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_chunk(chunk)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
    space = h5py.h5s.create_simple(shape, (h5py.h5s.UNLIMITED, *shape[1:]))
    return h5py.Dataset(h5py.h5d.create(group.id, name.encode(), h5py.h5t.py_create(np.dtype(dtype)), space, dcpl=dcpl))


def _chunk_offsets(dset: Any, count: int, per_chunk: int) -> np.ndarray:
    """Byte offsets of chunks 0..count-1 along the first axis (each holding `per_chunk` entries)."""
    offsets = np.full(count, -1, np.int64)

    def note(info: Any) -> None:
        k = info.chunk_offset[0] // per_chunk
        if 0 <= k < count:
            offsets[k] = info.byte_offset

    dset.id.chunk_iter(note)
    if (offsets < 0).any():
        raise OSError(f"HDF5 did not allocate every chunk of {dset.name}")
    return offsets


class Hdf5VolumeWriter(Hdf5Writer):
    """The plain layout's frames into a dataset allocated for `frames` frames, written with pwrite."""

    EXTRA_CHUNK = 1024  # entries per chunk of the per-frame value datasets (`<name>_<key>`)
    shares = False  # its own exclusive claim (`claim`): one writer lays out and fills the volume

    def __init__(self, path: str, dataset: str | None, frames: int, overwrite: bool = False,
                 record_drops: bool = False, metadata: dict[str, Any] | None = None, layout: str = "plain"):
        # the lock first: a second writer's overwrite would otherwise delete the first one's dataset
        self._claim = claim(path) if os.path.exists(path) else None
        try:
            super().__init__(path, dataset, overwrite, False, layout, None, record_drops=record_drops,
                             metadata=metadata)  # plain, or nxdata (its groups made NeXus ones: `_lay_out`)
            if self._claim is None:  # made just now: claimed at once, not at the first frame; a second
                self._claim = claim(path)  # `ufo reco --overwrite` took the file still empty for a killed
        except BaseException:  # writer's, deleted it and wrote its own: both exited 0, the first's slices lost
            self.release()
            raise
        self.expected = frames
        self._overwrite = overwrite
        self._fd: int | None = None
        self._offsets = np.empty(0, np.int64)  # of each frame's chunk
        self._values: dict[str, tuple[np.dtype, np.ndarray]] = {}  # meta key: (type, chunk offsets)
        self._written_at = 0  # offset of the frames_written value
        self._shape: tuple[int, ...] = ()
        self._dtype = np.dtype(np.float32)
        self._grown = False  # more frames came than announced: h5py appends them (Hdf5Writer)
        self._extra_chunk = 1  # entries per chunk of the per-frame value datasets, once laid out
        self._reserved = False  # the laid-out frames' disk blocks reserved (ufo.storage.preallocate)

    def _lay_out(self, frame: np.ndarray, meta: dict[str, Any]) -> None:
        """Make the datasets at the first frame, note their offsets, close the file for pwrite."""
        f, n = self._file, self.expected
        parent, name = posixpath.split(self.dataset)
        self._shape, self._dtype = frame.shape, np.dtype(frame.dtype)
        try:
            group = f.require_group(parent or "/")
            for old in [name + WRITTEN, *(f"{name}_{k}" for k in meta)]:  # what an earlier volume left beside it
                if old in group:
                    if not self._overwrite:
                        raise InputError(f"'{self.path}:{posixpath.join(parent, old)}' exists; refusing to "
                                         "overwrite it (use overwrite=true)")
                    del group[old]
            dset = _allocated(group, name, (n, *frame.shape), frame.dtype, (1, *frame.shape))
            store_attributes(dset, self.metadata)
            if self.layout == "nxdata":
                nxdata_metadata(f, self.dataset, self.metadata)
            self._offsets = _chunk_offsets(dset, n, 1)
            chunk = self._extra_chunk = min(n, self.EXTRA_CHUNK)
            for key, value in meta.items():
                if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
                    kind = record_type(key, value)
                    extra = _allocated(group, f"{name}_{key}", (n,), kind, (chunk,))
                    if key in UNITS:  # read back as the scan's angles (layouts.plain_index)
                        extra.attrs["units"] = UNITS[key]
                    self._values[key] = (kind, _chunk_offsets(extra, -(-n // chunk), chunk))
            counter = group.create_dataset(name + WRITTEN, data=np.zeros(1, np.int64))
            counter.attrs["doc"] = f"frames of {name} written whole, in order (the rest read as zeros)"
            counter.attrs["values"] = [f"{name}_{key}" for key in self._values]  # cut with it (`trim_laid_out`)
            self._written_at = int(_offset(counter))
            f.flush()
        except InputError:
            raise
        except Exception as exc:
            raise disk_error(self.path, 0, exc) from exc
        finally:
            f.close()
        if self._claim is None:
            self._claim = claim(self.path)
        self._fd = os.open(self.path, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
        self._swmr = True  # laid out (Hdf5Writer's flag: no set-up at the next frame)
        # the frames' blocks reserved: written into, not allocated page by page (ufo.storage.preallocate);
        # where they cannot all be, the frames take the disk as they go, checked frame by frame
        self._reserved = reserve_runs(self._fd, self._offsets, frame.nbytes) and all(
            [reserve_runs(self._fd, offsets, kind.itemsize * chunk) for kind, offsets in self._values.values()])

    def write(self, frame: np.ndarray, meta: dict[str, Any]) -> None:
        if self._grown:
            super().write(frame, meta)
            return
        if self._fd is None:
            self._unpark()
            if not self._fits(frame):  # an endless stream, or more than the disk holds: appended frame by frame
                self._grown = True
                super().write(frame, meta)
                return
            self._lay_out(frame, meta)
        if frame.shape != self._shape:
            raise InputError(f"frame {self.frames} has shape {frame.shape}, '{self.path}:{self.dataset}' {self._shape}")
        if self.frames >= self.expected:
            self._grow()
            super().write(frame, meta)
            return
        if not self._reserved:  # reserved: no other writer can take the frame's room
            self._make_room(frame.nbytes)
        data = frame if frame.dtype == self._dtype and frame.flags.c_contiguous else \
            np.ascontiguousarray(frame, self._dtype)
        i = self.frames
        try:
            _pwrite_all(self._fd, memoryview(data).cast("B"), int(self._offsets[i]))
            for key, (kind, offsets) in self._values.items():
                value = meta.get(key)
                value = value if isinstance(value, (int, float, np.number)) else math.nan if kind.kind == "f" else 0
                at = int(offsets[i // self._extra_chunk]) + (i % self._extra_chunk) * kind.itemsize
                _pwrite_all(self._fd, memoryview(np.array([value], kind)).cast("B"), at)
            _pwrite_all(self._fd, memoryview(np.array([i + 1], np.int64)).cast("B"), self._written_at)
        except OSError as exc:
            raise disk_error(self.path, self.frames, exc) from exc
        if self._drops is not None:
            if not self._drops.received:
                self._first_index = self.frames
            self._drops.see(meta, 0)
        self.frames += 1

    def _fits(self, frame: np.ndarray) -> bool:
        """Whether the announced frames are few enough to lay out (MOST_CHUNKS) and fit on the disk and
        under this process's file-size limit (laid out past it, HDF5 could not close the file, which
        then opened nowhere; appended, the frames go up to the limit and stop with a clear error)."""
        if self.expected > MOST_CHUNKS:
            return False
        try:
            free = shutil.disk_usage(os.path.dirname(os.path.abspath(self.path)) or ".").free
        except OSError:
            return False
        need = self.expected * frame.nbytes + RESERVE
        limit = size_limit()
        return need < free and (limit is None or self._file.id.get_filesize() + need <= limit)

    def _grow(self) -> None:
        """More frames than announced: the rest through h5py (Hdf5Writer's appends, the file flushed
        per frame), the datasets as they are so far."""
        import h5py

        self._close_fd()
        self._file = h5py.File(self.path, "a", libver="latest", locking=False)
        parent, name = posixpath.split(self.dataset)
        dset = self._file[self.dataset]
        self._dsets = {self.dataset: dset}
        self._extra = {key: self._file[posixpath.join(parent, f"{name}_{key}")] for key in self._values}
        self._counts = {d.name: self.frames for d in [dset, *self._extra.values()]}
        self._flush_file = True
        self._grown = True

    def _close_fd(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def close(self) -> None:
        if self._grown:
            super().close()
            if self._offsets.size:  # laid out first: its count goes (the dataset holds the frames)
                self._finish()
            self.release()
            return
        laid_out = self._fd is not None
        if laid_out and self._reserved and self.frames < self.expected:  # fewer came: their room given back
            reserve_runs(self._fd, self._offsets[self.frames:], int(np.prod(self._shape)) * self._dtype.itemsize,  # type: ignore[arg-type]
                         undo=True)
        self._close_fd()
        try:
            if not laid_out:
                super().close()  # nothing written: the file as Hdf5Writer leaves it
                return
            self._finish()
            self._record_drops()
        finally:
            self.release()

    def _finish(self) -> None:
        """The datasets cut to the frames written when fewer came than announced, and the count
        removed: the file is then what Hdf5Writer makes. Should this fail, the count stays and says
        which frames are whole."""
        import h5py

        parent, name = posixpath.split(self.dataset)
        try:
            with h5py.File(self.path, "a", libver="latest", locking=False) as f:
                if self.frames < self.expected:
                    for target in [self.dataset, *(posixpath.join(parent, f"{name}_{k}") for k in self._values)]:
                        f[target].resize(self.frames, axis=0)
                    _mark_cut(f[self.dataset], self.frames, self.expected, self.metadata)
                del f[self.dataset + WRITTEN]
        except Exception as exc:  # noqa: BLE001 - the frames are safe and counted; say what is missing
            warnings.warn(f"'{self.path}:{self.dataset}' holds {self.frames} frame(s) of the {self.expected} "
                          f"laid out; {name + WRITTEN} says which are whole ({exc})", RuntimeWarning, stacklevel=3)


def _mark_cut(dset: Any, frames: int, expected: int, metadata: dict[str, Any]) -> None:
    """A volume cut short (a stop, a failure, a full disk) says so: `complete` false, the frames it
    was laid out for, and the last of its `rows` (ufo reco's record) the last slice's: an
    interrupted run's file claimed rows 1000-1198 for 64 slices (a probe)."""
    update: dict[str, Any] = {"complete": False, "frames_expected": expected}
    rows = metadata.get("rows")
    if isinstance(rows, dict) and isinstance(rows.get("first"), int) and frames > 0:
        update["rows"] = {**rows, "last": rows["first"] + (frames - 1) * int(rows.get("step") or 1)}
    store_attributes(dset, update)


def _offset(dset: Any) -> int:
    """The byte offset of a contiguous dataset's data."""
    offset = dset.id.get_offset()
    if offset is None:
        raise OSError(f"HDF5 did not allocate {dset.name}")
    return int(offset)


def _pwrite_all(fd: int, view: memoryview, offset: int) -> None:
    """All of `view` at `offset` (pwrite may write less, e.g. near a full disk)."""
    while view:
        n = os.pwrite(fd, view, offset)
        if n <= 0:
            raise OSError(28, "No space left on device")
        view, offset = view[n:], offset + n
