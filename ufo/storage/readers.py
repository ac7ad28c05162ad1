"""Frame sources over files: TIFF (single, multi-page, sequences), HDF5 datasets, raw.

A `FrameSource` knows how many frames there are and their shape before reading any pixel
data, so a graph is validated and preallocated up front, and reads each frame (or a band of
rows of it) straight into a caller's buffer.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from ..core.errors import InputError, UsageError
from .formats import HDF5_SUFFIXES, RAW_SUFFIXES, TIFF_SUFFIXES, ZARR_SUFFIXES, check_dataset, natural_key, split_dataset
from .hdf5_direct import DirectFrames
from .tiff_frames import TiffFrames


class FrameSource(Protocol):
    count: int
    shape: tuple[int, ...]
    dtype: np.dtype

    def read(self, index: int, rows: slice, out: np.ndarray | None) -> np.ndarray: ...

    def label(self, index: int) -> str: ...

    def meta(self, index: int) -> dict[str, Any]: ...

    def close(self) -> None: ...


def _find_files(path: str, suffixes: Sequence[str]) -> list[str]:
    if any(c in path for c in "*?["):
        files = [f for f in glob.glob(os.path.expanduser(path)) if os.path.isfile(f)]
        if not files:
            raise InputError(f"no files match '{path}'")
    elif os.path.isdir(path):
        files = [os.path.join(path, f) for f in os.listdir(path) if f.lower().endswith(tuple(suffixes))]
        if not files:
            raise InputError(f"directory '{path}' holds no {'/'.join(suffixes)} files")
    elif os.path.exists(path):
        files = [path]
    else:
        raise InputError(f"'{path}' does not exist")
    return sorted(files, key=natural_key)


def _rows(rows: slice, height: int) -> slice:
    return slice(*rows.indices(height))


def find_dataset(h5file: Any, filename: str) -> str:
    """The frames' dataset when the path names none: the one image stack in the file."""
    import h5py

    for known in ("/entry/instrument/detector/data", "/entry/data/data", "/exchange/data"):
        if known in h5file and isinstance(h5file[known], h5py.Dataset):
            return known
    found: list[str] = []
    h5file.visititems(lambda name, obj: found.append("/" + name) if isinstance(obj, h5py.Dataset) and obj.ndim >= 2 else None)
    if len(found) == 1:
        return found[0]
    if not found:
        raise InputError(f"HDF5 file '{filename}' holds no image dataset (2 or more dimensions)")
    raise UsageError(f"HDF5 file '{filename}' holds several image datasets; name one: {filename}:{found[0]} "
                     f"(candidates: {', '.join(found)})")


def _names_layout_data(h5file: Any, dataset: str) -> bool:
    """Whether `dataset` is an NXtomo's frames dataset: its image_key and angles then hold for it,
    so that its darks and flats are not read as projections."""
    from .layouts import detect

    try:
        index = detect(h5file)
        if index is None or index.layout != "nxtomo" or not index.locations or dataset not in h5file:
            return False
        return bool(h5file[dataset] == h5file[index.locations[0][0]])
    except Exception:  # noqa: BLE001 - no layout to be sure of (odd groups, broken links): a dataset of its own
        return False


def _load_filters() -> None:
    """Register the compression filters of hdf5plugin (Blosc, Bitshuffle-LZ4 as Dectris detectors
    write, LZ4, Zstd, ...) where it is installed; HDF5 alone knows gzip, szip and shuffle."""
    try:
        import hdf5plugin  # noqa: F401
    except ImportError:
        pass


def _check_image_dataset(node: Any, filename: str, name: str) -> None:
    """InputError unless `node` is a numeric HDF5 dataset (not a group, a link target or strings)."""
    import h5py

    if isinstance(node, h5py.Group):
        inside = [f"{key}" for key in list(node.keys())[:8]]
        holds = f" (it holds: {', '.join(inside)})" if inside else " (it is empty)"
        raise InputError(f"'{filename}:{name}' is an HDF5 group, not a dataset{holds}; name a dataset of frames")
    if not isinstance(node, h5py.Dataset):
        raise InputError(f"'{filename}:{name}' is not an HDF5 dataset ({type(node).__name__})")
    if node.shape is None or node.ndim < 2:
        ndim = 0 if node.shape is None else node.ndim
        raise InputError(f"'{filename}:{name}' has {ndim} dimension(s) (a scalar or a list); frames need 2 or more")
    kind = node.dtype.kind
    if kind not in "biuf":
        what = {"S": "byte strings", "U": "strings", "O": "strings or objects", "V": "compound records",
                "c": "complex numbers"}.get(kind, f"values of type {node.dtype}")
        raise InputError(f"'{filename}:{name}' holds {what}, not image data (integers or floats)")


