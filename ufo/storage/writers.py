"""Frame writers: TIFF sequences, BigTIFF stacks, HDF5 datasets and raw files.

Each writer refuses to replace existing data unless asked (`overwrite=True`), writes each
frame completely before the next and leaves a readable file when closed early (errors,
Ctrl-C). Metadata goes with the frames: JSON in the TIFF description, attributes in HDF5.
"""

from __future__ import annotations

import json
import os
from typing import Any, Protocol

import numpy as np

from ..core.errors import InputError
from .formats import FileKind, OutputPath, parse_output_path


class FrameWriter(Protocol):
    path: str
    frames: int

    def write(self, frame: np.ndarray, meta: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


def _jsonable(meta: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in meta.items():
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, (str, int, float, bool)) or value is None:
            out[key] = value
    return out


def _refuse_existing(path: str, overwrite: bool) -> None:
    if os.path.exists(path) and not overwrite:
        raise InputError(f"'{path}' exists; refusing to overwrite it (use overwrite=true / --overwrite)")


def _make_parent(path: str) -> None:
    parent = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create directory '{parent}': {exc}") from None


class TiffSequenceWriter:
    """One TIFF file per frame, named from a pattern (frame-%05i.tif)."""

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
        self._imwrite(path, frame, description=json.dumps(_jsonable(meta)), metadata=None)
        self.frames += 1

    def close(self) -> None:
        pass


class BigTiffWriter:
    """All frames as pages of one BigTIFF file (no 4 GB limit)."""

    def __init__(self, target: OutputPath, overwrite: bool, append: bool = False):
        import tifffile

        self.path = target.path
        self.frames = 0
        _make_parent(self.path)
        append = append and os.path.exists(self.path)
        if not append:
            _refuse_existing(self.path, overwrite)
        self._writer = tifffile.TiffWriter(self.path, bigtiff=True, append=append)

    def write(self, frame: np.ndarray, meta: dict[str, Any]) -> None:
        self._writer.write(frame, description=json.dumps(_jsonable(meta)), metadata=None)
        self.frames += 1

    def close(self) -> None:
        self._writer.close()


class Hdf5Writer:
    """Frames appended along the first axis of a chunked HDF5 dataset (one chunk per frame)."""

    def __init__(self, target: OutputPath, overwrite: bool, append: bool = False):
        import h5py

        self.path = target.path
        self.dataset = target.dataset or "/data"
        self.frames = 0
        _make_parent(self.path)
        try:
            self._file = h5py.File(self.path, "a", locking=False)
        except Exception as exc:
            raise InputError(f"cannot open HDF5 file '{self.path}' for writing: {exc}") from None
        self._dset: Any = None
        self._meta: dict[str, list[Any]] = {}
        if self.dataset in self._file:
            if append:
                self._dset = self._file[self.dataset]
                self.frames = self._dset.shape[0]
            elif not overwrite:
                self._file.close()
                raise InputError(f"'{self.path}:{self.dataset}' exists; refusing to overwrite it (use overwrite=true)")
            else:
                del self._file[self.dataset]
        self._first = self.frames

    def write(self, frame: np.ndarray, meta: dict[str, Any]) -> None:
        if self._dset is None:
            self._dset = self._file.create_dataset(
                self.dataset, shape=(0, *frame.shape), maxshape=(None, *frame.shape),
                chunks=(1, *frame.shape), dtype=frame.dtype,
            )
        elif frame.shape != self._dset.shape[1:]:
            raise InputError(f"frame {self.frames} has shape {frame.shape}, the dataset {self._dset.shape[1:]}")
        self._dset.resize(self.frames + 1, axis=0)
        self._dset[self.frames] = frame
        for key, value in _jsonable(meta).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self._meta.setdefault(key, []).append(value)
        self.frames += 1

    def close(self) -> None:
        if self._dset is not None:
            # per-frame numbers (index, angle, image_key, ...) as datasets beside the frames
            for key, values in self._meta.items():
                if len(values) != self.frames - self._first:
                    continue
                name = f"{self.dataset}_{key}"
                if name in self._file and self._first and self._file[name].shape == (self._first,):
                    values = list(self._file[name][:]) + values  # appending: keep the earlier frames' values
                if name in self._file:
                    del self._file[name]
                self._file.create_dataset(name, data=np.asarray(values))
        self._file.close()


class RawWriter:
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
            raise InputError(f"cannot create '{self.path}': {exc}") from None

    def write(self, frame: np.ndarray, meta: dict[str, Any]) -> None:
        view = memoryview(np.ascontiguousarray(frame)).cast("B")
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self.frames += 1

    def close(self) -> None:
        os.close(self._fd)


def open_writer(path: str, overwrite: bool = False, start: int = 0, append: bool = False) -> FrameWriter:
    """A writer for `path`; the name decides the format (see `parse_output_path`).

    `append` adds frames to an existing BigTIFF, HDF5 dataset or raw file (a TIFF sequence
    continues at `start`), so work done in passes ends up in one file.
    """
    target = parse_output_path(os.path.expanduser(path))
    if target.kind is FileKind.TIFF_SEQUENCE:
        return TiffSequenceWriter(target, overwrite, start)
    if target.kind is FileKind.BIGTIFF:
        return BigTiffWriter(target, overwrite, append)
    if target.kind is FileKind.HDF5:
        return Hdf5Writer(target, overwrite, append)
    return RawWriter(target, overwrite, append)
