"""Tango device servers: camera, motor, walker and online reconstruction (`ufo tango ...`).

Each server is a pytango high-level device; frames never travel through Tango itself but
over ZMQ streams (ufo.net) whose endpoints are Tango attributes and commands. The client side
is `client.TangoBackend`, the transport ufo.control's devices use to drive these servers
(control declares the Backend protocol and never imports this package). Needs the `tango`
extra: pip install 'ufo[tango]'.
"""

from __future__ import annotations

from typing import Any

from ..core.errors import UsageError

SERVERS = {"camera": "UfoCamera", "motor": "UfoMotor", "walker": "UfoWalker", "reco": "UfoReconstruction"}


def require_tango() -> Any:
    try:
        import tango
    except ImportError as err:
        raise UsageError("Tango support needs pytango: pip install 'ufo[tango]'") from err
    return tango


def device_class(kind: str) -> type:
    """The Tango device class serving `kind` (camera, motor, walker, reco)."""
    require_tango()
    if kind == "camera":
        from .camera import UfoCamera

        return UfoCamera
    if kind == "motor":
        from .motor import UfoMotor

        return UfoMotor
    if kind == "walker":
        from .walker import UfoWalker

        return UfoWalker
    if kind == "reco":
        from .reco import UfoReconstruction

        return UfoReconstruction
    raise UsageError(f"no Tango server '{kind}'; servers: {', '.join(SERVERS)}")