class Hdf5Frames:
    """Frames of an HDF5 file: along the first axis of a dataset, or as an NXtomo/DXchange layout says.

    For layouts every frame carries its `image_key` (0 projection, 1 flat, 2 dark) and
    `angle` (radians); `image_key` selects one kind of frame.
    """

    def __init__(self, filename: str, dataset: str | None, image_key: int | None = None):
        import h5py

        from .layouts import detect

        _load_filters()
        self.warnings: list[str] = []
        self._fd: int | None = None  # the file for positioned reads of uncompressed frames (hdf5_direct)
        self._direct: dict[str, DirectFrames | None] = {}
        self._settled = True  # False while a writer may still change the file: h5py only
        try:
            self._file = h5py.File(filename, "r", locking=False)
        except Exception as exc:
            if "already open for write" not in str(exc):
                raise InputError(f"cannot open HDF5 file '{filename}': {exc}") from exc
            # a writer in SWMR mode that never closed the file (still writing, or killed): SWMR reading works
            self._file = h5py.File(filename, "r", locking=False, swmr=True)
            self._settled = False
            self.warnings.append(f"'{filename}' was not closed by its writer (still open or crashed); "
                                 "reading the frames it had flushed")
        self.filename = filename
        self.layout = None
        try:
            if dataset is None:
                index = detect(self._file)
            elif not _names_layout_data(self._file, dataset):
                index = None  # a dataset of its own: read as it is
            else:
                index = detect(self._file)
            if index is not None:
                self.warnings += index.notes
                self.layout = index.layout
                keep = [i for i, k in enumerate(index.image_keys) if image_key is None or k == image_key]
                self._locations = [index.locations[i] for i in keep]
                self._keys = [index.image_keys[i] for i in keep]
                self._angles = [index.angles[i] for i in keep]
                first = self._file[index.locations[0][0]] if index.locations else None
                if first is None:
                    raise InputError(f"'{filename}' ({index.layout}) holds no frames")
                self.name = first.name
                self._dset = first
            else:
                if image_key is not None:
                    raise UsageError(f"image-key selects frames of NXtomo or DXchange files; '{filename}' is neither")
                self.name = dataset or find_dataset(self._file, filename)
                if self.name not in self._file:
                    raise InputError(f"HDF5 file '{filename}' has no dataset '{self.name}'")
                self._dset = self._file[self.name]
                self._locations = None  # type: ignore[assignment]
                _check_image_dataset(self._dset, filename, self.name)
        except Exception:
            self._file.close()
            raise
        if self._dset.ndim < 2:
            self._file.close()
            raise InputError(f"'{filename}:{self.name}' has {self._dset.ndim} dimension(s); frames need 2 or more")
        self._single = self._dset.ndim == 2 and self._locations is None
        self.shape = tuple(self._dset.shape if self._single else self._dset.shape[1:])
        if self._locations is not None:
            self.count = len(self._locations)
        else:
            self.count = 1 if self._single else self._dset.shape[0]
        self.dtype = np.dtype(self._dset.dtype)

    def label(self, index: int) -> str:
        if self._locations is not None:
            name, at = self._locations[index]
            return f"{self.filename}:{name}[{at}]"
        return f"{self.filename}:{self.name}[{index}]"

    def meta(self, index: int) -> dict[str, Any]:
        if self._locations is None:
            return {}
        meta: dict[str, Any] = {"image_key": self._keys[index]}
        if self._angles[index] is not None:
            meta["angle"] = self._angles[index]
        return meta

    @property
    def angles(self) -> list[float | None]:
        return list(self._angles) if self._locations is not None else []

    def _direct_reader(self, dset: Any) -> DirectFrames | None:
        """The positioned-read path of `dset` (made once per dataset), None where h5py must read."""
        if not self._settled or os.path.realpath(dset.file.filename) != os.path.realpath(self.filename):
            return None  # reached through an external link: its offsets are in another file; h5py reads it
        if dset.name not in self._direct:
            if self._fd is None:
                self._fd = os.open(self.filename, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            self._direct[dset.name] = DirectFrames.open(dset, self._fd)
        return self._direct[dset.name]

    def read(self, index: int, rows: slice, out: np.ndarray | None) -> np.ndarray:
        if self._locations is not None:
            name, at = self._locations[index]
            dset, selection, frame = self._file[name], (at, rows), at
        else:
            dset, selection = self._dset, ((rows,) if self._single else (index, rows))
            frame = 0 if self._single else index
        direct = self._direct_reader(dset)
        if direct is not None:  # one positioned read instead of HDF5 reading the whole chunk
            count = len(range(*rows.indices(direct.height)))
            target = out if out is not None and out.dtype == self.dtype else np.empty((count, direct.width), self.dtype)
            if direct.read(frame, rows, target):
                if target is not out and out is not None:
                    np.copyto(out, target, casting="unsafe")
                    return out
                return target
        try:
            if out is not None and out.dtype == self.dtype:
                dset.read_direct(out, source_sel=selection)
                return out
            data = dset[selection]
        except Exception as exc:
            hint = ("; its compression filter is not available: pip install hdf5plugin"
                    if "filter" in str(exc) or "plugin" in str(exc) else "")
            raise InputError(f"cannot read {self.label(index)}: {exc}{hint}") from exc
        if out is None:
            return data  # type: ignore[no-any-return]
        np.copyto(out, data, casting="unsafe")
        return out

    def read_run(self, index: int, outs: list[np.ndarray]) -> int:
        """Whole frames from `index` on into `outs` with one positioned read, as many as follow each
        other in the file (`DirectFrames.read_run`); 0 where they must be read one by one (`read`)."""
        dset, frame, n = self._frames_of_one_dataset(index, len(outs))
        direct = self._direct_reader(dset) if n else None
        return direct.read_run(frame, outs[:n]) if direct is not None else 0

    def read_bands(self, index: int, rows: slice, out: np.ndarray) -> int:
        """Rows `rows` of frames from `index` on into `out` (frames x rows x width) with one copy,
        as many as lie at one stride in one dataset (`DirectFrames.read_bands`); 0 where they
        must be read one by one (`read`)."""
        dset, frame, n = self._frames_of_one_dataset(index, len(out))
        direct = self._direct_reader(dset) if n else None
        return direct.read_bands(frame, rows, out[:n]) if direct is not None else 0

    def _frames_of_one_dataset(self, index: int, limit: int) -> tuple[Any, int, int]:
        """(dataset, frame in it, n): up to `limit` frames from `index` on that follow each other in
        one dataset (an NXtomo's darks, flats and projections each are; n 0 for a single 2-D frame)."""
        if self._locations is not None:
            name, at = self._locations[index]
            n = 1
            while n < limit and index + n < len(self._locations) and tuple(self._locations[index + n]) == (name, at + n):
                n += 1
            return self._file[name], at, n
        if self._single:
            return self._dset, 0, 0
        return self._dset, index, min(limit, self.count - index)

    def close(self) -> None:
        for direct in self._direct.values():
            if direct is not None:
                direct.close()
        self._file.close()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class RawFrames:
    """Headerless frames of a known width, height and type, one file or several."""

    def __init__(self, files: list[str], width: int, height: int, dtype: Any, offset: int = 0):
        self.files = files
        if width < 1 or height < 1 or offset < 0:
            raise UsageError(f"raw frames need raw-width and raw-height >= 1 and raw-offset >= 0, "
                             f"got {width}, {height} and {offset}")
        self.shape = (height, width)
        try:
            self.dtype = np.dtype(dtype)
        except TypeError as err:
            raise UsageError(f"raw-dtype '{dtype}' is not a numpy type (e.g. uint16, float32)") from err
        self.offset = offset
        self.frame_bytes = width * height * self.dtype.itemsize
        self.locations: list[tuple[str, int]] = []
        self.partial: list[str] = []
        for f in files:
            size = os.path.getsize(f) - offset
            n, rest = divmod(max(size, 0), self.frame_bytes)
            if rest:
                self.partial.append(f)
            self.locations.extend((f, offset + i * self.frame_bytes) for i in range(n))
        self.count = len(self.locations)
        if not self.count:
            sizes = ", ".join(f"'{f}' {os.path.getsize(f)} bytes" for f in files[:3])
            raise InputError(f"raw data holds no complete {width}x{height} {self.dtype} frame ({self.frame_bytes} bytes "
                             f"after an offset of {offset}): {sizes}{' ...' if len(files) > 3 else ''}; "
                             "check raw-width, raw-height, raw-dtype and raw-offset")
        self.warnings = [f"raw file '{f}' ends with an incomplete frame (size not a multiple of {self.frame_bytes} "
                         "bytes); it was skipped" for f in self.partial[:3]]
        self._fd: tuple[str, int] | None = None

    def meta(self, index: int) -> dict[str, Any]:
        return {}

    def label(self, index: int) -> str:
        file, at = self.locations[index]
        return f"{file}@{at}"

    def read(self, index: int, rows: slice, out: np.ndarray | None) -> np.ndarray:
        file, at = self.locations[index]
        if self._fd is None or self._fd[0] != file:
            self.close()
            try:
                self._fd = (file, os.open(file, os.O_RDONLY))
            except OSError as exc:
                raise InputError(f"cannot open raw file '{file}': {exc}") from exc
        full = rows == slice(None)
        target = out if (full and out is not None and out.dtype == self.dtype) else np.empty(self.shape, self.dtype)
        got = os.preadv(self._fd[1], [memoryview(target).cast("B")], at)
        if got != self.frame_bytes:
            raise InputError(f"raw file '{file}' ended inside frame {index} (truncated?)")
        if target is out:
            return out
        data = target[rows]
        if out is None:
            return data
        np.copyto(out, data, casting="unsafe")
        return out

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd[1])
            self._fd = None


