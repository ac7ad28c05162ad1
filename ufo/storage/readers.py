"""Frame sources over files: TIFF (single, multi-page, sequences), EDF, HDF5 datasets, Zarr, raw.

A `FrameSource` knows how many frames there are and their shape before reading any pixel
data, so a graph is validated and preallocated up front, and reads each frame (or a band of
rows of it) straight into a caller's buffer.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from ..core.errors import InputError, MissingInput, UsageError
from .formats import (
    EDF_SUFFIXES,
    HDF5_SUFFIXES,
    RAW_SUFFIXES,
    TIFF_SUFFIXES,
    ZARR_SUFFIXES,
    check_dataset,
    natural_key,
    split_dataset,
)
from .hdf5_frames import Hdf5Frames, find_dataset  # noqa: F401 - re-exported
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
            raise MissingInput(f"no files match '{path}'")
    elif os.path.isdir(path):
        files = [os.path.join(path, f) for f in os.listdir(path)  # no hidden files: '._proj_0000.tif' of macOS
                 if f.lower().endswith(tuple(suffixes)) and not f.startswith(".")]
        if not files:
            raise MissingInput(f"directory '{path}' holds no {'/'.join(suffixes)} files{_what_is_there(path)}")
    elif os.path.exists(path):
        files = [path]
    else:
        raise UsageError(f"'{path}' does not exist" if path else "no input path given")  # a path to fix: exit 2
    return sorted(files, key=natural_key)


def _what_is_there(path: str) -> str:
    """What a folder without frame files holds (subfolders, HDF5 files), to name in the error: a
    scan of subfolders or .h5 files was answered only with the suffixes looked for."""
    entries = sorted(os.listdir(path))
    folders = [e + "/" for e in entries if os.path.isdir(os.path.join(path, e))]
    files = [e for e in entries if e.lower().endswith((".h5", ".hdf5", ".nx", ".nxs", ".zarr"))]
    shown = (folders + files)[:8]
    if not shown:
        return ""
    more = ", ..." if len(folders) + len(files) > 8 else ""
    return (f"; it holds {', '.join(shown)}{more}: name a folder or file of frames (or for `ufo reco`, the parts: "
            "--projections, --darks, --flats)")


def _rows(rows: slice, height: int) -> slice:
    return slice(*rows.indices(height))


class RawFrames:
    """Headerless frames of a known width, height and type, one file or several."""

    def __init__(self, files: list[str], width: int, height: int, dtype: Any, offset: int = 0):
        self.files = files
        if width < 1 or height < 1 or offset < 0:
            raise UsageError(f"raw frames need raw-width and raw-height >= 1 and raw-offset >= 0, "
                             f"got {width}, {height} and {offset}")
        self.shape = (height, width)
        try:
            self._stored = np.dtype(dtype)  # '>u2': big-endian, as ImageJ saves raw data by default
        except TypeError as err:
            raise UsageError(f"raw-dtype '{dtype}' is not a numpy type (e.g. uint16, float32, >u2)") from err
        self.dtype = self._stored.newbyteorder("=")  # the frames as read: in this machine's order
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
        target = out if (full and out is not None and out.dtype == self._stored) else np.empty(self.shape, self._stored)
        got = os.preadv(self._fd[1], [memoryview(target).cast("B")], at)
        if got != self.frame_bytes:
            raise InputError(f"raw file '{file}' ended inside frame {index} (truncated?)")
        if target is out:
            return out
        data = target[rows]
        if out is None:
            return data if self._stored.isnative else data.astype(self.dtype)
        np.copyto(out, data, casting="unsafe")
        return out

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd[1])
            self._fd = None


def open_source(path: str, raw_width: int | None = None, raw_height: int | None = None,
                raw_dtype: str = "uint16", raw_offset: int = 0, image_key: int | None = None,
                image_key_run: int | None = None, decode: bool = True) -> FrameSource:
    """Open what `path` names: a TIFF, EDF or raw file, a glob, a directory, `file.h5:/dataset`
    (NXtomo, DXchange and ALS 8.3.2 files and SLS TOMCAT sequences beside their log are
    recognised: `image_key` selects a kind of frame, `image_key_run` one run of them) or
    `store.zarr:/array`. 8/16-bit frames that record the values they stand for (ufo's outputs)
    are read as those values unless `decode` is off (ufo.storage.scaled_frames)."""
    source = _open_source(path, raw_width, raw_height, raw_dtype, raw_offset, image_key, image_key_run)
    if (attributes := getattr(source, "stored_attributes", None)) is not None:  # HDF5, Zarr: a cut volume said
        from .cut_marks import cut_note

        if (note := cut_note(attributes(), path, source.count)) is not None:
            source.warnings.append(note)
    if not decode or isinstance(source, RawFrames):
        return source
    from .scaled_frames import decoded_where_scaled

    return decoded_where_scaled(source)  # type: ignore[no-any-return]


def _open_source(path: str, raw_width: int | None, raw_height: int | None, raw_dtype: str, raw_offset: int,
                 image_key: int | None, image_key_run: int | None) -> FrameSource:
    path = os.path.expanduser(path)
    file, dataset = split_dataset(path)
    dataset = check_dataset(file, dataset)  # 'st.zarr:/../elsewhere' stays refused
    if file.lower().endswith(HDF5_SUFFIXES):
        if not os.path.exists(file):
            raise UsageError(f"HDF5 file '{file}' does not exist")
        return Hdf5Frames(file, dataset, image_key, image_key_run)
    if file.lower().rstrip("/").endswith(ZARR_SUFFIXES):
        if not os.path.exists(file):
            raise UsageError(f"Zarr store '{file}' does not exist")
        from .zarr_frames import ZarrFrames

        return ZarrFrames(file, dataset)
    raw = raw_width is not None or file.lower().endswith(RAW_SUFFIXES)
    if not raw:
        from .tomcat import open_tomcat

        tomcat = open_tomcat(path, image_key, image_key_run)  # SLS TOMCAT: a sequence of darks, flats, projections
        if tomcat is not None:
            return tomcat
    if image_key is not None or image_key_run is not None:
        raise UsageError("image-key selects frames of NXtomo, DXchange, ALS 8.3.2 and TOMCAT scans")
    files = _find_files(path, RAW_SUFFIXES if raw else TIFF_SUFFIXES + EDF_SUFFIXES)
    if raw:
        if raw_width is None or raw_height is None:
            raise UsageError(f"reading raw data from '{path}' needs raw-width and raw-height (and raw-dtype, raw-offset)")
        return RawFrames(files, raw_width, raw_height, raw_dtype, raw_offset)
    edf = [f for f in files if f.lower().endswith(EDF_SUFFIXES)]
    if edf:
        if len(edf) < len(files):
            other = next(f for f in files if not f.lower().endswith(EDF_SUFFIXES))
            raise InputError(f"'{path}' matches EDF files and others ({os.path.basename(other)}); narrow the "
                             "pattern, e.g. '*.edf'")
        from .edf import EdfFrames
        from .esrf_scan import info_file

        frames = EdfFrames(files)
        info = info_file(path)
        if info is not None:
            frames.warnings.append(f"'{path}' is an ESRF scan folder: all its EDF files are read (projections, "
                                   f"flats, darks); `ufo reco --projections {path}` takes them apart, and "
                                   f"'{info[:-len('.info')]}[0-9]*.edf' names the projections")
        return frames
    others = [f for f in files if not f.lower().endswith(TIFF_SUFFIXES)]
    if others == [path] and not os.path.isdir(path):  # one file named, no pattern: '/dev/zero', 'scan.dat'
        raise InputError(f"'{path}' is not a file ufo reads as frames (TIFF, EDF, HDF5/NeXus, Zarr; raw with "
                         "raw-width and raw-height)")
    if others:
        raise InputError(
            f"'{path}' matches files that are neither TIFF nor EDF ({os.path.basename(others[0])}); narrow the "
            "pattern, e.g. '*.tif'"
        )
    frames = TiffFrames(files)
    from .tomcat import part_of_scan

    for note in (sequence_gap(files), several_series(path, files), part_of_scan(path, files), _rgb_stack(frames)):
        if note is not None:
            frames.warnings.append(note)
    from .tiff_signed import signed_where_calibrated

    return signed_where_calibrated(frames)  # type: ignore[no-any-return]


def name_series(files: Sequence[str]) -> dict[tuple[str, str, str], list[int]] | None:
    """The files' numbers by series (folder, text before the number, text after it): a folder of
    proj_0001.tif ... and dark_0001.tif ... is two series; None where a name holds no number."""
    numbered: dict[tuple[str, str, str], list[int]] = {}
    for path in files:
        match = re.fullmatch(r"(.*?)(\d+)(\D*)", os.path.basename(path))
        if match is None:
            return None
        numbered.setdefault((os.path.dirname(path), match.group(1), match.group(3)), []).append(int(match.group(2)))
    return numbered


def several_series(path: str, files: Sequence[str]) -> str | None:
    """A note where a folder or glob's files are several numbered series (proj_N.tif, dark_N.tif):
    read as one stream in name order, darks and flats went in among the projections, said
    nowhere (`ufo reco` takes them apart by name)."""
    numbered = name_series(files) or {}
    if len(numbered) < 2:
        return None
    shown = ", ".join(f"{prefix}N{suffix} ({len(numbers)})" for (_, prefix, suffix), numbers in list(numbered.items())[:4])
    (folder, prefix, suffix), _ = max(numbered.items(), key=lambda item: len(item[1]))
    return (f"'{path}' holds {len(numbered)} series of files ({shown}{', ...' if len(numbered) > 4 else ''}): all read "
            f"as one stream in name order; name one alone, e.g. '{os.path.join(folder, prefix + '*' + suffix)}'")


def sequence_gap(files: Sequence[str]) -> str | None:
    """A note where numbered files (frame_000001.tif, ...) miss numbers between their first and last:
    a frame lost in a copy or a transfer shifts every later projection's angle (the angles of a
    sequence are evenly spaced by its count)."""
    numbered = name_series(files)
    if numbered is None or len(numbered) != 1:  # several series (darks and projections in one glob): not one sequence
        return None
    (folder, prefix, suffix), numbers = next(iter(numbered.items()))
    first, last = min(numbers), max(numbers)
    missing = sorted(set(range(first, last + 1)) - set(numbers))
    if not missing or len(numbers) < 2:
        return None
    shown = ", ".join(str(n) for n in missing[:5]) + (", ..." if len(missing) > 5 else "")
    return (f"'{folder or '.'}/{prefix}N{suffix}': {len(missing)} number(s) missing between {first} and {last} "
            f"({shown}); read as {len(numbers)} consecutive frames (a reconstruction spaces their angles evenly by "
            "that count: restore the missing files)")


def _rgb_stack(frames: TiffFrames) -> str | None:
    """What a first TIFF file holds that its pages read one after the other do not say: a page of 3
    or 4 samples not written by ufo (how `tifffile.imwrite` stores a stack of 3 or 4 frames: `read
    ! write` made a (1, 4, H, W) volume), an ImageJ hyperstack's channels (read interleaved: 2
    channels of 30 time points as 60 projections), an OME-TIFF's several series (its flats read as
    projections). Read as before, said."""
    if len(frames.shape) == 2 and frames.count == len(frames.files):  # pages of one frame each: none of those
        return None
    import tifffile

    try:
        with tifffile.TiffFile(frames.files[0]) as tif:
            page, said = tif.pages[0], tif.pages[0].description or ""
            channels = int((tif.imagej_metadata or {}).get("channels") or 1) if tif.is_imagej else 1
            series = [(s.name or f"series {i}", len(s.pages)) for i, s in enumerate(tif.series)] if tif.is_ome else []
    except Exception:  # noqa: BLE001 - nothing to say then
        return None
    name = frames.files[0]
    if channels > 1:
        return (f"'{name}' is an ImageJ hyperstack of {channels} channels: its pages are read as one stream, the "
                "channels interleaved; split them first (Fiji: Image > Color > Split Channels)")
    if len(series) > 1:
        shown = ", ".join(f"{n} ({c} page(s))" for n, c in series[:4])
        return (f"'{name}' holds {len(series)} OME series ({shown}): read as one stream of all their pages; save "
                "each series in a file of its own")
    if len(frames.shape) != 3 or not {frames.shape[0], frames.shape[-1]} & {3, 4}:
        return None
    if page.photometric != tifffile.PHOTOMETRIC.RGB or said and not said.startswith('{"shape":'):
        return None  # ufo's own stacks of frames carry their metadata ('{"index": 0}'), tifffile's its shape
    return (f"'{name}' holds pages of {frames.shape} as RGB samples: tifffile.imwrite stores a stack "
            f"of 3 or 4 frames so; read as frames of shape {frames.shape} (to have them as 2-D frames, write them "
            "with photometric='minisblack')")
