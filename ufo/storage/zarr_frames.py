"""Zarr arrays read frame by frame: ufo's own (a chunk missing within the shape is a frame never
stored: the reader stops there) and other tools' (a missing chunk is frames of the fill value).
The writer is `ufo.storage.zarr_store`."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..core.errors import InputError, UsageError
from .formats import FRAME_PLACES, RANGES_WRITTEN
from .hdf5_blocks import FrameBlocks
from .imagej import frame_numbers_of
from .zarr_codecs import _zarr

#: attribute of the arrays ufo's writer makes: their shape counts the frames written, each chunk
#: stored before its frame counts, so a chunk missing within the shape is a frame never stored
OWN_ARRAY = "ufo_shape_counts_frames_written"


def _image_array(group: Any, path: str) -> Any:
    """The frames' array of a group, at any depth: a known place, else the one array of 2 or more
    dimensions; with several, the error names them, largest first."""
    arrays = {name: a for name, a in group.members(max_depth=None) if hasattr(a, "dtype") and a.ndim >= 2}
    for name in (*FRAME_PLACES, "data"):
        if name in arrays:
            return arrays[name]
    if len(arrays) == 1:
        return next(iter(arrays.values()))
    if not arrays:
        raise InputError(f"Zarr store '{path}' holds no image array (2 or more dimensions)")
    names = sorted(arrays, key=lambda n: -arrays[n].size)
    raise UsageError(f"Zarr store '{path}' holds several image arrays; name one: {path}:/{names[0]} "
                     f"(candidates, largest first: {', '.join(names)})")


def _named_array(root: Any, path: str, name: str) -> Any:
    """The array `name` of the store at `path`. A name that is not there, or names a group, is an
    InputError naming the store and a few of the arrays there (under that group), largest first,
    as an HDF5 file's missing dataset is: zarr's own KeyError said only "'9'"."""
    key = name.strip("/")
    if not hasattr(root, "members"):
        raise InputError(f"Zarr store '{path}' is one array, not a group: it has no array '/{key}'; "
                         f"read the store itself ({path})")
    try:
        node = root[key]
    except KeyError:
        node = None
    if node is not None and not hasattr(node, "members"):
        return node
    within = "" if node is None else key + "/"
    arrays = {n: a for n, a in root.members(max_depth=None) if hasattr(a, "dtype") and n.startswith(within)}
    names = sorted(arrays, key=lambda n: (-arrays[n].size, n))
    shown = ", ".join(f"/{n}" for n in names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    held = f"{shown} (e.g. {path}:/{names[0]})" if names else "none"
    what = f"has no array '/{key}'" if node is None else f"has a group at '/{key}', not an array"
    raise InputError(f"Zarr store '{path}' {what}; its arrays{' there' if within else ''}: {held}")


class ZarrFrames:
    """Frames along the first axis of a Zarr array."""

    def __init__(self, path: str, array: str | None):
        zarr = _zarr()
        try:
            node = zarr.open(path, mode="r")
        except Exception as exc:
            raise InputError(f"cannot open Zarr store '{path}': {exc}") from exc
        if array:
            node = _named_array(node, path, array)
        elif hasattr(node, "members"):
            node = _image_array(node, path)
        self.path = path
        self.dtype = np.dtype(node.dtype)
        self.warnings: list[str] = []
        self._numbers: list[int | None] | None = None  # a camera's frame numbers where they leave gaps (ZarrWriter)
        if len(node.shape) == 2:  # one image or one sinogram: one frame (it was read as a frame a row)
            self.shape, self._arr, self._recorded, self.count = tuple(node.shape), node, 1, 1
            self._single = True
            return
        self._single = False
        self._blocks: FrameBlocks | None = None  # chunks across frames (hdf5_blocks), made at the first read
        self.shape = tuple(node.shape[1:])
        self._arr = node
        self._recorded = node.shape[0]
        self._folder = os.path.join(path, *node.path.split("/")) if node.path else path
        self._separator = self._key_separator()
        self.count = self._stored_frames(node)
        ranges = node.attrs.get(RANGES_WRITTEN)
        if isinstance(ranges, list):  # a cluster's volume whose run stopped: the ranges written whole
            whole = [r for r in ranges if isinstance(r, list) and len(r) == 2]
            self.count = next((int(stop) for first, stop in whole if first == 0), 0)
            self.warnings.append(f"'{path}' is a volume of a cluster run that stopped (or still runs): frames "
                                 f"{whole} are written (reading the first {self.count}); the rest read as zeros")
        elif self.count == self._recorded:
            # frames a writer stored after its last shape record (it stopped without closing)
            size = int(np.prod(self.shape)) * self.dtype.itemsize
            while os.path.exists(self._chunk_file(self.count)) and os.path.getsize(self._chunk_file(self.count)) == size:
                self.count += 1  # a chunk cut short by a crash is not a frame
        self._say_unstored(node)
        if isinstance(listed := node.attrs.get("frame_numbers"), str):  # the ranges an ImageJ header lists too
            self._numbers = self._numbered(listed, node.attrs.get("frame_numbers_first", 0),
                                           node.attrs.get("frame_numbers_end"))

    def _say_unstored(self, node: Any, most: int = 200_000) -> None:
        """A warning naming the frames read whose chunks are not all stored: zarr reads a missing chunk
        as the fill value without a word (a lost chunk file gave a frame of zeros, exit 0, where ufo's
        HDF5 reader says it). Not looked at past `most` chunk files (a tiled store of many frames)."""
        from .hdf5_chunks import spans

        grid = getattr(node, "shards", None) or node.chunks
        tiles = int(np.prod([-(-size // chunk) for size, chunk in zip(node.shape[1:], grid[1:])]))
        held: dict[int, int] = {}
        seen = 0
        for folder, _, files in os.walk(self._folder):
            for name in files:
                key = os.path.relpath(os.path.join(folder, name), self._folder).replace(os.sep, "/")
                parts = key.removeprefix("c/").removeprefix("c.").replace(".", "/").split("/")
                if len(parts) == node.ndim and all(part.isdigit() for part in parts):
                    held[int(parts[0])] = held.get(int(parts[0]), 0) + 1
            seen += len(files)
            if seen > most:
                return
        frames = [i for i in range(self.count) if held.get(i // int(grid[0]), 0) < tiles]
        if frames:
            self.warnings.append(f"'{self.path}': frames {spans(frames)} ({len(frames)} of {self.count}) have chunks "
                                 f"that are not stored: they read as its fill value ({node.fill_value}) there (zarr "
                                 "stores no chunk of the fill value alone; a lost chunk file reads the same)")

    def _numbered(self, listed: str, first: Any, end: Any) -> list[int | None] | None:
        """Each frame's number from the record of frames [first, end) (an appended record starts after
        frames without one; frames appended without numbers end it; no end: it covers the rest)."""
        first = first if isinstance(first, int) and 0 <= first <= self.count else 0
        end = end if isinstance(end, int) and end >= first else self.count
        numbers = frame_numbers_of(f"frame_numbers={listed}", end - first)
        if numbers is None:
            return None
        return ([None] * first + numbers + [None] * max(0, self.count - end))[:self.count]

    def _stored_frames(self, node: Any) -> int:
        """The frames to read. In ufo's own arrays (`OWN_ARRAY`, one chunk per frame) the shape counts
        the frames written and each frame's chunk is stored before it counts: a chunk missing within
        the shape is a frame its writer never stored (it stopped), so they are read up to the first
        missing one, said where fewer. In other tools' arrays a missing chunk holds the fill value
        (zarr-python stores none of those): every frame up to the end of the last stored chunk is
        read, missing ones as the fill value, as zarr reads them. Counting the stored chunks instead
        took 15 of a 20-frame stack whose first 5 frames are zeros, and dropped its last 5 real ones.
        A shape past the last stored chunk is cut there, and said: a recorded shape of 10^15 frames
        streamed zeros without end."""
        recorded = int(node.shape[0])
        if not recorded:
            return 0
        rows = self._chunk_rows()
        if node.attrs.get(OWN_ARRAY) is True and tuple(node.chunks) == (1, *node.shape[1:]):
            if rows is None:
                return recorded
            first = 0
            while first in rows:
                first += 1
            if first < recorded:
                self.warnings.append(f"'{self.path}' records {recorded} frames but stores the first {first}: reading "
                                     f"those (ufo's writer of it stopped before the rest)")
            return min(first, recorded)
        if rows is None:
            return recorded
        grid = int((getattr(node, "shards", None) or node.chunks)[0])  # the frames of one stored key
        stored = (max(rows, default=-1) + 1) * grid
        if stored >= recorded:
            return recorded
        self.warnings.append(f"'{self.path}' records {recorded} frames, its last stored chunk ends at frame {stored}: "
                             f"reading those (zarr stores no chunk of the fill value alone, so the rest are frames "
                             f"of the fill value, {node.fill_value}, or were never written)")
        return stored

    def _chunk_rows(self) -> set[int] | None:
        """The chunk indices along the frames of the chunk files stored (zarr v3 'c/0/0/0' or
        'c.0.0.0', v2 '0.0.0' or '0/0/0'), None when they cannot be listed."""
        try:
            names = os.listdir(self._folder)
            if "c" in names and os.path.isdir(os.path.join(self._folder, "c")):
                names = os.listdir(os.path.join(self._folder, "c"))
            else:
                names = [n.removeprefix("c.") for n in names]
        except OSError:
            return None
        return {int(n.split(".")[0]) for n in names if n.split(".")[0].isdigit()}

    def _key_separator(self) -> str:
        try:
            return str(self._arr.metadata.chunk_key_encoding.to_dict().get("configuration", {}).get("separator", "/"))
        except Exception:
            return "/"

    def _chunk_file(self, index: int) -> str:
        key = self._separator.join(["c", str(index), *["0"] * len(self.shape)])
        return os.path.join(self._folder, *key.split("/"))

    def label(self, index: int) -> str:
        return f"{self.path}[{index}]"

    def read(self, index: int, rows: slice, out: np.ndarray | None) -> np.ndarray:
        if index >= self._recorded:  # past the recorded shape: an uncompressed chunk file
            with open(self._chunk_file(index), "rb") as f:
                data = np.frombuffer(f.read(), self.dtype.newbyteorder("<")).reshape(self.shape)[rows]
        elif not self._single and self._arr.ndim == 3 and int(self._arr.chunks[0]) > 1:  # chunks across frames:
            if self._blocks is None:  # each chunk read once a block, not once a frame
                self._blocks = FrameBlocks(self._arr)  # (25.6 s against zarr's 0.44 s, (N, 16, W) chunks)
            return self._blocks.read(index, rows, out)
        else:
            data = self._arr[rows] if self._single else self._arr[(index, rows)]
        if out is None:
            return data  # type: ignore[no-any-return]
        np.copyto(out, data, casting="unsafe")
        return out

    def stored_attributes(self) -> dict[str, Any]:
        """The array's attributes (`cut_marks`: a volume cut short)."""
        return dict(self._arr.attrs)

    def meta(self, index: int) -> dict[str, Any]:
        number = None if self._numbers is None else self._numbers[index]
        return {} if number is None else {"frame_number": number}

    def close(self) -> None:
        pass
