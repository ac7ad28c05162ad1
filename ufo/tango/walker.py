"""UfoWalker: a walker (directory tree, HDF5 or Zarr) on a storage host, as a Tango device.

`write(dataset)` connects to `endpoint` (a camera's stream) and stores every frame there
until the stream's end message, in the background: receiving and writing overlap, and the
file is valid up to the last complete frame at every moment. If the sender vanishes the
write stops after `timeout` with FAULT and a status that says how many frames are safe.
"""

from __future__ import annotations

from typing import Any

from tango.server import attribute, command, device_property

from ..net.receiver import FrameReceiver
from ..storage.background import BackgroundWriter
from ..storage.walker import walker
from .base import StreamDevice, parse_json


class UfoWalker(StreamDevice):
    root = device_property(dtype=str, mandatory=True, doc="directory, .h5/.nx file or .zarr store to write below")
    overwrite = device_property(dtype=bool, default_value=False, doc="replace existing data sets")

    def init_device(self) -> None:
        super().init_device()
        self.walker = walker(self.root, overwrite=self.overwrite)
        self._written = 0
        self._dataset = ""
        self._receiver: FrameReceiver | None = None

    @attribute(dtype=str, doc="where the walker stands")
    def current(self) -> str:
        return self.walker.current

    @attribute(dtype=int, doc="frames written by the current or last write")
    def frames_written(self) -> int:
        return self._written

    @attribute(dtype=int, doc="frames of the current or last stream that never arrived (by their sequence numbers)")
    def frames_missing(self) -> int:
        return self._receiver.missing if self._receiver is not None else 0

    @attribute(dtype=str, doc="path of the current or last data set")
    def dataset(self) -> str:
        return self._dataset

    @command
    def home(self) -> None:
        self._idle("home")
        self.walker.home()

    @command(dtype_in=str)
    def descend(self, name: str) -> None:
        self._idle("descend")
        self.walker.descend(name)

    @command
    def ascend(self) -> None:
        self._idle("ascend")
        self.walker.ascend()

    @command(dtype_in=str, dtype_out=bool, doc_in="a name below the current place")
    def exists(self, name: str) -> bool:
        return self.walker.exists(name)

    @command(dtype_in=str, doc_in='JSON {"state": {...}, "when": "start"}')
    def log(self, text: str) -> None:
        record = parse_json(text, "log record")
        self.walker.log(record.get("state", {}), record.get("when", "start"))

    def _idle(self, what: str) -> None:
        if self.job.running:
            raise RuntimeError(f"{self.get_name()} is writing {self._dataset}; cannot {what} now")

    @command(dtype_in=str, doc_in="data set name at the current place (e.g. scan.nx, projections)")
    def write(self, dataset: str) -> None:
        """Start storing the stream from `endpoint` as `dataset`; state RUNNING until its end message."""
        if not self._endpoint:
            raise ValueError("set the endpoint attribute (the camera stream's address) before write")
        self._idle("start another write")
        writer = self.walker.create_writer(dataset)
        self._dataset = writer.path
        self._written = 0
        try:
            self._receiver = FrameReceiver(self._endpoint, self._mode, timeout=self._timeout, name=self.get_name())
        except BaseException:  # no stream: the writer closed and its name given back (it stayed claimed, so the
            writer.close()  # same name was refused once the endpoint was fixed, until the server restarted)
            raise
        self.job.start(lambda: self._write(writer, self._receiver), f"writing {writer.path}")

    def _write(self, writer: Any, receiver: FrameReceiver) -> str:
        background = BackgroundWriter(writer, queue_frames=16, copy=False)  # views keep their message alive
        try:
            for frame, meta in receiver:
                background.write(frame, meta)
                self._written += 1
        except Exception as exc:
            background.close()
            if self.job.stop.is_set():  # a cancel asked for: state ON, no fault (as the reconstruction's)
                return f"cancelled after {background.frames} frame(s); they are valid in {writer.path}"
            raise RuntimeError(f"{exc}; the {background.frames} frame(s) written to {writer.path} are valid") from exc
        finally:
            receiver.close()
        background.close()
        if self.job.stop.is_set():
            self._written = background.frames
            return f"cancelled after {background.frames} frame(s); they are valid in {writer.path}"
        self._written = background.frames  # what the stream lost said with it (the server's log alone had it)
        said = "".join(f"; warning: {w}" for w in receiver.check.reports)
        return f"wrote {background.frames} frame(s) to {writer.path}{said}"

    @command
    def cancel(self) -> None:
        self.job.stop.set()  # before the receive is stopped: the write then ends as cancelled, not failed
        if self._receiver is not None:
            self._receiver.stop()
        self.job.cancel()
