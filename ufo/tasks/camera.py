"""The 'camera' source task: records frames from a camera into a graph.

In Python it is `ufo.CameraSource`; `ufo.Camera` is the camera device API it records from
(`ufo.camera.Camera`). Pipelines name it 'camera', as ufo-filters does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..core import Kind, Property, Spec, Task
from ..core.errors import UsageError


def parse_settings(text: str) -> dict[str, str]:
    """'exposure-time=5ms,pattern=noise' -> {'exposure-time': '5ms', 'pattern': 'noise'}."""
    settings = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, eq, value = item.partition("=")
        if not eq:
            raise UsageError(f"camera settings are key=value pairs separated by commas, got '{item}'")
        settings[key.strip()] = value.strip()
    return settings


class CameraSource(Task):
    """Record frames from a camera plugin (mock, file, net, ...): 'camera name=mock number=100'.

    The graph source task named 'camera' in pipelines (as in ufo-filters) and `ufo.CameraSource`
    in Python, so that `ufo.Camera` stays the camera device API it records from.

    Unbuffered, each frame is grabbed when the graph can take it; buffered, a free-running
    camera fills its ring buffer and frames the graph cannot take in time are dropped and
    reported in the run's warnings.
    """

    name = "camera"
    kind = Kind.SOURCE
    inputs = ()

    camera = Property(str, "mock", aliases=("name",), doc="camera plugin (see 'ufo camera list'); also given as name=")
    number = Property(int, None, range=(1, None), doc="frames to record (default: until the camera ends)")
    settings = Property(str, "", doc="camera properties, e.g. 'exposure-time=5ms,sensor-width=1024'")
    buffered = Property(bool, False, doc="record into the camera's ring buffer (free-running cameras); drops are reported")

    def replayed_path(self) -> str | None:
        """The file a replaying camera (name=file) reads: an output must not be it (ufo.storage.guard)."""
        return parse_settings(self.settings).get("path") or None

    def _open(self) -> Any:
        from ..camera import camera_class, open_camera
        from ..camera.scene import scene_option
        from ..tomo.phantom import PhantomScene

        # a simulated camera (mock) shows the tomography phantom, as ufo-filters' did
        scene = scene_option(camera_class(self.camera), PhantomScene())
        return open_camera(self.camera, **scene, **parse_settings(self.settings))

    def output_spec(self) -> Spec:  # type: ignore[override]
        cam = self._open()
        try:
            return Spec(cam.frame_shape, cam.dtype, self.number)
        finally:
            cam.close()

    def setup(self, ctx: Any) -> None:
        super().setup(ctx)
        self._cam = self._open()
        if self.buffered and self._cam.name != "net":
            self._cam.set(buffered=True)

    def generate(self) -> Iterator[Any]:
        from ..camera import EndOfFrames

        cam = self._cam
        cam.start_recording()
        count = 0
        try:
            while self.number is None or count < self.number:
                out = self.ctx.buffer()
                try:
                    frame = cam.grab(out=out.data)
                except EndOfFrames:
                    return
                out.meta = dict(frame.meta)
                count += 1
                yield out
        finally:
            self._report(cam)

    def _report(self, cam: Any) -> None:
        """Warn of the frames missing between the first and the last delivered (with their numbers),
        not of the ring's own count: that goes on after the last frame, while the graph drains."""
        from ..core.framestats import describe_runs

        stats = cam.stats
        if stats.dropped:
            self.ctx.warn(f"camera '{cam.name}' dropped {stats.dropped} frame(s) (frame numbers "
                          f"{describe_runs(stats.dropped_frames)}) between the {stats.received} delivered: the graph "
                          "did not keep up (more num-buffers, fewer frames per second, or faster downstream tasks)")
        if stats.late:
            self.ctx.warn(f"camera '{cam.name}': {stats.late} of {stats.received} frame(s) were grabbed later than "
                          f"its {stats.fps_asked:g} frames/s allow, {stats.fps_reached:.1f} frames/s reached: the graph "
                          "did not keep up (record buffered=true to keep the camera's rate and count drops)")

    def teardown(self) -> None:
        cam = getattr(self, "_cam", None)
        if cam is not None:
            cam.close()
            self._cam = None
