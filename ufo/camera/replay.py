"""The replay camera: a recorded scan streamed from memory at a set frame rate, on the camera's own clock.

    cam = open_camera("replay", path="scan.nx", frames_per_second=100, buffered=True)

The scan (NXtomo or DXchange HDF5 with image keys and rotation angles, a plain HDF5
dataset, a TIFF stack or sequence, anything `ufo.storage.open_source` reads) is loaded into
memory when recording starts, so disk speed does not limit the rate. Each frame carries
`image_key` (0 projection, 1 flat, 2 dark) and `angle` (radians) when the file has them, as
the mock camera's tomography mode does. Like hardware (and the mock camera) it runs on its
own clock: frame n is due at t0 + n / frames_per_second, and buffered, frames that the
consumer cannot take in time are dropped and counted, never delivered late. It ends after
the last frame (`EndOfFrames`) unless `loop` is set.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from typing import Any

import numpy as np

from ..core.resources import available_memory
from .base import Camera, CameraProperty, max_lag_property
from .errors import CameraError, EndOfFrames

FORMATS = ("an NXtomo/HDF5 file (scan.nx, frames.h5 or frames.h5:/dataset), a TIFF stack (stack.tif), "
           "a TIFF sequence ('frames/*.tif' or a directory) or a Zarr array")
MEMORY_FRACTION = 0.8  # of the available memory a replay may take; above half of it, a warning


def _gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB"


class ReplayCamera(Camera):
    name = "replay"
    clocked = True
    max_lag = max_lag_property()

    path = CameraProperty(str, "",
                          doc="the scan to replay: NXtomo/HDF5 (file.h5:/dataset), TIFF stack or sequence, Zarr")
    loop = CameraProperty(bool, False, doc="start again at the first frame instead of ending")
    start = CameraProperty(int, 0, range=(0, None), doc="first frame of the file to replay")
    number = CameraProperty(int, 0, range=(0, None), doc="frames to replay from start (0: all)")

    def __init__(self, **properties: Any):
        self._info: tuple[Any, ...] | None = None  # (path, count, shape, dtype) of the probed file
        self._frames: np.ndarray | None = None
        self._meta: list[dict[str, Any]] = []
        self._loaded: tuple[Any, ...] | None = None
        super().__init__(**properties)  # setting path probes the file (see __setattr__)

    # -- the file -------------------------------------------------------------------------
    def _open(self) -> Any:
        from ..core.errors import UfoError
        from ..storage import open_source

        if not self.path:
            raise CameraError("camera 'replay' needs a path: open_camera('replay', path='scan.nx', "
                              f"frames_per_second=100) or -p path=scan.nx; it replays {FORMATS}")
        try:
            source = open_source(self.path)
        except UfoError as exc:
            raise CameraError(f"camera 'replay' cannot load '{self.path}': {exc}. It replays {FORMATS}") from exc
        except Exception as exc:  # noqa: BLE001 - a library's own error about a damaged file
            raise CameraError(f"camera 'replay' cannot read '{self.path}' ({type(exc).__name__}: {exc}); "
                              f"is it {FORMATS}?") from exc
        if len(source.shape) != 2:
            source.close()
            raise CameraError(f"camera 'replay': '{self.path}' holds frames of shape {tuple(source.shape)}, "
                              "not images; name a dataset of 2-D frames (file.h5:/path/to/stack)")
        if source.count < 1:
            source.close()
            raise CameraError(f"camera 'replay': '{self.path}' holds no frames")
        return source

    def _probe(self) -> None:
        """Learn the frames' shape, type and count (no pixel data read)."""
        source = self._open()
        try:
            h, w = source.shape
            dtype = np.dtype(source.dtype)
            self._info = (self.path, source.count, (h, w), dtype)
        finally:
            source.close()
        self._state(sensor_width=w, sensor_height=h, sensor_bitdepth=dtype.itemsize * 8)

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name == "path" and value:
            self._probe()  # a new file: its sensor size is known at once

    def _roi(self) -> tuple[int, int, int, int]:
        """Without a path there is no frame: said here, where the sensor's size is first asked (it
        said "the 0 x 0 sensor binned 1 x 1 has no pixels")."""
        if not self.path:
            from ..core.errors import PropertyError

            raise PropertyError("camera 'replay' needs a path, the scan to replay: -p path=scan.nx "
                                f"(open_camera('replay', path='scan.nx')); it replays {FORMATS}")
        return super()._roi()

    @property
    def dtype(self) -> np.dtype:
        return self._info[3] if self._info is not None else super().dtype

    @property
    def count(self) -> int:
        """Frames one pass replays (start and number applied)."""
        if self._info is None:
            self._probe()
        assert self._info is not None
        total = self._info[1]
        if self.start >= total:
            raise CameraError(f"camera 'replay': start={self.start} but '{self.path}' holds {total} frames "
                              f"(0-{total - 1})")
        left = total - self.start
        if self.number > left:
            raise CameraError(f"camera 'replay': number={self.number} from start={self.start}, but '{self.path}' "
                              f"holds {total} frames; use number={left} or less (0: all)")
        return self.number or left

    def _load(self) -> None:
        """The frames (region of interest only) into memory, once per file state, range and region:
        a file or folder rewritten since is read again (the path alone was the key: a folder's new
        frames replayed the old ones, a grown file its old count)."""
        state = _files_state(self.path)
        if self._info is None or self._info[0] != self.path or self._loaded is not None and self._loaded[1] != state:
            self._probe()
        count = self.count
        x0, y0, w, h = self._roi()
        key = (self.path, state, self.start, count, (x0, y0, w, h))
        if self._loaded == key:
            return
        self._frames, self._meta, self._loaded = None, [], None  # free the old scan before loading a new one
        need = count * h * w * self.dtype.itemsize
        available = available_memory()
        if need > MEMORY_FRACTION * available:
            raise CameraError(
                f"camera 'replay': {count} frames of {h} x {w} {self.dtype} from '{self.path}' need {_gb(need)} "
                f"of memory, {_gb(available)} are available; replay fewer frames (-p number=N, -p start=N), a region "
                "(-p roi-height=N ...), or stream from disk with camera 'file'")
        if need > available / 2:
            warnings.warn(f"camera 'replay': loading {_gb(need)} from '{self.path}' takes more than half of the "
                          f"{_gb(available)} of available memory", ResourceWarning, stacklevel=3)
        source = self._open()
        try:
            frames = np.empty((count, h, w), self.dtype)
            full = (w, h) == (self.sensor_width, self.sensor_height)
            meta = []
            for i in range(count):
                index = self.start + i
                try:
                    if full:
                        source.read(index, slice(None), frames[i])
                    else:
                        np.copyto(frames[i], source.read(index, slice(y0, y0 + h), None)[:, x0: x0 + w])
                    meta.append({**source.meta(index), "source_index": index})
                except CameraError:
                    raise
                except Exception as exc:  # noqa: BLE001 - a damaged frame: name it
                    raise CameraError(f"camera 'replay': cannot read frame {index} of '{self.path}': {exc}") from exc
        finally:
            source.close()
        self._frames, self._meta, self._loaded = frames, meta, key

    # -- camera hooks ---------------------------------------------------------------------
    def start_recording(self) -> None:
        if not self.path:
            self._open()  # says what path takes
        super().start_recording()

    def _start(self) -> None:
        if self.sensor_horizontal_binning != 1 or self.sensor_vertical_binning != 1:
            raise CameraError("camera 'replay' does not bin; set sensor-horizontal-binning and "
                              "sensor-vertical-binning to 1 (bin in the pipeline instead)")
        self._load()

    def _check_frame(self, number: int) -> None:
        if not self.loop and number >= len(self._meta):
            raise EndOfFrames(f"camera 'replay': all {len(self._meta)} frames of '{self.path}' were replayed "
                              "(loop=true starts again at the first)")

    def _acquire(self, out: np.ndarray, number: int) -> dict[str, Any]:
        assert self._frames is not None
        index = number % len(self._meta)
        np.copyto(out, self._frames[index])
        return dict(self._meta[index])

    def release(self) -> None:
        """Free the replayed scan's memory (it is loaded again at the next recording)."""
        if self.is_recording:
            raise CameraError("camera 'replay' is recording; stop_recording() before releasing its frames")
        self._frames, self._meta, self._loaded = None, [], None

    def close(self) -> None:
        super().close()
        self.release()


def _files_state(path: str) -> tuple[Any, ...]:
    """(name, size, mtime) of the file(s) `path` names (a file, a folder's files, a glob's): what a
    rewrite changes."""
    import glob

    from ..storage.formats import split_dataset

    file = split_dataset(os.path.expanduser(path))[0]
    names = sorted(glob.glob(file)) if any(c in file for c in "*?[") else \
        sorted(os.path.join(file, n) for n in os.listdir(file)) if os.path.isdir(file) else [file]
    state = []
    for name in names:
        with contextlib.suppress(OSError):
            info = os.stat(name)
            state.append((name, info.st_size, info.st_mtime_ns))
    return tuple(state)
