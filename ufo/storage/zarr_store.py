"""Zarr arrays: one chunk per frame, optional compression (zstd, blosc), through zarr-python.

v3 by default; v2 (`zarr_format=2`: `.zgroup`, `.zarray`, `.zattrs`, chunk keys `N.0.0`) for the
readers of the previous generation, which read v2 metadata only: zarr-python 2 (dask and xarray
stacks pinned to it), napari's zarr 2 reader. The axes are named in either (v3
`dimension_names`, v2 xarray's `_ARRAY_DIMENSIONS` attribute).

ufo's writer stores every chunk (also all-zero ones), and a frame counts once its chunk is: after
a crash, frames whose chunks never arrived are not read (the reader stops at the first missing
one). Its arrays say so in an attribute (`OWN_ARRAY`). Other tools' arrays are read as zarr
reads them: zarr-python stores no chunk that holds only the fill value, so a missing chunk
there is frames of the fill value (an empty slice of a mask, a beam-off frame), not a loss.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from typing import Any

import numpy as np

from ..core.errors import InputError, UsageError
from .formats import FRAME_PLACES, RANGES_WRITTEN, check_dataset
from .writer_base import WriterBase, disk_error, share, unshare
from .zarr_codecs import GROUP_FILES, _zarr, axes, compressors, sole_member, store_format

#: attribute of the arrays ufo's writer makes: their shape counts the frames written, each chunk
#: stored before its frame counts, so a chunk missing within the shape is a frame never stored
OWN_ARRAY = "ufo_shape_counts_frames_written"
SHAPE_INTERVAL = 0.25  # seconds between shape records in zarr.json on the direct path (and at close)


class ZarrWriter(WriterBase):
    """Frames into an array of a Zarr group. `zarr_format` 2 or 3 for a new store; None: the format
    of the store there, v3 for a new one. Arrays of both formats in one store read nowhere whole,
    so a format other than the store's is refused, unless the array overwritten is all the store
    holds (a volume written again in the other format): the store is then made anew."""

    def __init__(self, path: str, array: str | None, overwrite: bool = False, append: bool = False,
                 compression: str | None = None, metadata: dict[str, Any] | None = None,
                 zarr_format: int | None = None):
        if zarr_format not in (None, 2, 3):
            raise UsageError(f"Zarr format {zarr_format}: choose 2 or 3")
        self.path = path
        self.array = (array or "data").strip("/")
        held = store_format(path)
        renew = zarr_format is not None and held not in (None, zarr_format)
        if renew and not (overwrite and not append and sole_member(path, self.array)):
            raise InputError(f"'{path}' is a Zarr v{held} store: v{zarr_format} arrays cannot be written into it "
                             f"(write zarr-format={held}, or a new store)")
        self.zarr_format = zarr_format if renew else held or zarr_format or 3
        self.metadata = json.loads(json.dumps(metadata or {}, default=str))  # the array's attributes: JSON only
        self.frames = 0
        self.compression = compression
        self._arr: Any = None
        self._direct = False
        self._saved = 0.0
        self._separator = "/"
        self._prefix = ["c"]  # of chunk keys: v3's default encoding; v2 keys have none
        self._document = "zarr.json"  # the array's metadata (v2: .zarray; its attributes are in .zattrs)
        self._interval = SHAPE_INTERVAL
        self._json: dict[str, Any] = {}
        self._append = append
        check_dataset(path, self.array)
        full = os.path.join(path, *self.array.split("/"))
        store, real = os.path.realpath(path), os.path.realpath(full)
        if os.path.commonpath([store, real]) != store or real == store:  # a link inside the store that leads out
            raise UsageError(f"Zarr array '{path}:/{self.array}' resolves to '{real}', outside the store; "
                             "refusing to write there")
        if os.path.exists(full) and not append and not overwrite:
            raise InputError(f"'{path}:/{self.array}' exists; refusing to overwrite it (use overwrite=true)")
        #: the store claimed against other processes' writers, and this array against this one's
        #: (`share`): a second writer with overwrite deleted the first one's frames under it
        self._shared = share(path, self.array) if os.path.isdir(path) else None
        if renew or os.path.exists(full) and not append:
            try:
                shutil.rmtree(os.path.join(path, self.array.split("/")[0]) if renew else full, ignore_errors=renew)
                for name in GROUP_FILES if renew else ():  # the group is made again in the format asked for
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(os.path.join(path, name))
            except BaseException:
                unshare(self._shared, self.array)
                raise

    def _fast_path(self) -> bool:
        """Uncompressed arrays with zarr's default chunk keys: write chunk files directly.

        zarr-python's per-chunk machinery costs a third of the disk's speed; the bytes of an
        uncompressed chunk are just the frame (little-endian), so ufo writes the chunk file
        at the key the array's own metadata declares and then records the new shape.
        """
        meta = self._arr.metadata
        if meta.zarr_format == 2:
            # ufo's reader counts the chunk files past the shape recorded by v3 keys only: a v2 array's
            # shape is recorded at every frame (a few hundred bytes against a frame's megabytes)
            self._prefix, self._document, self._interval = [], ".zarray", 0.0
            self._separator = meta.dimension_separator or "."
            return meta.compressor is None and not meta.filters and meta.order == "C"
        codecs = [c.to_dict() if hasattr(c, "to_dict") else c for c in getattr(meta, "codecs", ())]
        if len(codecs) != 1 or codecs[0].get("name") != "bytes":
            return False
        encoding = meta.chunk_key_encoding.to_dict() if hasattr(meta.chunk_key_encoding, "to_dict") else {}
        self._separator = encoding.get("configuration", {}).get("separator", "/")
        return encoding.get("name") == "default"

    def _write_chunk(self, frame: np.ndarray) -> None:
        n = self.frames
        key = self._separator.join([*self._prefix, str(n), *["0"] * frame.ndim])
        folder = os.path.join(self.path, *self.array.split("/"), *key.split("/"))
        if self._separator == "/":
            os.makedirs(os.path.dirname(folder), exist_ok=True)
        data = np.ascontiguousarray(frame, frame.dtype.newbyteorder("<"))
        fd = os.open(folder, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data).cast("B")
            while view:
                view = view[os.write(fd, view):]
        except BaseException:  # a full disk: no partial chunk left in the store
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(folder)
            raise
        os.close(fd)
        self._json["shape"][0] = n + 1  # the frame counts once its chunk is complete
        now = time.monotonic()
        if now - self._saved >= self._interval:
            self._save_shape()
            self._saved = now

    def _save_shape(self) -> None:
        """Record the shape in zarr.json (.zarray) atomically. ufo's reader also counts v3 chunk files
        written after the last record, so a crash loses no frame; zarr itself sees the shape."""
        document = os.path.join(self.path, *self.array.split("/"), self._document)
        partial = document + ".part"
        try:
            with open(partial, "w") as f:
                json.dump(self._json, f)
            os.replace(partial, document)
        except BaseException:  # a full disk: the record stays as it was, no debris beside it
            with contextlib.suppress(OSError):
                os.unlink(partial)
            raise

    def write(self, frame: np.ndarray, meta: dict[str, Any]) -> None:
        zarr = _zarr()
        try:
            if self._direct:
                self._write_chunk(frame)
                self.frames += 1
                return
            if self._arr is None:
                root = zarr.open_group(self.path, mode="a", zarr_format=self.zarr_format)
                if self._shared is None:  # the store made here: claimed now
                    self._shared = share(self.path, self.array)
                if self._append and self.array in root:
                    self._arr = root[self.array]
                    # after the frames the reader finds (a writer killed, or stopped by a full disk, stored
                    # whole frames past its last shape record, which an append at the record overwrote)
                    self.frames = ZarrFrames(self.path, self.array).count
                    held = (tuple(self._arr.shape[1:]), np.dtype(self._arr.dtype))
                    if held != (frame.shape, frame.dtype):  # it took them: the store then read nowhere
                        raise InputError(f"'{self.path}:/{self.array}' holds frames of shape {held[0]} {held[1]}, "
                                         f"not {frame.shape} {frame.dtype}: appended frames must match")
                else:
                    self._arr = self._create(root, frame)
                if self.metadata:  # before zarr.json is read for the direct path, which rewrites it whole
                    self._arr.attrs.update(self.metadata)
                if self._fast_path():
                    self._direct = True
                    with open(os.path.join(self.path, *self.array.split("/"), self._document)) as f:
                        self._json = json.load(f)
                    self._write_chunk(frame)
                    self.frames += 1
                    return
            n = self.frames
            self._arr.resize((n + 1, *frame.shape))
            try:
                self._arr[n] = frame
            except BaseException:  # the shape must not count a frame never stored (it read as zeros)
                with contextlib.suppress(Exception):
                    self._arr.resize((n, *frame.shape))
                raise
            self.frames += 1
        except OSError as exc:
            raise disk_error(self.path, self.frames, exc) from exc

    def _create(self, root: Any, frame: np.ndarray) -> Any:
        """The array, in the store's format: chunk files side by side (c.N.0.0, v2 N.0.0), no
        directory per frame; the axes named (v2: xarray's `_ARRAY_DIMENSIONS` attribute, which v2
        readers keep as an attribute)."""
        v2 = self.zarr_format == 2
        names = axes(frame.ndim)
        attributes: dict[str, Any] = {OWN_ARRAY: True, **({"_ARRAY_DIMENSIONS": names} if v2 and names else {})}
        return root.create_array(self.array, shape=(0, *frame.shape), chunks=(1, *frame.shape), dtype=frame.dtype,
                                 compressors=compressors(self.compression, self.zarr_format), fill_value=0,
                                 config={"write_empty_chunks": True}, attributes=attributes,
                                 dimension_names=None if v2 else names,
                                 chunk_key_encoding={"name": "v2" if v2 else "default", "separator": "."})

    def release(self) -> None:
        """Let other writers have the store (this writer's part of its claim)."""
        super().release()
        unshare(self._shared, self.array)
        self._shared = None

    def close(self) -> None:
        try:
            if self._direct:
                self._save_shape()
        finally:
            unshare(self._shared, self.array)
            self._shared = None




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
        if len(node.shape) == 2:  # one image or one sinogram: one frame (it was read as a frame a row)
            self.shape, self._arr, self._recorded, self.count = tuple(node.shape), node, 1, 1
            self._single = True
            return
        self._single = False
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
        else:
            data = self._arr[rows] if self._single else self._arr[(index, rows)]
        if out is None:
            return data  # type: ignore[no-any-return]
        np.copyto(out, data, casting="unsafe")
        return out

    def meta(self, index: int) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        pass
