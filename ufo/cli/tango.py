"""`ufo tango`: camera, motor, walker and reconstruction Tango servers."""

from __future__ import annotations

import json
import os

import click

from ..core.errors import UsageError
from .errors import FiniteFloatRange, handle_errors

EXAMPLES = """
\b
Examples (no Tango database; clients use tango://127.0.0.1:PORT/DEVICE#dbase=no):
  ufo tango camera --port 10001 -p sensor-width=2048 -p sensor-height=2048
  ufo tango motor --port 10002 --kind rotation
  ufo tango walker --port 10003 --root /data/experiment
  ufo tango reco --port 10004
\b
With a database (TANGO_HOST set): add --db, and --device/--instance as registered there:
  ufo tango walker --db --device bl/ufo/walker --root /data
\b
From Python:
  from ufo.tango.client import tango_walker
  walker = tango_walker("tango://127.0.0.1:10003/ufo/walker/1#dbase=no")
"""


def _pairs(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq:
            raise UsageError(f"-p takes property=value, got '{pair}'")
        name = key.replace("-", "_")
        if name in out:  # the last one won without a word
            raise UsageError(f"-p {key} is given twice ({out[name]!r} and {value!r}); give it once")
        out[name] = value
    return out


@click.command(epilog=EXAMPLES)
@click.argument("kind", type=click.Choice(["camera", "motor", "walker", "reco"]))
@click.option("--port", type=click.IntRange(1, 65535), help="TCP port of the server (needed without --db).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--device", help="Device name [default: ufo/KIND/1].")
@click.option("--instance", default="ufo", show_default=True, help="Server instance name.")
@click.option("--db", "database", is_flag=True, help="Use the Tango database at TANGO_HOST (registers the device).")
@click.option("--camera", "camera_name", default="mock", show_default=True, help="camera: plugin name.")
@click.option("-p", "--property", "props", multiple=True, help="camera: property=value (repeatable).")
@click.option("--kind", "motor_kind", type=click.Choice(["linear", "rotation"]), default="linear", show_default=True,
              help="motor: linear (mm) or rotation (deg).")
@click.option("--root", help="walker: directory, .h5/.nx file or .zarr store to write below.")
@click.option("--overwrite", is_flag=True, help="walker: replace existing data sets.")
@click.option("--stream-timeout", type=FiniteFloatRange(0.001), default=30.0, show_default=True,
              help="camera: seconds a reliable endpoint may block the stream before it is given up.")
@click.option("--debug", is_flag=True, help="Show full tracebacks.")
@handle_errors
def tango(kind: str, port: int | None, host: str, device: str | None, instance: str, database: bool,
          camera_name: str, props: tuple[str, ...], motor_kind: str, root: str | None, overwrite: bool,
          stream_timeout: float, debug: bool) -> None:
    """Serve a camera, a motor, a walker or an online reconstruction over Tango.

    Frames travel over ZMQ streams between the servers (register a camera endpoint, give
    its address to the walker or reconstruction server); Tango carries the control.
    """
    from ..tango import require_tango
    from ..tango.serve import address, serve

    require_tango()
    if not database and port is None:
        raise UsageError("give --port (clients then use tango://HOST:PORT/DEVICE#dbase=no) or --db with TANGO_HOST set")
    if database and not os.environ.get("TANGO_HOST"):
        raise UsageError("--db needs TANGO_HOST=host:port of the Tango database")
    device = device or f"ufo/{kind}/1"
    _check_names(kind, device, instance, root, props, camera_name, motor_kind, stream_timeout)
    properties: dict[str, object] = {}
    if kind == "camera":
        from ..camera import open_camera

        settings = _pairs(props)
        open_camera(camera_name, **settings).close()  # bad names and values fail here, before the server starts
        properties = {"camera": camera_name, "settings": json.dumps(settings), "stream_timeout": stream_timeout}
    elif kind == "motor":
        properties = {"kind": motor_kind}
    elif kind == "walker":
        if not root:
            raise UsageError("the walker needs --root: the directory, .h5/.nx file or .zarr store to write below")
        from ..core.errors import InputError
        from ..storage.walker import walker

        try:  # a root that is a file, a device or a link loop: the server died with a traceback, exit 0
            walker(os.path.abspath(root), overwrite)
        except InputError as err:
            raise UsageError(f"--root: {err}") from err
        properties = {"root": os.path.abspath(root), "overwrite": overwrite}
    if not database:
        _check_free(host, port)  # type: ignore[arg-type]
        click.echo(f"ufo tango {kind}: {address(host, port, device)}", err=True)  # type: ignore[arg-type]
    from ..tango.base import Signals
    from .errors import mark_terminated

    try:
        serve(kind, device, properties, instance=instance, host=host, port=port, database=database)
    except KeyboardInterrupt:
        if Signals.terminated:  # Tango took the SIGTERM: the command's status says it (143, not 130)
            mark_terminated()
        raise


def _check_names(kind: str, device: str, instance: str, root: str | None, props: tuple[str, ...], camera: str,
                 motor_kind: str, stream_timeout: float) -> None:
    """Names Tango takes, and options meant for another kind of server (taken without a word before)."""
    import re

    if not re.fullmatch(r"[\w.-]+/[\w.-]+/[\w.-]+", device):
        raise UsageError(f"--device '{device}': a Tango device is named domain/family/member, e.g. ufo/{kind}/1")
    if not re.fullmatch(r"[\w.-]+", instance):
        raise UsageError(f"--instance '{instance}': a server instance is one word (letters, digits, '_', '.', '-')")
    given = {"--root": root is not None and kind != "walker",
             "-p/--property": bool(props) and kind != "camera", "--camera": camera != "mock" and kind != "camera",
             "--kind": motor_kind != "linear" and kind != "motor",
             "--stream-timeout": stream_timeout != 30.0 and kind != "camera"}
    if any(given.values()):
        raise UsageError(f"{', '.join(k for k, v in given.items() if v)}: not an option of the {kind} server "
                         "(see ufo tango --help: each option says which server takes it)")


def _check_free(host: str, port: int) -> None:
    """A port another server listens on: omniORB said "Unable to create an endpoint" and the command
    ended with exit 0, as if the server had run."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host if host not in ("", "localhost") else "127.0.0.1", port))
        except OSError as exc:
            raise UsageError(f"cannot listen on {host}:{port} ({exc.strerror}): another server has that port; "
                             "stop it or give another --port") from exc
