"""The file camera: replays TIFF, HDF5 (NXtomo too) or raw stacks as if a camera took them, then ends."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.errors import PropertyError
from ..storage import open_source
from .base import Camera, CameraProperty
from .errors import CameraError, EndOfFrames


class FileCamera(Camera):
    name = "file"
    clocked = True  # its frames come at frames-per-second, as the replay camera's: unclocked, buffered at 0
    # frames/s it made frames as fast as it read them and dropped 51 of 60 for a slow reader (said 0)

    path = CameraProperty(str, "", doc="frames to replay: anything `read` takes (TIFF, HDF5, NXtomo, Zarr, raw)")
    loop = CameraProperty(bool, False, doc="start again at the first frame instead of ending")
    _source: Any = None  # the frames read (before __init__ ends too: its set checks the region)
    _opened = ""  # the path _source reads

    def __init__(self, **properties: Any):
        super().__init__(**properties)
        self._source: Any = None
        self._opened = ""  # the path _source reads
        if self.path:
            self._open()

    def _open(self) -> None:
        if self._source is not None:
            self._source.close()
        self._source = open_source(self.path)
        self._opened = self.path
        if len(self._source.shape) != 2:
            raise CameraError(f"camera 'file': '{self.path}' holds frames of shape {self._source.shape}, not images")
        h, w = self._source.shape
        bits = np.dtype(self._source.dtype).itemsize * 8
        self._state(sensor_width=w, sensor_height=h, sensor_bitdepth=bits)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self._source.dtype) if self._source is not None else super().dtype

    def _roi(self) -> tuple[int, int, int, int]:
        """The region on the file's frames: without a path there are none (it said the region did not fit
        the 0 x 0 sensor); a path set after opening is opened here, where the sensor's size is first asked."""
        if not self.path:
            raise PropertyError("camera 'file' needs a path, the frames to replay: -p path=scan/*.tif "
                                "(open_camera('file', path='scan/*.tif'))")
        if self._source is None or self._opened != self.path:
            self._open()
        return super()._roi()

    def _start(self) -> None:
        if self.sensor_horizontal_binning != 1 or self.sensor_vertical_binning != 1:  # it cropped the binned size
            raise CameraError("camera 'file' does not bin; set sensor-horizontal-binning and sensor-vertical-binning "
                              "to 1 (bin in the pipeline instead)")
        self._open()

    def _check_frame(self, number: int) -> None:
        """The end before a frame is made or dropped: clocked, a full ring dropped frames past the file's end."""
        if not self.loop and self._source is not None and number >= self._source.count:
            raise EndOfFrames(f"camera 'file': all {self._source.count} frames of '{self.path}' were replayed")

    def _acquire(self, out: np.ndarray, number: int) -> dict[str, Any]:
        count = self._source.count
        if number >= count and not self.loop:
            raise EndOfFrames(f"camera 'file': all {count} frames of '{self.path}' were replayed")
        index = number % count
        x0, y0, w, h = self._roi()
        if (w, h) == (self.sensor_width, self.sensor_height):
            self._source.read(index, slice(None), out)
        else:
            np.copyto(out, self._source.read(index, slice(y0, y0 + h), None)[:, x0: x0 + w])
        return {"source_index": index, **self._source.meta(index)}

    def close(self) -> None:
        super().close()
        if self._source is not None:
            self._source.close()
            self._source = None
