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
import warnings
from typing import Any

import numpy as np

from ..core.errors import InputError, UsageError
from .formats import check_dataset
from .imagej import FrameNumbers
from .writer_base import WriterBase, conform, disk_error, share, unshare
from .zarr_frames import OWN_ARRAY, ZarrFrames
from .zarr_codecs import GROUP_FILES, _zarr, axes, compressors, sole_member, store_format

SHAPE_INTERVAL = 0.25  # seconds between shape records in zarr.json on the direct path (and at close)


class ZarrWriter(WriterBase):
    """Frames into an array of a Zarr group. `zarr_format` 2 or 3 for a new store; None: the format
    of the store there, v3 for a new one. Arrays of both formats in one store read nowhere whole,
    so a format other than the store's is refused, unless the array overwritten is all the store
    holds (a volume written again in the other format): the store is then made anew."""

    def __init__(self, path: str, array: str | None, overwrite: bool = False, append: bool = False,
                 compression: str | None = None, metadata: dict[str, Any] | None = None,
                 zarr_format: int | None = None, record_drops: bool = False):
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
        #: a camera's frame numbers, where they leave gaps: the array's attributes say them at close
        #: (`frames_dropped`, `frame_numbers` ranges, as an ImageJ stack's header): a grab that dropped
        #: 31 of 131 frames read back as 100 consecutive ones, a scan's angles off after the first gap
        self._numbers = FrameNumbers() if record_drops else None
        self._first_index = 0  # the array's index of this writer's first numbered frame
        self._numbered = 0  # this writer's frames with a number (the record covers them)
        self._start: int | None = None  # the array's index of this writer's first frame (appending: after others)
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
        self._write(frame, meta)
        self._start = self.frames - 1 if self._start is None else self._start
        if self._numbers is not None and isinstance(meta.get("frame_number"), (int, np.integer)):
            self._first_index = self._first_index if self._numbered else self.frames - 1
            self._numbered += 1
            self._numbers.see(meta)

    def _write(self, frame: np.ndarray, meta: dict[str, Any]) -> None:
        zarr = _zarr()
        if self._arr is not None:  # frames of one shape and type (a smaller one resized the array over the others)
            frame = conform(f"{self.path}:/{self.array}", self.frames, frame, (self._arr.shape[1:], self._arr.dtype))
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
                    frame = conform(f"{self.path}:/{self.array}", self.frames, frame,  # else the store read nowhere
                                    (self._arr.shape[1:], self._arr.dtype))
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
            self._record_drops()
        finally:
            unshare(self._shared, self.array)
            self._shared = None

    def _record_drops(self) -> None:
        """The frames' numbers as ranges into the array's attributes where they leave gaps, or where an
        earlier writer's record (appending) must go on to cover every frame. The record says the
        frames it covers (`frame_numbers_first`, `frame_numbers_end`): frames appended without
        numbers after a record left it short of the frames, and the reader dropped every number."""
        numbers = self._numbers
        if numbers is None or self._start is None or not (numbers.text() or self._append):
            return
        try:
            arr = _zarr().open_group(self.path, mode="r+")[self.array]
            earlier = dict(arr.attrs) if self._append else {}
            listed, end = earlier.get("frame_numbers"), earlier.get("frame_numbers_end")
            said: dict[str, Any]
            if not numbers.text():  # frames without numbers after a record: it ends where they begin
                if not listed or isinstance(end, int):
                    return
                said = {"frame_numbers_end": self._start}
            elif listed:
                if isinstance(end, int) and end != self._first_index:
                    warnings.warn(f"'{self.path}:/{self.array}': frames {end}-{self._first_index - 1} have no frame "
                                  f"number, so the numbers of frames from {self._first_index} are not recorded",
                                  RuntimeWarning, stacklevel=3)
                    return
                said = {"frame_numbers": f"{listed},{numbers.text()}",
                        "frames_dropped": int(earlier.get("frames_dropped", 0)) + numbers.dropped,
                        "frame_numbers_end": self._first_index + self._numbered}
            elif not numbers.gaps:
                return
            else:
                said = {"frame_numbers": numbers.text(), "frames_dropped": numbers.dropped,
                        "frame_numbers_first": self._first_index,
                        "frame_numbers_end": self._first_index + self._numbered}
            arr.attrs.update(said)
        except Exception as exc:  # noqa: BLE001 - the frames are safe; say that the record is missing
            warnings.warn(f"'{self.path}:/{self.array}': could not record the {self._numbers.dropped} dropped "
                          f"frame(s) in the store: {exc}", RuntimeWarning, stacklevel=3)
