"""Frame writers: TIFF sequences, BigTIFF stacks, HDF5 (ufo.storage.hdf5), Zarr and raw files.

Each writer refuses to replace existing data unless asked (`overwrite=True`), writes each
frame completely before the next and leaves a readable file when closed early (errors,
Ctrl-C). Metadata goes with the frames: JSON in the TIFF description, attributes in HDF5.
`open_writer` picks the writer by the path's format; what all writers share (`WriterBase`,
`disk_error`) is in ufo.storage.writer_base, below this module and the HDF5 and Zarr writers.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from ..core.errors import InputError
from ..core.frame import scalar_meta
from .formats import FileKind, OutputPath, parse_output_path
from .hdf5 import Hdf5Writer
from .writer_base import FrameWriter, WriterBase, disk_error, disk_full
from .zarr_store import ZarrWriter

__all__ = ["BigTiffWriter", "FrameWriter", "RawWriter", "TiffSequenceWriter", "WriterBase", "disk_error", "disk_full",
           "open_writer"]


def _refuse_existing(path: str, overwrite: bool) -> None:
    if os.path.exists(path) and not overwrite:
        raise InputError(f"'{path}' exists; refusing to overwrite it (use overwrite=true / --overwrite)")


def _make_parent(path: str) -> None:
    parent = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create directory '{parent}': {exc}") from exc


class TiffSequenceWriter(WriterBase):
    """One TIFF file per frame, named from a pattern (frame-%05i.tif).

    Each file is written under a temporary name and renamed when complete, so a crash never
    leaves a truncated frame-NNNNN.tif behind.
    """

    def __init__(self, target: OutputPath, overwrite: bool, start: int = 0):
        import tifffile

        self._imwrite = tifffile.imwrite
        self.target = target
        self.path = target.path
        self.overwrite = overwrite
        self.frames = 0
        self.start = start
        _make_parent(target.frame_path(start))
        _refuse_existing(target.frame_path(start), overwrite)

    def write(self, frame: np.ndarray, meta: dict[str, Any]) -> None:
        path = self.target.frame_path(self.start + self.frames)
        _refuse_existing(path, self.overwrite)
        partial = path + ".part"
        try:
            self._imwrite(partial, frame, description=json.dumps(scalar_meta(meta)), metadata=None)
            os.replace(partial, path)
        except OSError as exc:
            if os.path.exists(partial):
                os.remove(partial)
            raise disk_error(path, self.frames, exc) from exc
        self.frames += 1

    def close(self) -> None:
        pass


class BigTiffWriter(WriterBase):
    """All frames as pages of one BigTIFF file (no 4 GB limit), or of several of `bytes_per_file`.

    Each page is flushed to the operating system when written: after a crash the file reads
    up to its last complete page.
    """

    def __init__(self, target: OutputPath, overwrite: bool, append: bool = False, bytes_per_file: int = 0):
        import tifffile

        self._tifffile = tifffile
        self.path = target.path
        self.frames = 0
        self.bytes_per_file = bytes_per_file
        self.overwrite = overwrite
        self._part = 0
        self._bytes = 0
        _make_parent(self.path)
        append = append and os.path.exists(self.path) and not bytes_per_file
        if not append:
            _refuse_existing(self._name(0), overwrite)
        self._writer = tifffile.TiffWriter(self._name(0), bigtiff=True, append=append)

    def _name(self, part: int) -> str:
        if not self.bytes_per_file:
            return self.path
        stem, suffix = os.path.splitext(self.path)
        return f"{stem}-{part:04d}{suffix}"

    def write(self, frame: np.ndarray, meta: dict[str, Any]) -> None:
        try:
            if self.bytes_per_file and self._bytes and self._bytes + frame.nbytes > self.bytes_per_file:
                self._writer.close()
                self._part += 1
                self._bytes = 0
                _refuse_existing(self._name(self._part), self.overwrite)
                self._writer = self._tifffile.TiffWriter(self._name(self._part), bigtiff=True)
            name = self._name(self._part)
            before = os.path.getsize(name) if os.path.exists(name) else 0
            self._writer.write(frame, description=json.dumps(scalar_meta(meta)), metadata=None)
            handle = getattr(self._writer, "_fh", None)
            if handle is not None:
                handle.flush()
        except OSError as exc:
            self._cut(before)
            raise disk_error(self._name(self._part), self.frames, exc) from exc
        self._bytes += frame.nbytes
        self.frames += 1

    def _cut(self, size: int) -> None:
        """After a failed write: drop the incomplete page so the file ends with a complete one."""
        self._failed = True
        try:
            os.truncate(self._name(self._part), size)
        except OSError:
            pass

    def close(self) -> None:
        if getattr(self, "_failed", False):
            return  # closing would append the failed page's remains again
        try:
            self._writer.close()
        except OSError as exc:
            raise disk_error(self._name(self._part), self.frames, exc) from exc


class RawWriter(WriterBase):
    """Frames as consecutive bytes in one headerless file."""

    def __init__(self, target: OutputPath, overwrite: bool, append: bool = False):
        self.path = target.path
        self.frames = 0
        _make_parent(self.path)
        append = append and os.path.exists(self.path)
        if not append:
            _refuse_existing(self.path, overwrite)
        try:
            flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
            self._fd = os.open(self.path, flags, 0o644)
        except OSError as exc:
            raise InputError(f"cannot create '{self.path}': {exc}") from exc

    def write(self, frame: np.ndarray, meta: dict[str, Any]) -> None:
        view = memoryview(np.ascontiguousarray(frame)).cast("B")
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError as exc:
            raise disk_error(self.path, self.frames, exc) from exc
        self.frames += 1

    def close(self) -> None:
        os.close(self._fd)


def open_writer(path: str, overwrite: bool = False, start: int = 0, append: bool = False, layout: str = "auto",
                compression: str | None = None, bytes_per_file: int = 0, record_drops: bool = False) -> FrameWriter:
    """A writer for `path`; the name decides the format (see `parse_output_path`).

    `append` adds frames to an existing BigTIFF, HDF5 dataset, Zarr array or raw file (a
    TIFF sequence continues at `start`), so work done in passes ends up in one file.
    `layout` (HDF5): plain, nxtomo or dxchange; 'auto' means nxtomo for .nx/.nxs names.
    `compression`: HDF5 gzip/lzf, Zarr zstd/blosc/gzip. `bytes_per_file` splits BigTIFFs.
    `record_drops` (HDF5, for camera frames): gaps in the frames' `frame_number` are frames the
    camera dropped; the file records how many (attribute `frames_dropped`) and which, at close.
    """
    target = parse_output_path(os.path.expanduser(path))
    if target.kind is FileKind.TIFF_SEQUENCE:
        return TiffSequenceWriter(target, overwrite, start)
    if target.kind is FileKind.BIGTIFF:
        return BigTiffWriter(target, overwrite, append, bytes_per_file)
    if target.kind is FileKind.HDF5:
        if layout == "auto":
            layout = "nxtomo" if target.path.lower().endswith((".nx", ".nxs")) else "plain"
        _make_parent(target.path)
        return Hdf5Writer(target.path, target.dataset, overwrite, append, layout, compression,
                          record_drops=record_drops)
    if target.kind is FileKind.ZARR:
        return ZarrWriter(target.path, target.dataset, overwrite, append, compression)
    return RawWriter(target, overwrite, append)
