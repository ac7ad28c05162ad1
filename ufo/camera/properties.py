"""Camera properties: typed like task properties, plus who may change them and when."""

from __future__ import annotations

from typing import Any

from ..core.errors import PropertyError
from ..core.properties import Property


class CameraProperty(Property):
    """A camera property: typed like task properties, plus who may change it and when."""

    owner_kind = "camera"

    def __init__(self, type: type, default: Any = None, *, doc: str, writable: bool = True,
                 while_recording: bool = False, **kwargs: Any):
        super().__init__(type, default, doc=doc, **kwargs)
        self.writable = writable
        self.while_recording = while_recording

    def __set__(self, instance: Any, value: Any) -> None:
        if not self.writable:
            raise PropertyError(f"camera '{instance.name}': property '{self.cli_name}' is read-only")
        if instance.is_recording and not self.while_recording:
            raise PropertyError(f"camera '{instance.name}': property '{self.cli_name}' cannot change while recording; "
                                "stop recording first")
        instance.__dict__[self.name] = self.convert(value, instance.name)

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data.update(writable=self.writable, while_recording=self.while_recording)
        return data


MAX_LAG = 0.25  # s: how far a clocked (simulated) camera may fall behind its clock before it drops frames


def max_lag_property() -> CameraProperty:
    return CameraProperty(float, MAX_LAG, range=(0, None), unit="s", while_recording=True,
                          doc="buffered: how far the simulation may fall behind its clock (a busy host) before "
                              "frames are dropped instead of delivered late (default: the ring buffer's length in "
                              "time, 0.25 s at least); frames the ring had no room for at their time drop at once")


def _ro(type: type, default: Any, doc: str, **kw: Any) -> CameraProperty:
    return CameraProperty(type, default, doc=doc, writable=False, **kw)
