"""UfoReconstruction: online reconstruction of a camera's stream on a reconstruction host.

`reconstruct` connects to `endpoint` and feeds every frame (darks, flats, projections by
their image_key; angles from their metadata) to the online reconstructor until the end
message; slices grow during the scan. Afterwards `found_axis` holds the axis (with
find_axis), `slice` the slice at `slice_index`, `send_slices` streams all of them to a
client and `write_slices` stores them on this host.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from tango import AttrWriteType
from tango.server import attribute, command, device_property

from ..core.errors import Cancelled, InputError
from ..net.fanout import Fanout
from ..net.receiver import FrameReceiver
from ..storage.writers import open_writer
from ..tomo.streaming import StreamingReconstructor
from .base import Job, StreamDevice

AXIS_MODES = ("centre", "given", "auto")
ANGLE_SPAN_MIN = 0.1  # degrees: a smaller range is no scan (the online reconstruction gave zeros)


class UfoReconstruction(StreamDevice):
    host = device_property(dtype=str, default_value="127.0.0.1", doc="interface send_slices binds on")

    def init_device(self) -> None:
        super().init_device()
        self._axis = math.nan
        self._axis_mode = "centre"
        self._filter = "ramp"
        self._rows = [0, 0]
        self._span = 0.0
        self._index = 0
        self._received = 0
        self.engine: StreamingReconstructor | None = None
        self._receiver: FrameReceiver | None = None
        self._sender = Job(f"{self.get_name()}:send")

    # -- settings -------------------------------------------------------------------------
    @attribute(dtype=float, unit="px", access=AttrWriteType.READ_WRITE,
               doc="rotation axis position in pixels (writing it sets axis_mode to 'given')")
    def axis(self) -> float:
        return self._axis

    @axis.write
    def axis(self, value: float) -> None:
        self._axis = value
        self._axis_mode = "given"

    @attribute(dtype=str, access=AttrWriteType.READ_WRITE,
               doc="centre (the detector's), given (the axis attribute) or auto (found at the end of the scan)")
    def axis_mode(self) -> str:
        return self._axis_mode

    @axis_mode.write
    def axis_mode(self, value: str) -> None:
        if value not in AXIS_MODES:
            raise ValueError(f"axis_mode is one of {', '.join(AXIS_MODES)}, not '{value}'")
        if value == "given" and math.isnan(self._axis):
            raise ValueError("write the axis attribute (pixels) to use a given axis")
        self._axis_mode = value

    @attribute(dtype=str, access=AttrWriteType.READ_WRITE, doc="ramp, shepp-logan, cosine, hamming, hann, ...")
    def filter(self) -> str:
        return self._filter

    @filter.write
    def filter(self, value: str) -> None:
        from ..tomo.filters import FILTERS

        if value not in FILTERS:
            raise ValueError(f"filter '{value}' is unknown; filters: {', '.join(FILTERS)}")
        self._filter = value

    @attribute(dtype=(int,), max_dim_x=2, access=AttrWriteType.READ_WRITE,
               doc="first and last+1 detector row to reconstruct ([0, 0]: all)")
    def rows(self) -> list[int]:
        return self._rows

    @rows.write
    def rows(self, value: Any) -> None:
        values = [int(v) for v in value]
        if len(values) != 2 or values[0] < 0 or (values[1] and values[1] <= values[0]):
            raise ValueError(f"rows takes [first, stop] with 0 <= first < stop, got {values}")
        self._rows = values

    @attribute(dtype=float, unit="deg", access=AttrWriteType.READ_WRITE,
               doc="angular range of the scan (0: 180 or 360 deg from the angles)")
    def angle_span(self) -> float:
        return self._span

    @angle_span.write
    def angle_span(self, value: float) -> None:
        if not math.isfinite(value) or value < 0 or 0 < value < ANGLE_SPAN_MIN:  # 1e-300: slices of zeros, state ON
            raise ValueError(f"angle_span {value} deg: give the scan's range (e.g. 180 or 360), or 0 to take it "
                             "from the angles")
        self._span = value

    # -- results --------------------------------------------------------------------------
    @attribute(dtype=int, doc="frames received by the current or last reconstruction")
    def frames_received(self) -> int:
        return self._received

    @attribute(dtype=int, doc="frames of the current or last stream that never arrived (by their sequence numbers)")
    def frames_missing(self) -> int:
        return self._receiver.missing if self._receiver is not None else 0

    @attribute(dtype=float, unit="px", doc="the axis found at the end of the scan (NaN: none)")
    def found_axis(self) -> float:
        value = self.engine.found_axis if self.engine is not None else None
        return math.nan if value is None else value

    @attribute(dtype=(int,), max_dim_x=3, doc="slices, rows, columns of the reconstruction so far")
    def slices_shape(self) -> list[int]:
        slices = self._slices()
        return [] if slices is None else list(slices.shape)

    @attribute(dtype=int, access=AttrWriteType.READ_WRITE, min_value="0", doc="which slice `slice` shows")
    def slice_index(self) -> int:
        return self._index

    @slice_index.write
    def slice_index(self, value: int) -> None:
        self._index = value

    @attribute(dtype=((np.float32,),), max_dim_x=65536, max_dim_y=65536, doc="the slice at slice_index")
    def slice(self) -> np.ndarray:
        slices = self._slices()
        if slices is None:
            raise ValueError("no slices yet: reconstruct a stream first")
        if not 0 <= self._index < len(slices):
            raise ValueError(f"slice_index {self._index} is outside 0..{len(slices) - 1}")
        return np.ascontiguousarray(slices[self._index])

    def _slices(self) -> np.ndarray | None:
        return None if self.engine is None else self.engine.current()

    # -- commands -------------------------------------------------------------------------
    @command
    def reconstruct(self) -> None:
        """Start reconstructing the stream at `endpoint`; state RUNNING until its end message."""
        if not self._endpoint:
            raise ValueError("set the endpoint attribute (the camera stream's address) before reconstruct")
        if self.job.running:
            raise RuntimeError(f"{self.get_name()} is reconstructing already; cancel it first")
        axis = {"auto": "auto", "centre": None, "given": self._axis}[self._axis_mode]
        rows = slice(self._rows[0], self._rows[1] or None) if any(self._rows) else None
        span = math.radians(self._span) if self._span else None
        self.engine = StreamingReconstructor(axis=axis, rows=rows, filter=self._filter, angle_span=span)
        self._received = 0
        self._receiver = FrameReceiver(self._endpoint, self._mode, timeout=self._timeout, name=self.get_name())
        self.job.start(lambda: self._run(self.engine, self._receiver), "reconstructing")

    def _run(self, engine: StreamingReconstructor, receiver: FrameReceiver) -> str:
        try:
            try:
                for frame, meta in receiver:
                    engine.add(frame, meta)
                    self._received += 1
            finally:
                receiver.close()  # before the back-projection after the end: the stream is done
            engine.finish()
        except (Cancelled, InputError):
            if not self.job.stop.is_set():
                raise
            return f"cancelled after {self._received} frame(s); no slices"  # state ON: asked for, no fault
        axis = f", axis {engine.found_axis:.2f} px" if engine.found_axis is not None else ""
        said = "".join(f"; warning: {w}" for w in [*receiver.check.reports, *engine.stats.warnings])  # "reconstructed" only,
        return f"reconstructed {engine.projections} projection(s) from {self._received} frame(s){axis}{said}"  # e.g.
        # when a second scan's darks came after projections were back-projected and its flats were not used

    @command
    def cancel(self) -> None:
        """Stop the reconstruction: the stream's receive, and the engine's work (the back-projection
        after the end message of an 'auto' axis scan ran on for its whole length, then said
        'reconstructed')."""
        self.job.stop.set()
        if self._receiver is not None:
            self._receiver.stop()
        if self.engine is not None:
            self.engine.stop()
        self.job.cancel()

    def delete_device(self) -> None:
        if getattr(self, "engine", None) is not None:
            self.job.stop.set()
            self.engine.stop()  # the server shuts down (Ctrl-C, SIGTERM): not after the back-projection
        super().delete_device()

    def _finished(self) -> np.ndarray:
        if self.job.running:
            raise RuntimeError("the reconstruction is still running; wait for state ON")
        slices = self._slices()
        if slices is None:
            raise ValueError("no slices: reconstruct a stream first")
        return slices

    @command(dtype_in=str, doc_in="output path on this host: TIFF pattern, .tif (BigTIFF), .h5:/dataset")
    def write_slices(self, path: str) -> None:
        slices = self._finished()
        with open_writer(path) as writer:
            for index, image in enumerate(slices):
                writer.write(image, {"index": index})

    @command(dtype_out=str, doc_out="address to connect a PULL socket to")
    def send_slices(self) -> str:
        """Stream every slice (float32) to one receiver, then the end message."""
        slices = self._finished()
        fanout = Fanout(timeout=self._timeout)
        address = fanout.add(f"tcp://{self.host}:0")

        def send() -> str:
            try:
                for index, image in enumerate(slices):
                    for tracker in fanout.send(image, {"index": index}, self._sender.stop):
                        tracker.wait(self._timeout)
            finally:
                fanout.close()
            return f"sent {len(slices)} slice(s)"

        self._sender.start(send, "sending slices")
        return address
