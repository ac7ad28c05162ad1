"""HDF5 writing: one chunk per frame, direct chunk writes, SWMR, and the NXtomo and DXchange layouts.

The file is opened in SWMR mode and flushed after every frame, so a reader (or a crash) sees
a consistent file holding every frame `write` has returned for. Frames go to the dataset the
layout says: NXtomo keeps all frames in entry/instrument/detector/data with their image_key
and rotation_angle (degrees); DXchange splits them by image_key into /exchange/data,
data_white and data_dark, with theta (degrees) for the projections.

With `record_drops`, frames that a camera dropped (gaps in the frames' `frame_number`) are
recorded when the file is closed: attribute `frames_dropped` on the data group (NXtomo:
/entry/data and /entry/instrument/detector; DXchange: /exchange; plain: the dataset) and a
table `dropped_frames` beside the data (NXtomo: /entry/instrument/detector/dropped_frames,
plain: <dataset>_dropped_frames) with one row per gap: index of the frame after the gap in
write order, first missing frame number, frames missing.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import posixpath
import shutil
import warnings
from typing import Any

import numpy as np

from ..core.errors import InputError
from .hdf5_cut import damaged_hdf5, holders, holds_values, left_open, left_open_error, trim_laid_out
from .hdf5_drops import record_drops
from .hdf5_records import frame_record
from .nexus import (COUNT_TIME, NXTOMOPROC_DATA, SAMPLE_POSITIONS, dxchange_metadata, now, nxdata_metadata, nxtomo_metadata,
                    store_attributes)
from .preallocate import grow
from .writer_base import (MISFIT, WriterBase, disk_error, drop_empty, fits_type, make_empty, share, size_limit, sole_writer,
                          unshare)

LAYOUTS = ("plain", "nxtomo", "dxchange", "nxdata")  # nxdata: a NeXus NXdata of the frames (a reconstruction)
NXTOMO_DATA = "/entry/instrument/detector/data"
DXCHANGE = {0: "/exchange/data", 1: "/exchange/data_white", 2: "/exchange/data_dark"}
#: bytes left free on the disk (and under a quota or file-size limit: `_take_room`) for what closing
#: the file writes (chunk indexes, object headers): HDF5 that meets a full disk mid-frame cannot close
#: the file, which then opens nowhere without h5clear (and the process may crash at exit), so a frame
#: that would leave less is refused first
RESERVE = 256 << 10


class Hdf5Writer(WriterBase):
    """Appends frames to an HDF5 file in the plain, NXtomo or DXchange layout."""

    shares = True  # claims its file with this process's other writers (`share`); the volume writer claims alone

    def __init__(self, path: str, dataset: str | None, overwrite: bool = False, append: bool = False,
                 layout: str = "plain", compression: str | None = None, flush_every: int = 1,
                 record_drops: bool = False, metadata: dict[str, Any] | None = None):
        import h5py

        from ..core.framestats import FrameStats

        if layout not in LAYOUTS:
            raise InputError(f"unknown HDF5 layout '{layout}'; choose one of {', '.join(LAYOUTS)}")
        self.path = path
        self.layout = layout
        self.dataset = dataset or {"plain": "/data", "nxtomo": NXTOMO_DATA, "nxdata": NXTOMOPROC_DATA}.get(layout, DXCHANGE[0])
        self.compression = None if compression in (None, "none") else compression
        self.flush_every = max(1, flush_every)
        self.frames = 0
        # the file claimed against other processes' writers before it is opened, a new one made empty first
        # (of two writers starting at once, the one refused had closed it over the other's frames)
        self._made = not os.path.exists(path)  # made by this writer: removed at close if no frame came
        made = self.shares and make_empty(path)
        self._shared = share(path, self.dataset) if self.shares else None
        try:  # a writer killed before its first frame left a file that opens nowhere, which --overwrite
            fresh = not os.path.exists(path) or not os.path.getsize(path) or \
                overwrite and not append and damaged_hdf5(path) and not holders(path)  # replaces
            self._file = h5py.File(path, "w" if fresh else "a", libver="latest", locking=False)  # in place
            if fresh:  # on disk whole at once: killed before its first frame, a new file opened nowhere
                self._file.flush()
        except Exception as exc:
            unshare(self._shared, self.dataset)
            drop_empty(path, made)
            if isinstance(exc, InputError):
                raise
            if left_open(path) or holders(path):  # a live writer's, or a killed SWMR writer's frames
                raise InputError(left_open_error(path)) from exc
            raise InputError(f"cannot open HDF5 file '{path}' for writing: {exc}") from exc
        targets = list(DXCHANGE.values()) if layout == "dxchange" else [self.dataset]
        present = [t for t in targets if t in self._file]
        if present and not append:
            if not overwrite:
                self._file.close()
                unshare(self._shared, self.dataset)
                raise InputError(f"'{path}:{present[0]}' exists; refusing to overwrite it (use overwrite=true)")
            flat = layout == "plain" or (layout == "nxdata" and self.dataset != NXTOMOPROC_DATA)  # the dataset alone goes
            for name in (self.dataset,) if flat else ("/entry", "/exchange"):
                if name in self._file:
                    del self._file[name]
            parent, name = posixpath.split(self.dataset)
            for key in [k for k in self._file[parent or "/"] if k.startswith(name + "_")] if flat else []:
                del self._file[posixpath.join(parent, key)]
        self._dsets: dict[str, Any] = {}
        self._extra: dict[str, Any] = {}
        self._counts: dict[str, int] = {}
        self._swmr = False
        self._drops = FrameStats() if record_drops else None
        self._first_index = 0  # frames the file held before this writer's first
        self._room = 0  # free bytes on the disk as last measured, less what was written since
        self._can_grow = True  # room is taken past the file's end before each frame (`_take_room`)
        self.metadata = dict(metadata or {})
        self._unangled = 0  # NXtomo/DXchange projections that came without an angle (`notes`)
        self._park()

    def _park(self) -> None:
        """The file closed until the first frame, where no other writer of this process holds it: HDF5
        marks a file open for writing, and a writer killed while waiting for its first frame (a
        reconstruction's reading and filtering, a camera's first exposure) left a file that opened
        nowhere, not in ufo, not in h5py, not even a new one (h5clear needed)."""
        if sole_writer(self._shared, self.dataset):
            self._file.close()
            self._file = None

    def _unpark(self) -> None:
        import h5py

        if self._file is None:
            try:
                self._file = h5py.File(self.path, "a", libver="latest", locking=False)
            except Exception as exc:
                raise disk_error(self.path, self.frames, exc) from exc

    # -- creation (all datasets exist before SWMR starts) ----------------------------------
    def _create(self, name: str, shape: tuple[int, ...], dtype: Any, chunks: bool = True) -> Any:
        if name in self._file:
            dset = self._file[name]
            if dset.shape[1:] != shape:
                raise InputError(f"'{self.path}:{name}' holds frames of shape {dset.shape[1:]}, not {shape}")
            return dset
        kwargs: dict[str, Any] = {}
        if chunks and shape:
            kwargs["chunks"] = (1, *shape)
            if self.compression:
                kwargs["compression"] = self.compression
        return self._file.create_dataset(name, shape=(0, *shape), maxshape=(None, *shape), dtype=dtype, **kwargs)

    def _group(self, name: str, nx_class: str) -> Any:
        group = self._file.require_group(name)
        group.attrs.setdefault("NX_class", nx_class)
        return group

    def _setup(self, frame: np.ndarray, meta: dict[str, Any]) -> None:
        import h5py

        f = self._file
        if self.layout in ("plain", "nxdata"):
            trim_laid_out(f, self.dataset)  # a laid-out volume whose writer stopped: appended after its frames
            self._dsets[self.dataset] = self._create(self.dataset, frame.shape, frame.dtype)
            if self.layout == "nxdata":
                nxdata_metadata(f, self.dataset, self.metadata)
            for key, value in meta.items():
                if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
                    self._extra[key] = frame_record(self._create, self._dsets[self.dataset], key, value)
        elif self.layout == "nxtomo":
            entry = self._group("/entry", "NXentry")
            if "definition" not in entry:
                entry["definition"] = "NXtomo"
                entry["start_time"] = str(self.metadata.get("start_time") or now())
            self._group("/entry/instrument", "NXinstrument")
            self._group("/entry/instrument/detector", "NXdetector")
            sample = self._group("/entry/sample", "NXsample")
            self._dsets[NXTOMO_DATA] = self._create(NXTOMO_DATA, frame.shape, frame.dtype)
            self._extra["image_key"] = self._create("/entry/instrument/detector/image_key", (), np.int32)
            self._extra["image_key_control"] = self._create("/entry/instrument/detector/image_key_control", (), np.int32)
            angle = self._create("/entry/sample/rotation_angle", (), np.float64)
            angle.attrs["units"] = "degree"
            self._extra["angle"] = angle
            places = {name: f"/entry/sample/{name}" for name in SAMPLE_POSITIONS if name in meta}  # stage positions (m)
            if self.metadata.get("exposure_time") is not None and getattr(f.get(COUNT_TIME), "ndim", 1) == 1:
                places["exposure_time"] = COUNT_TIME  # NXdetector's exposure, one a frame (tomoscan indexes it)
            for name, place in places.items():  # per-frame values when the frames or the camera give them
                self._extra[name] = self._create(place, (), np.float64)
                self._extra[name].attrs["units"] = "s" if name == "exposure_time" else "m"
            if "name" not in sample:
                sample["name"] = str(self.metadata.get("sample", meta.get("sample", "sample")))
            if self.metadata:
                nxtomo_metadata(f, self.metadata)
            f["/entry/instrument/detector/image_key_control"].attrs["doc"] = "-1: alignment projection"
            data = self._group("/entry/data", "NXdata")
            data.attrs["signal"] = "data"
            f.attrs.setdefault("default", "entry")  # NeXus viewers (silx) plot the frames when the file opens
            entry.attrs.setdefault("default", "data")
            for link, target in (("data", NXTOMO_DATA), ("image_key", "/entry/instrument/detector/image_key"),
                                 ("rotation_angle", "/entry/sample/rotation_angle")):
                if link not in data:
                    data[link] = h5py.SoftLink(target)
        else:
            for key, name in DXCHANGE.items():
                self._dsets[name] = self._create(name, frame.shape, frame.dtype)
            theta = self._create("/exchange/theta", (), np.float64)
            theta.attrs["units"] = "degree"
            self._extra["theta"] = theta
            if self.metadata:
                dxchange_metadata(f, self.metadata)
        for dset in list(self._dsets.values()) + list(self._extra.values()):
            self._counts[dset.name] = dset.shape[0]
        for dset in self._dsets.values():  # attributes must exist before SWMR starts
            store_attributes(dset, self.metadata)
        self.frames = sum(self._counts[d.name] for d in self._dsets.values())
        self._swmr = True
        try:
            f.swmr_mode = True
        except Exception:
            # a file made by another tool with an old superblock: no SWMR, so flush the whole file per frame
            self._flush_file = True

    # -- writing ------------------------------------------------------------------------
    def _append(self, dset: Any, value: Any, direct: bool = False) -> None:
        n = self._counts[dset.name]
        dset.resize(n + 1, axis=0)
        try:
            if direct:
                dset.id.write_direct_chunk((n, *([0] * (dset.ndim - 1))), value)
            else:
                dset[n] = value
        except Exception:
            dset.resize(n, axis=0)  # a frame counts only once its chunk is written
            raise
        self._counts[dset.name] = n + 1

    def write(self, frame: np.ndarray, meta: dict[str, Any]) -> None:
        before: dict[str, int] = {}
        self._unpark()
        self._make_room(frame.nbytes)
        self._take_room(frame.nbytes)
        try:
            if not self._swmr:
                self._setup(frame, meta)
            before = dict(self._counts)
            key = int(meta.get("image_key", 0))
            if self.layout == "dxchange":
                dset = self._dsets[DXCHANGE.get(key, DXCHANGE[0])]
            else:
                dset = next(iter(self._dsets.values()))
            if frame.shape != dset.shape[1:] or not fits_type(frame.dtype, dset.dtype):  # float32 0.75 as uint16 0
                raise InputError(f"frame {self.frames} has shape {frame.shape} {frame.dtype}, '{self.path}:{dset.name}' "
                                 f"{dset.shape[1:]} {dset.dtype}" + ("" if frame.shape != dset.shape[1:] else f"; {MISFIT}"))
            direct = self.compression is None and frame.dtype == dset.dtype and frame.flags.c_contiguous
            self._append(dset, frame if not direct else memoryview(frame).cast("B"), direct)
            touched = [dset]
            angle = meta.get("angle")
            if self.layout == "nxtomo":
                self._append(self._extra["image_key"], key)
                self._append(self._extra["image_key_control"], key)
                self._append(self._extra["angle"], math.degrees(angle) if angle is not None else 0.0)
                self._unangled += angle is None and key == 0
                touched += [self._extra[k] for k in ("image_key", "image_key_control", "angle")]
                for name in (*SAMPLE_POSITIONS, "exposure_time"):
                    if name in self._extra:
                        self._append(self._extra[name], float(meta.get(name, self.metadata.get(name, math.nan))))
                        touched.append(self._extra[name])
            elif self.layout == "dxchange":
                if key == 0:
                    self._append(self._extra["theta"], math.degrees(angle) if angle is not None else 0.0)
                    self._unangled += angle is None
                    touched.append(self._extra["theta"])
            else:
                for name, target in self._extra.items():
                    value = meta.get(name)  # a frame without it: NaN where floats are kept (an angle of 0 was made up)
                    self._append(target, value if isinstance(value, (int, float, np.number))
                                 else math.nan if target.dtype.kind == "f" else 0)
                    touched.append(target)
            if (self.frames + 1) % self.flush_every == 0:  # before the frame is counted: a Ctrl-C in
                if getattr(self, "_flush_file", False):  # the flush takes it back whole, counts and all
                    self._file.flush()  # (counted first, the file held a frame fewer than said, and its
                else:  # drops the gaps before a frame it did not hold)
                    for d in touched:
                        d.flush()
            self._count_uninterrupted(meta)
        except InputError:
            raise
        except Exception as exc:
            self._roll_back(before)
            raise disk_error(self.path, self.frames, exc) from exc
        except BaseException:  # Ctrl-C inside the frame (`ufo camera grab` writes in the main thread): the
            self._roll_back(before)  # frame went in without its frame number and time stamp; it goes out whole
            raise

    def _count_uninterrupted(self, meta: dict[str, Any]) -> None:
        """The frame counted with its drops: a Ctrl-C landing here waits until it returns (`cli.errors`
        sends a signal that lands in a function named *_uninterrupted again 20 ms later), so the file,
        the count and `frames_dropped` agree (one more drop than gaps, CI: a Ctrl-C inside the count)."""
        if self._drops is not None:
            if not self._drops.received:
                self._first_index = self.frames
            self._drops.see(meta, 0)
        self.frames += 1

    def _make_room(self, nbytes: int) -> None:
        """Refuse a frame that would leave less than RESERVE free on the disk (a clear disk-full
        error, the file closes whole). The free space is measured again once the estimate falls
        under 1 GiB, or every 64 frames (other writers share the disk)."""
        if self._room - nbytes > 1 << 30 and self.frames % 64:
            self._room -= nbytes
            return
        try:
            self._room = shutil.disk_usage(os.path.dirname(os.path.abspath(self.path)) or ".").free
        except OSError:
            self._room = 1 << 62  # not measurable: leave it to the writes
            return
        if self._room < nbytes + RESERVE:
            raise disk_error(self.path, self.frames, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
        self._room -= nbytes

    def _take_room(self, nbytes: int) -> None:
        """Take the frame's room and RESERVE past HDF5's end of the file before HDF5 writes there
        (`preallocate.grow`): a quota or the file-size limit, which the free space does not show, then refuses
        the frame here and the file closes whole. Met by HDF5 mid-frame, the file could not be
        closed and opened nowhere ('truncated file': a probe's `ulimit -f`). Where the file system
        cannot take room ahead, the file-size limit (RLIMIT_FSIZE) is compared instead. A killed
        writer's file keeps the room as zeros past HDF5's end of it, which readers do not mind."""
        end = self._file.id.get_filesize()  # where HDF5 ends the file (the room taken past it not counted)
        code = grow(self._file.id.get_vfd_handle(), end, nbytes + RESERVE) if self._can_grow else None
        if code is None:
            self._can_grow = False
            limit = size_limit()
            code = errno.EFBIG if limit is not None and end + nbytes + RESERVE > limit else 0
        if code:
            raise disk_error(self.path, self.frames, OSError(code, os.strerror(code)))

    def _give_back(self) -> None:
        """The room taken and not written (`_take_room`) given back before closing: the file ends
        where HDF5 ends it, and what closing writes has the room."""
        try:
            end, fd = self._file.id.get_filesize(), self._file.id.get_vfd_handle()
            if os.fstat(fd).st_size > end:
                os.ftruncate(fd, end)
        except Exception:  # noqa: BLE001 - closed already, or refused: the bytes past the end read as zeros
            pass

    def _roll_back(self, counts: dict[str, int]) -> None:
        """After a failed write: shrink every dataset back to what it held before this frame."""
        for dset in list(self._dsets.values()) + list(self._extra.values()):
            try:
                keep = counts.get(dset.name, 0)
                if dset.shape[0] > keep:
                    dset.resize(keep, axis=0)
                self._counts[dset.name] = keep
                dset.flush()
            except Exception:  # the disk may refuse even this; a reader then sees the last flush
                pass

    def close(self) -> None:
        self._give_back()
        unused = self.frames == 0 and self._made and sole_writer(self._shared, self.dataset)
        try:
            if self._file is not None:
                self._file.close()
            if unused and not holds_values(self.path):  # "nothing was written": no empty file of this
                with contextlib.suppress(OSError):  # writer's making left behind (other writers' frames
                    os.unlink(self.path)  # in it, written and closed before this one's close, stay)
                return
        except Exception as exc:
            raise disk_error(self.path, self.frames, exc) from exc
        finally:
            unshare(getattr(self, "_shared", None), self.dataset)
            self._shared = None
        self._record_end()
        self._record_drops()

    def notes(self) -> list[str]:
        """Projections without an angle: NXtomo and DXchange record one per frame, 0 (a made-up scan)."""
        return [f"{self._unangled} projection(s) written to '{self.path}' ({self.layout}) came without an angle: "
                "each is recorded at 0 degrees; frames that are no scan go to layout=plain or nxdata"] \
            if self._unangled else []

    def _record_end(self) -> None:
        """After closing (SWMR files take no new datasets, nor removals): NXtomo's end_time; DXchange's
        reference data sets that got no frame removed (dxchange handed tomopy the empty array: NaN)."""
        if self.layout not in ("nxtomo", "dxchange") or not self._swmr:
            return
        import h5py

        try:
            with h5py.File(self.path, "a", locking=False) as f:
                for name in (DXCHANGE[1], DXCHANGE[2]) if self.layout == "dxchange" else ():
                    if name in f and f[name].shape[0] == 0:
                        del f[name]
                if self.layout == "nxtomo" and "/entry" in f:
                    if "end_time" in f["/entry"]:
                        del f["/entry/end_time"]
                    f["/entry/end_time"] = self.metadata.get("end_time") or now()
        except Exception as exc:  # noqa: BLE001 - the frames are safe; say that the record is missing
            warnings.warn(f"'{self.path}': could not record end_time: {exc}", RuntimeWarning, stacklevel=2)

    def _record_drops(self) -> None:
        """After closing (SWMR files take no new attributes): how many frames the camera dropped, and which."""
        if self._drops is not None and self._drops.numbered:
            record_drops(self.path, self.layout, self.dataset, self._drops, self._first_index)
