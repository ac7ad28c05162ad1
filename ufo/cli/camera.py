"""`ufo camera`: list, inspect, grab from, benchmark and serve cameras (uca-info, uca-grab, uca-benchmark)."""

from __future__ import annotations

import os
import shutil
import time
from typing import Any

import click
import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from ..camera import camera_class, names, open_camera
from ..camera.scene import scene_option
from ..core.errors import UsageError
from .errors import FiniteFloatRange, handle_errors, interrupted

EXAMPLES = """
\b
Examples:
  ufo camera list
  ufo camera info mock
  ufo camera grab mock -n 100 -o frames.h5:/data -p frames-per-second=50
  ufo camera bench mock -p pattern=none -n 2000
  ufo camera serve mock -p sensor-width=2048 -p sensor-height=2048 --port 5555
  ufo camera grab net -p port=5555 -n 10 -o remote.tif
  ufo camera stop --port 5555
"""


def _settings(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq:
            raise UsageError(f"-p takes property=value, got '{pair}'")
        if key in out:  # the last one won without a word
            raise UsageError(f"-p {key} is given twice ({out[key]!r} and {value!r}); give it once")
        out[key] = value
    return out


def _open(name: str, props: tuple[str, ...]) -> Any:
    """The camera with its -p properties; a simulated one (mock) shows the 3-D Shepp-Logan phantom."""
    from ..tomo.phantom import PhantomScene

    return open_camera(name, **scene_option(camera_class(name), PhantomScene()), **_settings(props))


@click.group(epilog=EXAMPLES)
def camera() -> None:
    """Cameras: list plugins, show properties, grab frames, measure, serve over the network."""


@camera.command("list")
@click.option("--debug", is_flag=True, hidden=True)
@handle_errors
def list_(debug: bool) -> None:
    """Camera plugins (entry-point group ufo.cameras)."""
    for name in names():
        click.echo(name)


@camera.command()
@click.argument("name")
@click.option("-p", "--property", "props", multiple=True, help="property=value (repeatable).")
@click.option("--debug", is_flag=True, help="Show full tracebacks.")
@handle_errors
def info(name: str, props: tuple[str, ...], debug: bool) -> None:
    """Every property of a camera with its value, unit and whether it can be changed."""
    cam = _open(name, props)
    try:
        table = Table("property", "value", "unit", "type", "writable", "description", title=repr(cam))
        for p in cam.describe():
            writable = "no" if not p["writable"] else ("yes" if p["while_recording"] else "not while recording")
            table.add_row(p["name"], str(p["value"]), p["unit"] or "", p["type"], writable, p["doc"])
        Console().print(table)
    finally:
        cam.close()


@camera.command()
@click.argument("name")
@click.option("-n", "--number", type=click.IntRange(1), default=10, show_default=True, help="Frames to grab.")
@click.option("-o", "--output", required=True, help="frame-%05i.tif, stack.tif, frames.h5:/data, scan.nx, ...")
@click.option("-p", "--property", "props", multiple=True, help="property=value (repeatable).")
@click.option("--overwrite", is_flag=True, help="Replace existing output.")
@click.option("--debug", is_flag=True, help="Show full tracebacks.")
@handle_errors
def grab(name: str, number: int, output: str, props: tuple[str, ...], overwrite: bool, debug: bool) -> None:
    """Grab frames into a file (TIFF, HDF5, NXtomo, Zarr, raw); report frames received and dropped,
    frames/s reached against asked and MB/s."""
    from ..camera import CameraError, EndOfFrames
    from ..storage import open_writer

    from ..storage.formats import FileKind, parse_output_path
    from ..storage.guard import check_output, refuse_conflict

    replayed = _settings(props).get("path")
    refuse_conflict(output, [replayed] if replayed else [])  # a replayed file is never the output (exit 2)
    check_output(output, overwrite, fix="use --overwrite")  # before the camera is asked: exit 2, nothing written
    cam = _open(name, props)
    try:
        note = _room_note(output, overwrite, number, cam)
    except BaseException:
        cam.close()
        raise
    target = parse_output_path(output)
    file = target.path
    new = not os.path.exists(file)
    stack = target.kind is FileKind.BIGTIFF  # its count known: ImageJ's TIFF where it fits
    writer = open_writer(output, overwrite=overwrite, record_drops=True, expected_frames=number if stack else None,
                         metadata=_camera_record(name, cam))
    console = Console(stderr=True, soft_wrap=True, highlight=False)
    if note:
        console.print(f"[bold yellow]note:[/] {note}")
    ended = ""
    grabbed = started = False
    try:
        with cam.recording(), Progress(TextColumn("grabbing"), BarColumn(), MofNCompleteColumn(),
                                       TimeRemainingColumn(), console=console) as progress:
            started = True
            bar = progress.add_task("grab", total=number)
            out = np.empty(cam.frame_shape, cam.dtype)
            for _ in range(number):
                try:
                    frame = cam.grab(out=out)
                except EndOfFrames as exc:  # a finite camera (a replayed file) ended first
                    ended = str(exc)
                    break
                writer.write(frame, frame.meta)
                progress.advance(bar)
        grabbed = True
    except BaseException as exc:  # Ctrl-C, SIGTERM (whatever it broke into), a server that stopped: the file's frames
        if started and (interrupted() or isinstance(exc, (KeyboardInterrupt, CameraError))):
            console.print(f"{'stopped' if isinstance(exc, CameraError) else 'interrupted'}: "
                          f"{_held(writer, cam.stats, number, output)}")
        raise
    finally:
        writer.close()
        cam.close()
        if not grabbed and new and not getattr(writer, "frames", 1) and os.path.isfile(file):  # refused before a
            os.unlink(file)  # frame (the camera leased to another client): no empty file left behind
    stats = cam.stats
    if ended:
        console.print(f"the camera ended after {stats.received} of {number} frames: {ended}")
    console.print(f"{stats.received} frames of {cam.frame_shape} {cam.dtype} written to {output}")
    console.print(stats.summary())
    report = getattr(cam, "server_report", None) or {}
    if report.get("late"):  # unbuffered on the server: the rate reached is explained there, not here
        console.print(f"[bold yellow]warning:[/] the server's camera grabbed {report['late']} of the {report.get('sent')} "
                      "frames it sent later than its frame rate allows (unbuffered there: record buffered, or ask a "
                      "lower rate)")
    for warning in _drop_warnings(stats, getattr(cam, "stream_lost", None),
                                  (getattr(cam, "_stream_info", None) or {}).get("mode") == "push"):
        console.print(f"[bold red]warning:[/] {warning}")


#: frames no recording takes (50 days at 1000 frames/s): an -n beyond it that does not fit is no count
COUNTLESS = 2**32


def _room_note(output: str, overwrite: bool, number: int, cam: Any) -> str | None:
    """The -n frames against the free space of the output's disk, measured as `ufo reco` measures its
    slices' room: None where they fit. -n 99999999999999999999 was taken and filled a VM's root disk
    to the writers' reserve in under a minute; such an -n, past `COUNTLESS`, is refused (exit 2) with
    the -n that fits. A smaller one that does not fit is what a beamline scientist types for a grab
    meant to run until Ctrl-C (-n 100000 of a pco.edge is 1.1 TB): it runs, told so up front, and
    stops at Ctrl-C or cleanly once the disk is full, its frames intact, as a writer stops there."""
    from ..reco.output_checks import HEADROOM, PER_SLICE, output_folder, replaced_bytes, size_text
    from ..storage.formats import FileKind, parse_output_path

    h, w = cam.frame_shape
    each = h * w * cam.dtype.itemsize + (PER_SLICE if parse_output_path(output).kind is FileKind.TIFF_SEQUENCE else 0)
    need = number * each + HEADROOM
    folder = output_folder(output)
    try:
        free = shutil.disk_usage(folder).free
    except (OSError, ValueError):  # no statvfs there: the writers still stop cleanly at a full disk
        return None
    if need > free and overwrite:  # what the output replaces (a sequence's files counted for a million frames)
        free += replaced_bytes(output, list(range(min(number, 1_000_000))))
    if need <= free:
        return None
    fits = max((free - HEADROOM) // each, 0)
    said = (f"-n {number} frames of {w} x {h} {cam.dtype} need {size_text(need)} ({need} bytes) and the disk of "
            f"'{folder}' (output '{output}') has {size_text(max(free, 0))} ({free} bytes) free")
    if number > COUNTLESS:
        raise UsageError(f"{said}: give -n {fits} or fewer, write to another disk (-o) or free space; to record until "
                         f"Ctrl-C give any -n up to {COUNTLESS} (it stops at Ctrl-C, or cleanly once the disk is "
                         "full, its frames intact)")
    return (f"{said}: the grab runs until Ctrl-C or stops cleanly once the disk is full (after about {fits} frames, "
            f"those intact); -n {fits} or fewer fits")


def _held(writer: Any, stats: Any, number: int, output: str) -> str:
    """What the output holds after a grab stopped early, as the file records it: the frames written and
    the camera's drops between them. A frame grabbed and not written (the stop came between the grab
    and the write, or inside the write, which takes it back) is said apart, with the drops before it:
    the count said was the camera's, 37 dropped where the file said 34."""
    written = int(getattr(writer, "frames", 0))
    after = 0  # dropped before the frames grabbed after the last written (the gaps at positions >= written)
    for position, _, count in reversed(stats.gaps):
        if position < written:
            break
        after += count
    text = f"{written} of {number} frames written to {output}, {stats.dropped - after} dropped by the camera"
    unwritten = stats.received - written
    if unwritten > 0:
        text += (f"; {unwritten} frame(s) grabbed after them were not written (stopped before they were stored)"
                 + (f", nor the {after} dropped before them" if after else ""))
    return text


def _drop_warnings(stats: Any, stream_lost: int | None, push: bool = False) -> list[str]:
    """Where the frames missing between those received were lost. A camera server's (`stream_lost`
    not None) were dropped by its camera, whose ring filled while the stream waited for this grab, or,
    on a pub stream, lost on their way here; they all read "writing did not keep up ... raise
    num-buffers" before, though a ring in the client dropped frames that had crossed the network."""
    lost = stream_lost or 0
    at_camera = stats.dropped - lost
    total = max(stats.received + stats.dropped, 1)
    warnings = []
    if at_camera > 0 and stream_lost is None:
        warnings.append(f"the camera dropped {at_camera} frame(s) ({at_camera / total:.1%}): writing did not keep up; "
                        "lower frames-per-second, raise num-buffers or write to faster storage")
    elif at_camera > 0:
        warnings.append(f"the server's camera dropped {at_camera} frame(s) ({at_camera / total:.1%}): its ring buffer "
                        "filled while the stream waited for this grab (writing or the network did not keep up); "
                        "lower frames-per-second, raise num-buffers (-p num-buffers=N sets the server's) or write to "
                        "faster storage")
    if lost:
        why = ("taken by another receiver connected to the push stream (a viewer?), or lost with a connection"
               if push else "lost on the way (a pub stream drops what a subscriber cannot take in time; serve with "
               "--mode push for every frame)")
        warnings.append(f"{lost} frame(s) the server sent never arrived here ({lost / total:.1%}): {why}")
    return warnings


@camera.command()
@click.argument("name")
@click.option("-n", "--number", type=click.IntRange(1), default=1000, show_default=True, help="Frames to grab.")
@click.option("-p", "--property", "props", multiple=True, help="property=value (repeatable).")
@click.option("--debug", is_flag=True, help="Show full tracebacks.")
@handle_errors
def bench(name: str, number: int, props: tuple[str, ...], debug: bool) -> None:
    """Frames per second, MB/s and dropped frames of a camera."""
    from ..camera.errors import EndOfFrames

    cam = _open(name, props)
    out = np.empty(cam.frame_shape, cam.dtype)
    ended, timed = None, 0  # a finite camera (a file's frames) ends: its frames so far are measured, said
    try:
        with cam.recording():
            cam.grab(out=out)  # the first frame: the camera's start, not its pace
            t0 = time.perf_counter()
            try:
                for _ in range(number):
                    cam.grab(out=out)
                    timed += 1
            except EndOfFrames as exc:
                ended = exc
            seconds = max(time.perf_counter() - t0, 1e-9)
    finally:
        cam.close()
    stats = cam.stats
    table = Table("camera", "frames", "shape", "fps", "fps asked", "MB/s", "dropped")
    table.add_row(name, str(timed), f"{out.shape} {out.dtype}", f"{timed / seconds:.1f}" if timed else "-",
                  f"{stats.fps_asked:g}" if stats.fps_asked else "free",
                  f"{timed * out.nbytes / seconds / 1e6:.1f}" if timed else "-", str(stats.dropped))
    Console().print(table)
    if ended is not None:
        Console(stderr=True).print(f"[yellow]warning:[/] {escape(str(ended))}: {timed} of the {number} frames asked "
                                   "after the first were timed", soft_wrap=True)


@camera.command()
@click.argument("name")
@click.option("-p", "--property", "props", multiple=True, help="property=value (repeatable).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (0.0.0.0 for every interface).")
@click.option("--port", type=click.IntRange(1, 65535), default=5555, show_default=True, help="Control port (REQ/REP).")
@click.option("--stream-port", type=click.IntRange(0, 65535), default=0, help="Frame port (default: port + 1).")
@click.option("--mode", type=click.Choice(["push", "pub"]), default="push", show_default=True,
              help="push: reliable, one receiver per frame; pub: lossy, every subscriber.")
@click.option("--debug", is_flag=True, help="Show full tracebacks.")
@handle_errors
def serve(name: str, props: tuple[str, ...], host: str, port: int, stream_port: int, mode: str, debug: bool) -> None:
    """Serve a camera over ZMQ until Ctrl-C."""
    from ..camera.server import CameraServer

    cam = _open(name, props)
    server = CameraServer(cam, host=host, port=port, stream_port=stream_port or port + 1, mode=mode)
    console = Console(stderr=True)
    console.print(f"serving camera '{name}' {cam.frame_shape} {cam.dtype}: control {server.address}, "
                  f"frames tcp://{host}:{server.stream_port} ({mode}); Ctrl-C stops")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        console.print("stopping")
    finally:
        server.close()
        cam.close()


@camera.command("stop")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address of the camera server.")
@click.option("--port", type=click.IntRange(1, 65535), default=5555, show_default=True, help="Its control port.")
@click.option("--timeout", type=FiniteFloatRange(0.01, 86400), default=5.0, show_default=True, help="Seconds to wait for it.")
@click.option("--debug", is_flag=True, help="Show full tracebacks.")
@handle_errors
def stop(host: str, port: int, timeout: float, debug: bool) -> None:
    """Release a camera server: stop its recording and end its stream, whichever client holds it."""
    import json
    import socket as _socket

    import zmq

    from ..camera import CameraError

    address = f"tcp://{host}:{port}"
    context = zmq.Context()
    req = context.socket(zmq.REQ)
    req.setsockopt(zmq.LINGER, 0)
    try:
        req.connect(address)
        req.send(json.dumps({"cmd": "stop", "force": True,
                             "client": f"'ufo camera stop' on {_socket.gethostname()}"}).encode())
        if not req.poll(int(timeout * 1000)):
            raise CameraError(f"camera server at {address} did not answer within {timeout:g} s; "
                              "is 'ufo camera serve' running there?")
        reply = json.loads(req.recv())
    finally:
        req.close()
        context.term()
    if not reply.get("ok"):
        raise CameraError(f"camera server at {address}: {reply.get('error')}")
    if reply.get("released"):
        click.echo(f"stopped the recording of {reply['released']} after {reply.get('sent', 0)} frame(s); "
                   f"the camera at {address} is free")
    else:
        click.echo(f"the camera at {address} was not recording; it is free")


def _camera_record(name: str, cam: Any) -> dict[str, Any]:
    """What a grab's file records of its camera (NXtomo: detector/camera, binning, count_time; other
    formats their metadata attributes): an NXtomo grab recorded none of it."""
    record: dict[str, Any] = {"camera": name}
    for key, attribute in (("binning", "sensor_horizontal_binning"), ("exposure_time", "exposure_time")):
        try:
            value = getattr(cam, attribute)
            record[key] = float(value.to("s").magnitude if hasattr(value, "to") else value) \
                if key == "exposure_time" else int(value)
        except Exception:  # noqa: BLE001 - a camera without it: not recorded
            continue
    return record
