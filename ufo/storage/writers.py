"""Frame writers: TIFF sequences, BigTIFF stacks, HDF5 (ufo.storage.hdf5), Zarr and raw files.

Each writer refuses to replace existing data unless asked (`overwrite=True`), writes each
frame completely before the next and leaves a readable file when closed early (errors,
Ctrl-C). Metadata goes with the frames: JSON in the TIFF description, attributes in HDF5; the
writer's own `metadata` (scale, configuration, instrument) once per file.
`open_writer` picks the writer by the path's format; what all writers share (`WriterBase`,
`disk_error`) is in ufo.storage.writer_base, below this module and the HDF5 and Zarr writers.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

import numpy as np

from ..core.errors import InputError
from ..core.frame import scalar_meta
from .formats import NEXUS_SUFFIXES, FileKind, OutputPath, parse_output_path
from .hdf5 import Hdf5Writer
from .hdf5_volume import Hdf5VolumeWriter
from .imagej import (DisplayRange, FrameNumbers, LiveCount, imagej_count, imagej_metadata, is_imagej, no_appending,
                     per_centimetre, tiff_resolution)
from .stale import stale_note
from .tiff_page import write_page
from .writer_base import (FrameWriter, WriterBase, claim_sequence, claimed, conform, disk_error, disk_full, first_page,
                          make_parent, release_sequence)
from .zarr_store import ZarrWriter

__all__ = ["BigTiffWriter", "FrameWriter", "RawWriter", "TiffSequenceWriter", "WriterBase", "describe", "disk_error",
           "disk_full", "open_writer"]


def _refuse_existing(path: str, overwrite: bool) -> None:
    if os.path.exists(path) and not overwrite:
        raise InputError(f"'{path}' exists; refusing to overwrite it (use overwrite=true / --overwrite)")


class TiffSequenceWriter(WriterBase):
    """One TIFF file per frame, named from a pattern (frame-%05i.tif); file numbers go `start`,
    `start + step`, ... (`ufo reco` numbers them by detector row).

    Each file is written under a temporary name and renamed when complete, so a crash never
    leaves a truncated frame-NNNNN.tif behind. Its description is JSON: the frame's metadata
    and the writer's `metadata` (scale, configuration). Files are classic TIFF, which ImageJ opens,
    each in one write (ufo.storage.tiff_page); nothing is fsynced per frame (a caller that needs
    the frames on the disk fsyncs the folder's files once, as benchmarks/storage.py does).
    """

    def __init__(self, target: OutputPath, overwrite: bool, start: int = 0, step: int = 1,
                 metadata: dict[str, Any] | None = None, exclusive: bool = True):
        import tifffile

        self._imwrite = tifffile.imwrite
        self.target = target
        self.path = target.path
        self.overwrite = overwrite
        self.frames = 0
        self.start = start
        self.step = step
        self.metadata = dict(metadata or {})
        make_parent(target.frame_path(start))
        _refuse_existing(target.frame_path(start), overwrite)
        # one process a sequence; the workers of a cluster run write their parts of it (`exclusive` False)
        self._sequence = claim_sequence(target.path) if exclusive else None
        self._written: list[str] | None = [] if exclusive and overwrite else None  # for `notes`

    def write(self, frame: np.ndarray, meta: dict[str, Any]) -> None:
        path = self.target.frame_path(self.start + self.frames * self.step)
        _refuse_existing(path, self.overwrite)
        partial = path + ".part"
        before = _inode(path)  # a file replaced (--overwrite) is another inode once the frame is in place
        try:
            description = describe(meta, self.metadata)
            per_cm = per_centimetre(self.metadata)  # the pixel size, as ImageJ and Fiji's image sequences read it
            if not write_page(partial, frame, description, per_cm):  # one writev; tifffile for the rest
                self._imwrite(partial, frame, description=description, metadata=None, **tiff_resolution(self.metadata))
            os.replace(partial, path)
            self.frames += 1
            if self._written is not None:
                self._written.append(path)
        except BaseException as exc:  # a Ctrl-C or SIGTERM mid-frame too: no '.part' left beside the slices
            if os.path.exists(partial):  # (a glob of *.tif* then fed it to the next command); the frame is
                os.remove(partial)  # not counted, so the files are the frames the summary says
            elif _inode(path) not in (None, before) and not isinstance(exc, OSError):
                self.frames += 1  # in place whole when the Ctrl-C came (after the rename, before the count)
            if isinstance(exc, OSError):
                raise disk_error(path, self.frames, exc) from exc
            raise

    def close(self) -> None:
        held, self._sequence = self._sequence, None
        release_sequence(held)

    def notes(self) -> list[str]:
        """After an overwrite: the other files of the pattern left in the folder (`ufo.storage.stale`).
        A cluster worker writes a part beside the others' (not exclusive) and says nothing."""
        if self._written is None:
            return []
        note = stale_note(self.target, self._written)
        return [note] if note else []


def _inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def describe(meta: dict[str, Any], metadata: dict[str, Any] | None = None) -> str:
    """A page's JSON description: the frame's scalar metadata, then the writer's (scale, configuration)."""
    return json.dumps({**scalar_meta(meta), **(metadata or {})}, default=str)


CLASSIC_TIFF_LIMIT = 2**32 - 2**26  # classic TIFF offsets are 32 bits; leave 64 MiB for tags and descriptions
IMAGEJ_DTYPES = ("uint8", "uint16", "float32")


class BigTiffWriter(WriterBase):
    """All frames as pages of one TIFF stack: a classic ImageJ stack when it is known to stay
    under 4 GB, BigTIFF otherwise; `bytes_per_file` splits it into several BigTIFFs.

    ImageJ 1.x opens classic TIFF only, and a streamed file cannot be rewritten cheaply, so the
    format is chosen at the first frame: ImageJ (tifffile `imagej=True`: axes ZYX, display range
    and calibration from the stored scale, a float32 stack's display range from a sample of its
    slices (`DisplayRange`), spacing from the pixel size, the metadata as JSON in `Info`) when
    `expected_frames` is given, frames x frame bytes stay below 4 GB minus 64 MiB, the type is
    uint8/uint16/float32 and nothing is appended or split; BigTIFF (no size limit, JSON
    description per page, the metadata in the first page's) otherwise.
    Each page is flushed to the operating system when written: after a crash the file reads
    up to its last complete page (an ImageJ stack's header count follows its pages: `LiveCount`).
    """

    def __init__(self, target: OutputPath, overwrite: bool, append: bool = False, bytes_per_file: int = 0,
                 metadata: dict[str, Any] | None = None, expected_frames: int | None = None,
                 imagej: bool | None = None):
        import tifffile

        self._tifffile = tifffile
        self.path = target.path
        self.frames = 0
        self.bytes_per_file = bytes_per_file
        self.overwrite = overwrite
        self.metadata = dict(metadata or {})
        self.expected_frames = expected_frames
        self._want_imagej = imagej  # None: decide from expected_frames; True: ImageJ (fails past 4 GB); False: BigTIFF
        self.imagej = False
        self._part = 0
        self._bytes = 0
        make_parent(self.path)
        self._append = append and os.path.exists(self.path) and not bytes_per_file
        if not self._append:
            _refuse_existing(self._name(0), overwrite)
        elif is_imagej(self.path):  # tifffile: "cannot append to file containing metadata", after the graph started
            raise InputError(no_appending(self.path))
        self._kept = first_page(self.path) if self._append else None  # the stack's frames: appended ones match
        self._part_begun = False  # a new part's first page: the metadata again, so each part decodes alone
        self._writer: Any = None
        self._display: DisplayRange | None = None  # a float32 ImageJ stack's display range, from its slices
        self._count: LiveCount | None = None  # an ImageJ stack's header count, written as pages come
        self._numbers = FrameNumbers()  # a camera's frame numbers, said in an ImageJ header where they leave gaps

    def _name(self, part: int) -> str:
        if not self.bytes_per_file:
            return self.path
        stem, suffix = os.path.splitext(self.path)
        return f"{stem}-{part:04d}{suffix}"

    def _open(self, frame: np.ndarray) -> None:
        """Choose the format once, from the first frame and the expected count."""
        expected = self.expected_frames
        fits = bool(expected and expected * frame.nbytes < CLASSIC_TIFF_LIMIT) or self._want_imagej is True
        self.imagej = bool(fits and self._want_imagej is not False and not self._append and not self.bytes_per_file
                           and frame.ndim == 2 and frame.dtype.name in IMAGEJ_DTYPES)
        self._writer, self._claim = claimed(self._name(0), lambda: self._tifffile.TiffWriter(
            self._name(0), bigtiff=not self.imagej, imagej=self.imagej, append=self._append))
        if self.imagej and frame.dtype == np.float32 and "scale_min" not in self.metadata:
            self._display = DisplayRange()

    def _write_page(self, frame: np.ndarray, meta: dict[str, Any]) -> None:
        if not self.imagej:
            header = self.metadata if self.frames == 0 or self._part_begun else None
            self._part_begun = False
            self._writer.write(frame, description=describe(meta, header), metadata=None, **tiff_resolution(self.metadata))
            return
        ij, resolution = imagej_metadata(self.metadata)
        room = self.frames == 0 and "frame_number" in meta  # a camera's frames: room in the header for their gaps
        self._writer.write(frame, contiguous=True, resolution=resolution,
                           metadata={**ij, "frame_numbers": " " * FrameNumbers.ROOM} if room else ij)
        if room:
            self._writer._metadata.pop("frame_numbers", None)
        if self._numbers.see(meta):  # tifffile's header text comes from these keys (LiveCount, close)
            self._numbers.apply(self._writer._metadata)
        if self._display is not None:
            self._display.see(frame)
        if self.frames == 0:
            # tifffile takes the axes of a streamed series from its first page (YX); the stack is ZYX
            # (slices, not channels), which its header rewritten at close then says
            self._writer._metadata["axes"] = "ZYX"
            self._count = LiveCount(self._writer, self._name(0))  # the header's count follows the pages

    def write(self, frame: np.ndarray, meta: dict[str, Any]) -> None:
        before: int | None = None  # the file's size before this page: set once the page is begun (only
        try:  # then is there a page to cut; a file this writer could not open is never touched)
            frame = conform(self.path, self.frames, frame, self._kept)  # the stack's (appended) frames match
            if self._writer is None:
                self._open(frame)
                self._kept = self._kept or (frame.shape, frame.dtype)
            if self.bytes_per_file and self._bytes and self._bytes + frame.nbytes > self.bytes_per_file:
                self._writer.close()
                self._part += 1
                self._bytes = 0
                _refuse_existing(self._name(self._part), self.overwrite)
                self._writer = self._tifffile.TiffWriter(self._name(self._part), bigtiff=True)
                self._part_begun = True
            name = self._name(self._part)
            before = os.path.getsize(name) if os.path.exists(name) else 0
            self._write_page(frame, meta)
            handle = getattr(self._writer, "_fh", None)
            if handle is not None:
                handle.flush()
            if self._count is not None:  # after the page's bytes: a killed stack claims no page it lacks
                self._count.update()
        except OSError as exc:
            error = disk_error(self._name(self._part), self.frames, exc)  # before the cut frees the space
            if before is not None:
                self._cut(before)
            raise error from exc
        except BaseException:  # Ctrl-C in the middle of a page (a camera grab writes in the main thread)
            if before is not None:
                self._cut(before)
            raise
        self._bytes += frame.nbytes
        self.frames += 1

    def _cut(self, size: int) -> None:
        """After a failed write: drop the incomplete page so the file ends with a complete one, and
        end the page chain at the last complete page (tifffile points the page before at the new
        page's IFD before it writes the pixels; left so, readers meet an empty or missing page)."""
        self._failed = size
        handle = getattr(self._writer, "_fh", None)
        try:
            if handle is not None:
                handle.flush()  # what the page left in the buffer goes now, not over the cut later
        except OSError:
            pass
        name = self._name(self._part)
        tiff = getattr(self._writer, "tiff", None)
        try:
            os.truncate(name, size)
            at = getattr(self._writer, "_ifdoffset", 0)
            if tiff is not None and 0 < at < size and not self.imagej:
                fd = os.open(name, os.O_WRONLY)
                try:
                    os.pwrite(fd, bytes(tiff.offsetsize), at)
                finally:
                    os.close(fd)
        except OSError:
            pass

    def close(self) -> None:
        try:
            if self._count is not None:
                self._count.close()
                self._numbers.apply(self._writer._metadata, final=True)  # tifffile's close writes them
            self._close()
        finally:
            self.release()

    def _close(self) -> None:
        if self._writer is None:
            return
        if getattr(self, "_failed", None) is not None:
            # tifffile's close would append the failed page's remains again: close the file only,
            # then cut off whatever its buffer still held
            handle = getattr(self._writer, "_fh", None)
            try:
                if handle is not None:
                    handle.close()
            except (OSError, ValueError):
                pass
            try:
                os.truncate(self._name(self._part), self._failed)
            except OSError:
                pass
            if self.imagej and self.frames > 1:
                imagej_count(self._name(self._part), self.frames)
            return
        shown = self._display.range() if self._display is not None else None
        if shown is not None:  # into the series' metadata, which tifffile writes into the header at close
            self._writer._metadata.update(min=shown[0], max=shown[1])
        try:
            self._writer.close()
        except OSError as exc:
            raise disk_error(self._name(self._part), self.frames, exc) from exc


class RawWriter(WriterBase):
    """Frames as consecutive bytes in one headerless file."""

    def __init__(self, target: OutputPath, overwrite: bool, append: bool = False):
        self.path = target.path
        self.frames = 0
        make_parent(self.path)
        append = append and os.path.exists(self.path)
        self._made = not os.path.exists(self.path)  # removed at close if no frame came
        self._kept: tuple[tuple[int, ...], Any] | None = None  # the first frame's shape and type: every frame's
        if not append:
            _refuse_existing(self.path, overwrite)
        try:
            flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
            self._fd, self._claim = claimed(self.path, lambda: os.open(self.path, flags, 0o644))
            self._size = os.fstat(self._fd).st_size  # the bytes of whole frames (checked at the first frame)
        except OSError as exc:
            raise InputError(f"cannot create '{self.path}': {exc}") from exc

    def write(self, frame: np.ndarray, meta: dict[str, Any]) -> None:
        if not frame.dtype.isnative:  # a headerless file is read in this machine's order ('>u2' read 256x)
            frame = frame.astype(frame.dtype.newbyteorder("="))
        frame = conform(self.path, self.frames, frame, self._kept)
        self._kept = self._kept or (frame.shape, frame.dtype)
        view = memoryview(np.ascontiguousarray(frame)).cast("B")
        try:
            if self.frames == 0 and self._size % len(view):  # every appended frame would be shifted
                whole = self._size - self._size % len(view)
                raise InputError(f"'{self.path}' holds {self._size} bytes, not a whole number of frames of {len(view)} "
                                 f"bytes (a write cut short, or frames of another size): appended frames would not "
                                 f"line up; write a new file, or cut this one to its whole frames ({whole} bytes)")
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError as exc:
            with contextlib.suppress(OSError):  # the file ends with its last whole frame
                os.ftruncate(self._fd, self._size)
            raise disk_error(self.path, self.frames, exc) from exc
        self._size += frame.nbytes
        self.frames += 1

    def close(self) -> None:
        try:
            os.close(self._fd)
            if self.frames == 0 and self._made:  # "nothing was written": no empty file left behind
                with contextlib.suppress(OSError):
                    os.unlink(self.path)
        finally:
            self.release()


def open_writer(path: str, overwrite: bool = False, start: int = 0, append: bool = False, layout: str = "auto",
                compression: str | None = None, bytes_per_file: int = 0, record_drops: bool = False,
                metadata: dict[str, Any] | None = None, step: int = 1,
                expected_frames: int | None = None, imagej: bool | None = None,
                zarr_format: int | None = None, exclusive: bool = True) -> FrameWriter:
    """A writer for `path`; the name decides the format (see `parse_output_path`).

    `append` adds frames to an existing BigTIFF, HDF5 dataset, Zarr array or raw file (a
    TIFF sequence continues at `start`), so work done in passes ends up in one file.
    `layout` (HDF5): plain, nxtomo, dxchange or nxdata (a NeXus NXdata of the frames, a reconstruction's:
    /entry/data/data, NXtomoproc's places, and nabu's: /entry/reconstruction/results/data, a hard link
    to it, with /entry/reconstruction/configuration); 'auto' means nxtomo for .nx/.nxs names.
    `compression`: HDF5 gzip/lzf, Zarr zstd/blosc/gzip. `bytes_per_file` splits BigTIFFs.
    `record_drops` (HDF5, Zarr, for camera frames): gaps in the frames' `frame_number` are frames the
    camera dropped; the file records how many (attribute `frames_dropped`) and which, at close.
    `metadata`: what the layers above know of the whole output (the integer scale, how it was
    made, the instrument), stored once per file (docs/conventions.md, "Output metadata"); plain
    JSON-able values, so storage needs nothing from the layers that made them.
    `step`: TIFF sequences number files start, start + step, ... `expected_frames`: the frames
    a stack will hold, if known; a stack under 4 GB is then written as a classic ImageJ TIFF, and a
    plain uncompressed HDF5 dataset is laid out whole and written past the GIL (`Hdf5VolumeWriter`).
    `imagej` True asks for a classic ImageJ stack whatever the count (writing fails past 4 GB),
    False for BigTIFF. `zarr_format` 2 writes Zarr v2 (for zarr-python 2 and napari's zarr 2
    reader), 3 v3; None: the existing store's format, v3 for a new store. `exclusive` False: a TIFF
    sequence other processes write parts of too (a cluster run's workers), not claimed.
    """
    target = parse_output_path(os.path.expanduser(path))
    if target.kind is FileKind.TIFF_SEQUENCE:
        return TiffSequenceWriter(target, overwrite, start, step, metadata, exclusive)
    if target.kind is FileKind.BIGTIFF:
        return BigTiffWriter(target, overwrite, append, bytes_per_file, metadata, expected_frames, imagej)
    if target.kind is FileKind.HDF5:
        if layout == "auto":
            layout = "nxtomo" if target.path.lower().endswith(NEXUS_SUFFIXES) else "plain"
        make_parent(target.path)
        if layout in ("plain", "nxdata") and compression in (None, "none") and not append and expected_frames \
                and expected_frames > 1:
            return Hdf5VolumeWriter(target.path, target.dataset, expected_frames, overwrite, record_drops, metadata, layout)
        return Hdf5Writer(target.path, target.dataset, overwrite, append, layout, compression,
                          record_drops=record_drops, metadata=metadata)
    if target.kind is FileKind.ZARR:
        return ZarrWriter(target.path, target.dataset, overwrite, append, compression, metadata, zarr_format, record_drops)
    return RawWriter(target, overwrite, append)
