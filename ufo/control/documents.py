"""BlueskyDocuments: an experiment's run as event-model documents, its frames pointing into the NXtomo file.

A Bluesky callback (LiveTable, a Tiled writer, the queue server's consumers) follows a run
through documents: start, a descriptor per stream, events, stop. This addon emits them for
any ufo Experiment: one stream per acquisition ('darks', 'flats', 'projections'), one event
per frame with its scalar metadata (image_key, rotation_angle, frame_number), and the
frames themselves not copied but referenced, as detectors do under ophyd-async: a
stream_resource naming the file the ImageWriter writes and its data set, and a
stream_datum per frame giving the frame's index in that data set.

The documents are plain dicts in event-model's schema, so nothing here imports bluesky;
the callback is any `cb(name, doc)`, e.g. a RunEngine's dispatcher or `RE.dispatcher.process`.
The frame indices are right when the ImageWriter writes the same frames in the same order
(both are lossless addons: they see every frame, in order).
"""

from __future__ import annotations

import math
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np

from ..core.errors import UsageError
from ..storage.hdf5 import NXTOMO_DATA
from ..storage.walker import DirectoryWalker
from .experiment import INVALID, Addon, Experiment

_SCALARS = {"image_key": ("integer", "<i4", None), "rotation_angle": ("number", "<f8", "deg"),
            "frame_number": ("integer", "<i8", None)}


class BlueskyDocuments(Addon):
    """Emits event-model documents of each run to `callback(name, doc)`.

    `dataset` is the NXtomo file the experiment's ImageWriter writes (same name, e.g. 'scan.nx');
    `metadata` goes into every start document (sample, proposal, operator, ...). Frames a suspender
    spoiled (image_key 3) are rows of the file but not events: they are counted, not emitted.
    """

    reports = True  # its stop document says how the run ended: after the other addons finished
    takes_invalid = True  # the file holds them: the rows after them are counted right

    def __init__(self, callback: Callable[[str, dict[str, Any]], Any], dataset: str = "scan.nx",
                 metadata: dict[str, Any] | None = None, queue_size: int = 64):
        super().__init__(queue_size)
        if not dataset.lower().endswith((".nx", ".nxs")):
            raise UsageError(f"BlueskyDocuments points into an NXtomo file; give the ImageWriter's file name "
                             f"ending in .nx or .nxs, not '{dataset}'")
        self.callback = callback
        self.dataset = dataset
        self.metadata = dict(metadata or {})
        self.run_uid: str | None = None
        self._streams: dict[str, dict[str, Any]] = {}
        self._index = 0  # the next frame's index in the file's data set

    def _emit(self, name: str, doc: dict[str, Any]) -> None:
        self.callback(name, doc)

    def _uri(self, experiment: Experiment) -> str:
        walker = experiment.walker
        if not isinstance(walker, DirectoryWalker):
            raise UsageError("BlueskyDocuments needs an experiment with a DirectoryWalker and an ImageWriter("
                             f"'{self.dataset}'): its documents point into that file")
        return "file://localhost" + os.path.abspath(os.path.join(walker.current, self.dataset))

    async def start(self, experiment: Experiment) -> None:
        self._uri_now = self._uri(experiment)
        self._streams, self._index = {}, 0
        self.run_uid = str(uuid.uuid4())
        known = getattr(experiment, "scan_metadata", None)  # pixel size, energy, ... (Tomography)
        start = {**(known() if callable(known) else {}), **self.metadata,
                 "uid": self.run_uid, "time": time.time(), "scan_id": experiment.iteration + 1,
                 "plan_name": type(experiment).__name__, "ufo_run": experiment.current, "data_file": self._uri_now,
                 "acquisitions": [a.name for a in experiment.acquisitions]}
        self._emit("start", start)

    def _open_stream(self, acquisition: str, frame: Any) -> dict[str, Any]:
        """The descriptor and stream_resource of an acquisition, at its first frame (which says shape and dtype)."""
        array = np.asarray(frame)
        keys: dict[str, dict[str, Any]] = {
            "image": {"source": "ufo:ImageWriter", "dtype": "array", "dtype_numpy": array.dtype.str,
                      "shape": list(array.shape), "external": "STREAM:", "object_name": "camera"}}
        for name, (dtype, numpy_dtype, units) in _SCALARS.items():
            keys[name] = {"source": "ufo:frame-metadata", "dtype": dtype, "dtype_numpy": numpy_dtype, "shape": [],
                          "units": units, "object_name": "camera"}
        stream = {"descriptor": str(uuid.uuid4()), "resource": str(uuid.uuid4()), "seq": 0}
        self._emit("descriptor", {"uid": stream["descriptor"], "run_start": self.run_uid, "time": time.time(),
                                  "name": acquisition, "data_keys": keys,
                                  "object_keys": {"camera": list(keys)}, "configuration": {},
                                  "hints": {"camera": {"fields": ["rotation_angle"]}}})
        self._emit("stream_resource", {"uid": stream["resource"], "run_start": self.run_uid, "data_key": "image",
                                       "mimetype": "application/x-hdf5", "uri": self._uri_now,
                                       "parameters": {"dataset": NXTOMO_DATA, "chunk_shape": [1, *array.shape],
                                                      "swmr": False}})
        return stream

    async def consume(self, acquisition: str, frame: Any) -> None:
        if int((getattr(frame, "meta", {}) or {}).get("image_key", 0)) == INVALID:
            self._index += 1  # a frame a suspender spoiled: a row of the file (image_key 3), not an event
            return
        stream = self._streams.get(acquisition)
        if stream is None:
            stream = self._streams[acquisition] = self._open_stream(acquisition, frame)
        meta = getattr(frame, "meta", {}) or {}
        angle = meta.get("angle")
        stream["seq"] += 1
        seq, index, now = stream["seq"], self._index, time.time()
        data = {"image_key": int(meta.get("image_key", 0)),
                "rotation_angle": math.degrees(angle) if angle is not None else 0.0,  # as the NXtomo file has it
                "frame_number": int(meta.get("frame_number", -1))}
        self._emit("stream_datum", {"uid": f"{stream['resource']}/{seq}", "stream_resource": stream["resource"],
                                    "descriptor": stream["descriptor"], "indices": {"start": index, "stop": index + 1},
                                    "seq_nums": {"start": seq, "stop": seq + 1}})
        self._emit("event", {"uid": str(uuid.uuid4()), "descriptor": stream["descriptor"], "time": now,
                             "seq_num": seq, "data": data, "timestamps": {key: now for key in data}, "filled": {}})
        self._index += 1

    async def finish(self, experiment: Experiment) -> None:
        if self.run_uid is None:
            return
        status = {"standby": "success", "cancelled": "abort", "aborted": "abort"}.get(experiment.state, "fail")
        self._emit("stop", {"uid": str(uuid.uuid4()), "run_start": self.run_uid, "time": time.time(),
                            "exit_status": status, "reason": "" if status == "success" else experiment.state,
                            "num_events": {name: stream["seq"] for name, stream in self._streams.items()}})
        self.run_uid = None
