"""Starting a ufo Tango server, with a Tango database or without one (a file of properties).

Without a database the server listens on host:port and clients address it as
`tango://HOST:PORT/DEVICE#dbase=no`; its device properties go to a private file database.
With one (TANGO_HOST set), the device is registered under the server's instance first.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from . import SERVERS, device_class


def address(host: str, port: int, device: str) -> str:
    return f"tango://{host}:{port}/{device}#dbase=no"


def server_args(kind: str, device: str, properties: dict[str, Any], instance: str = "ufo",
                host: str = "127.0.0.1", port: int | None = None, database: bool = False) -> list[str]:
    """The command line pytango's `run` takes; writes the properties where the server reads them."""
    import tango

    server = SERVERS[kind]
    values = {k: (str(v) if not isinstance(v, (list, tuple)) else [str(x) for x in v]) for k, v in properties.items()
              if v is not None}
    if database:
        db = tango.Database()
        info = tango.DbDevInfo()
        info.name, info._class, info.server = device, server, f"{server}/{instance}"
        db.add_device(info)
        db.put_device_property(device, values)
        args = [server, instance]
        if port:
            args += ["-ORBendPoint", f"giop:tcp:{host}:{port}"]
        return args
    if not port:
        raise ValueError("without a Tango database the server needs a fixed --port for clients to find it")
    handle, path = tempfile.mkstemp(prefix=f"ufo-tango-{kind}-", suffix=".db")
    os.close(handle)
    with open(path, "w") as f:
        f.write(f"{server}/{instance}/DEVICE/{server}: {device}\n")
    file_db = tango.Database(path)
    file_db.put_device_property(device, values)
    return [server, instance, "-ORBendPoint", f"giop:tcp:{host}:{port}", f"-file={path}"]


def serve(kind: str, device: str, properties: dict[str, Any], **options: Any) -> None:
    """Run the server until it is killed or interrupted (Ctrl-C: KeyboardInterrupt once it has
    shut down, so `ufo tango` exits 130 like every command)."""
    from tango.server import run

    from .base import Signals

    cls = device_class(kind)
    args = server_args(kind, device, properties, **options)
    Signals.watch, Signals.interrupted, Signals.terminated = True, False, False
    try:
        run((cls,), args=args)
    finally:
        Signals.watch = False
    if Signals.interrupted:
        raise KeyboardInterrupt