def open_source(path: str, raw_width: int | None = None, raw_height: int | None = None,
                raw_dtype: str = "uint16", raw_offset: int = 0, image_key: int | None = None) -> FrameSource:
    """Open what `path` names: a TIFF or raw file, a glob, a directory, `file.h5:/dataset`
    (NXtomo and DXchange files are recognised) or `store.zarr:/array`."""
    path = os.path.expanduser(path)
    file, dataset = split_dataset(path)
    dataset = check_dataset(file, dataset)  # 'st.zarr:/../elsewhere' stays refused
    if file.lower().endswith(HDF5_SUFFIXES):
        if not os.path.exists(file):
            raise InputError(f"HDF5 file '{file}' does not exist")
        return Hdf5Frames(file, dataset, image_key)
    if file.lower().rstrip("/").endswith(ZARR_SUFFIXES):
        if not os.path.exists(file):
            raise InputError(f"Zarr store '{file}' does not exist")
        from .zarr_store import ZarrFrames

        return ZarrFrames(file, dataset)
    if image_key is not None:
        raise UsageError("image-key selects frames of NXtomo or DXchange files (HDF5)")
    raw = raw_width is not None or file.lower().endswith(RAW_SUFFIXES)
    files = _find_files(path, RAW_SUFFIXES if raw else TIFF_SUFFIXES)
    if raw:
        if raw_width is None or raw_height is None:
            raise UsageError(f"reading raw data from '{path}' needs raw-width and raw-height (and raw-dtype, raw-offset)")
        return RawFrames(files, raw_width, raw_height, raw_dtype, raw_offset)
    others = [f for f in files if not f.lower().endswith(TIFF_SUFFIXES)]
    if others:
        raise InputError(
            f"'{path}' matches files that are not TIFF ({os.path.basename(others[0])}); narrow the pattern, e.g. '*.tif'"
        )
    return TiffFrames(files)
