"""What the camera server checks of a request before it acts on it, and how it binds its ports."""

from __future__ import annotations

import math
from typing import Any

import zmq

from ..core.errors import UsageError

LEASE_RANGE = (0.2, 3600.0)


def start_options(request: dict[str, Any]) -> tuple[int | None, float | None]:
    """A start's (number of frames, lease in seconds), each None where not given. A number of
    "abc" killed the stream thread and -3 sent no frame, both answered ok with the camera held for
    good; a lease of "nan" released the camera at once: now refused, named."""
    number, lease = request.get("number"), request.get("lease")
    if number is not None and (type(number) is not int or number < 1):
        raise UsageError(f"start: number is a whole number of frames >= 1 (or none), not {number!r}")
    if lease is not None and (type(lease) not in (int, float) or not math.isfinite(lease) or lease <= 0):
        raise UsageError(f"start: lease is a number of seconds above 0, not {lease!r}")
    return number, None if lease is None else min(max(float(lease), LEASE_RANGE[0]), LEASE_RANGE[1])


def bind_port(socket: zmq.Socket, host: str, port: int) -> int:
    """Bind `socket` on `host`:`port` (0: a free port); the port bound."""
    try:
        if port:
            socket.bind(f"tcp://{host}:{port}")
            return port
        return socket.bind_to_random_port(f"tcp://{host}")
    except zmq.ZMQError as exc:
        socket.close(0)
        import errno

        if exc.errno != errno.EADDRINUSE:  # a host that is no address of this machine ('256.1.1.1', a typo)
            raise UsageError(f"camera server: cannot listen on {host}:{port} ({exc.strerror}); give --host an "
                             "address of this machine (127.0.0.1, the default)") from exc
        raise UsageError(f"camera server: cannot listen on {host}:{port} ({exc.strerror}): another server "
                         "(`ufo camera serve`?) has that port, or --port and --stream-port are the same; stop it, "
                         "or give another port") from exc

