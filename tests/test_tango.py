"""Tango servers and their clients: real device servers (DeviceTestContext, and `ufo tango`
in child processes), real ZMQ streams on 127.0.0.1, real files."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

tango = pytest.importorskip("tango")
from tango.test_context import DeviceTestContext, MultiDeviceTestContext  # noqa: E402

import ufo  # noqa: E402
from ufo.control import Shutter, Tomography, q  # noqa: E402
from ufo.control.errors import ControlError, LimitError  # noqa: E402
from ufo.control.motors import LinearMotor  # noqa: E402
from ufo.control.remote import RemoteBeamline, RemoteImageWriter, RemoteOnlineReconstruction  # noqa: E402
from ufo.tango.client import (  # noqa: E402
    TangoBackend,
    tango_detector,
    tango_linear_motor,
    tango_reconstruction,
    tango_rotation_motor,
    tango_walker,
)
from ufo.storage.readers import open_source  # noqa: E402
from ufo.tango.camera import UfoCamera  # noqa: E402
from ufo.tango.motor import UfoMotor  # noqa: E402
from ufo.tango.reco import UfoReconstruction  # noqa: E402
from ufo.tango.walker import UfoWalker  # noqa: E402
from ufo.tomo.phantom import Phantom  # noqa: E402

from .reference import assert_matches, line_integrals  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def camera_settings(**values) -> str:
    return json.dumps({"sensor_width": 48, "sensor_height": 4, **values})


def test_camera_properties_are_attributes_with_units_and_limits():
    with DeviceTestContext(UfoCamera, properties={"settings": camera_settings()}, process=False) as cam:
        assert cam.get_attribute_config("exposure_time").unit == "s"
        assert cam.get_attribute_config("sensor_pixel_width").unit == "m"
        cam.exposure_time = 0.25
        assert cam.exposure_time == 0.25
        assert list(cam.frame_shape) == [4, 48]
        with pytest.raises(tango.DevFailed, match="below the minimum"):
            cam.roi_x0 = -1
        with pytest.raises(tango.DevFailed, match="trigger_source.*one of auto, software, external|must be one of"):
            cam.trigger_source = "laser"
        with pytest.raises(tango.DevFailed, match="JSON object"):
            cam.trigger("[1, 2")
        assert cam.state() == tango.DevState.ON


def test_a_buffered_camera_slower_than_the_grab_timeout_streams_every_frame():
    """A buffered camera at 1.5 frames/s (a slow camera, software triggers seconds apart) stopped after
    frame 0 with "no frame arrived within 0.5 s", state FAULT, still recording."""
    from ufo.net.receiver import FrameReceiver

    settings = camera_settings(pattern="counter", buffered=True, frames_per_second=1.5)
    with DeviceTestContext(UfoCamera, properties={"settings": settings}, process=False) as cam:
        endpoint = cam.register_endpoint("tcp://127.0.0.1:0")
        receiver = FrameReceiver(endpoint, timeout=10)
        try:
            cam.record(3)
            deadline = time.monotonic() + 20
            while cam.state() == tango.DevState.RUNNING and time.monotonic() < deadline:
                time.sleep(0.05)
            assert cam.state() != tango.DevState.FAULT, cam.status()
            assert cam.unregister_endpoint(endpoint) == 3
            frames = [int(np.asarray(f)[0, 0]) for f, _ in receiver]
        finally:
            receiver.close()
    assert frames == [0, 1, 2]


def test_registered_endpoints_each_get_every_frame_and_the_end():
    """Two consumers (a zmq-receive graph and a plain receiver) of one camera's recording."""
    from ufo.net.receiver import FrameReceiver
    from ufo.tasks.net import ZmqReceive

    with DeviceTestContext(UfoCamera, properties={"settings": camera_settings(pattern="counter")}, process=False) as cam:
        first = cam.register_endpoint("tcp://127.0.0.1:0")
        second = cam.register_endpoint("tcp://127.0.0.1:0")
        receiver = FrameReceiver(second, timeout=10)
        graph_frames = []
        try:
            handle = ufo.MemoryOut(out=graph_frames)(ZmqReceive(address=first, timeout=10)()).run()
            cam.record(25)
            while cam.state() == tango.DevState.RUNNING:
                time.sleep(0.01)
            assert cam.unregister_endpoint(first) == 25
            assert cam.unregister_endpoint(second) == 25
            frames = [(np.array(f), m) for f, m in receiver]
            handle.wait(10)
        finally:
            receiver.close()
    assert [m["frame_number"] for _, m in frames] == list(range(25))
    assert [int(f[0, 0]) for f, _ in frames] == list(range(25))  # counter pattern: the pixels are the number
    assert [int(np.asarray(f)[0, 0]) for f in graph_frames] == list(range(25))
    with DeviceTestContext(UfoCamera, properties={"settings": camera_settings()}, process=False) as cam:
        with pytest.raises(tango.DevFailed, match="no endpoint tcp://127.0.0.1:1"):
            cam.unregister_endpoint("tcp://127.0.0.1:1")
        with pytest.raises(tango.DevFailed, match="must look like"):
            cam.register_endpoint("127.0.0.1:5000")


def test_tango_motors_move_with_units_report_limits_and_stop():
    devices = [{"class": UfoMotor, "devices": [{"name": "test/ufo/rot", "properties": {"kind": "rotation"}},
                                                {"name": "test/ufo/lin", "properties": {"kind": "linear"}}]}]
    with MultiDeviceTestContext(devices, process=False) as ctx:
        async def main():
            rot = await tango_rotation_motor(ctx.get_device_access("test/ufo/rot"), "rot").connect()
            lin = await LinearMotor("lin", backend=TangoBackend(ctx.get_device_access("test/ufo/lin"))).connect()
            await rot.set_position(0.5 * q.rad)
            assert (await rot.get_position()).to("deg").magnitude == pytest.approx(28.6479, abs=1e-3)
            await lin.set_position(2 * q.cm)
            assert (await lin.get_position()).magnitude == pytest.approx(20.0)
            with pytest.raises(LimitError, match=r"lin: position 1000 mm is outside the limits \[-100 .. 100\] mm; "
                                                 "the device was not moved"):  # was the server's ControlError
                await lin.set_position(1 * q.m)
            assert (await lin.get_position()).magnitude == pytest.approx(20.0)  # not moved
            with pytest.raises(Exception, match="takes .*length"):
                await lin.set_position(3 * q.s)
            with pytest.raises(ControlError, match="wrong: the motor moves in 'deg'.*use a RotationMotor"):
                await tango_linear_motor(ctx.get_device_access("test/ufo/rot"), "wrong").connect()
            raw = ctx.get_device_access("test/ufo/lin")
            with pytest.raises(Exception, match="velocity 0.0 mm/s must be a number above 0"):
                tango.DeviceProxy(raw).write_attribute("velocity", 0.0)  # a plain client (Jive, Taurus): moves were instant
            with pytest.raises(Exception, match="not a finite|finite speed"):
                tango.DeviceProxy(ctx.get_device_access("test/ufo/rot")).start_motion(float("nan"))
            for when, said in ((float("nan"), "no finite number"), (time.time() + 3600, "still to come")):
                with pytest.raises(Exception, match=said):  # was the stage's first position, or where it is now
                    tango.DeviceProxy(ctx.get_device_access("test/ufo/rot")).position_at(when)
            with pytest.raises(LimitError, match=r"position 100.0000001 mm is outside"):  # was '100 mm'
                await lin.set_position(100.0000001 * q.mm)
            await lin.set_velocity(10 * q("mm/s"))
            move = asyncio.ensure_future(lin.set_position(-80 * q.mm))
            await asyncio.sleep(0.3)
            move.cancel()  # cancelling the move stops the motor where it is
            with pytest.raises(asyncio.CancelledError):
                await move
            await asyncio.sleep(0.2)
            stopped = (await lin.get_position()).magnitude
            assert -80 < stopped < 20
            await asyncio.sleep(0.2)
            assert (await lin.get_position()).magnitude == pytest.approx(stopped)
            assert await lin.remote_state() == "on"

        asyncio.run(main())


def _tomography_devices(root, **camera):
    return [
        {"class": UfoCamera, "devices": [{"name": "test/ufo/camera", "properties": {
            "settings": camera_settings(pattern="tomography", axis_offset=1.0, **camera)}}]},
        {"class": UfoMotor, "devices": [{"name": "test/ufo/rotation", "properties": {"kind": "rotation"}},
                                         {"name": "test/ufo/flat", "properties": {"kind": "linear"}}]},
        {"class": UfoWalker, "devices": [{"name": "test/ufo/walker", "properties": {"root": str(root)}}]},
        {"class": UfoReconstruction, "devices": [{"name": "test/ufo/reco"}]},
    ]


@pytest.mark.parametrize("axis", [25.0, "auto"])
def test_remote_tomography_writes_nxtomo_on_the_walker_and_reconstructs_on_the_server(tmp_path, axis):
    """Camera server -> walker server and reconstruction server; the client only moves and triggers."""
    with MultiDeviceTestContext(_tomography_devices(tmp_path), process=False) as ctx:
        access = ctx.get_device_access

        async def main():
            camera = tango_detector(access("test/ufo/camera"), "camera")
            beamline = RemoteBeamline(camera, tango_rotation_motor(access("test/ufo/rotation"), "rotation"),
                                      tango_linear_motor(access("test/ufo/flat"), "flat"), Shutter())
            walker = tango_walker(access("test/ufo/walker"), "walker")
            reco = tango_reconstruction(access("test/ufo/reco"), "reco")
            async with beamline:
                tomo = Tomography(beamline, walker, projections=60, darks=3, flats=3, flats_after=True)
                writer = tomo.attach(RemoteImageWriter(camera, walker))
                online = tomo.attach(RemoteOnlineReconstruction(camera, reco, axis=axis))
                name = await tomo.run()
                return name, writer, online, await reco.slices(), await reco.get_slice(2), walker.current

        name, writer, online, slices, middle, current = asyncio.run(main())

    assert name == "scan_0000" and current.endswith("scan_0000")
    assert writer.frames == 3 + 3 + 60 + 3
    path = tmp_path / "scan_0000" / "scan.nx"
    import h5py

    with h5py.File(path, "r") as f:
        keys = f["/entry/instrument/detector/image_key"][()]
        angles = f["/entry/sample/rotation_angle"][()]
        data = f["/entry/instrument/detector/data"]
        assert data.shape == (69, 4, 48)
        assert list(keys) == [2] * 3 + [1] * 3 + [0] * 60 + [1] * 3
        assert np.allclose(angles[keys == 0], np.arange(60) * 3.0, atol=1e-6)  # degrees in the file
        assert data[0].max() == 100 and data[3].min() == 3100  # dark and flat levels of the simulated detector
        sino = line_integrals(data[keys == 0, 2], data[keys == 2, 2], data[keys == 1, 2])  # the frames of row 2
    assert json.load(open(tmp_path / "scan_0000" / "metadata.json"))["start"]["rotation"]["position"]["unit"] == "degree"
    assert slices.shape == (4, 48, 48) and np.array_equal(slices[2], middle)
    if axis == "auto":
        assert online.found_axis == pytest.approx(25.0, abs=0.3)
    # the phantom's slice, as close as scikit-image's FBP of the frames the walker stored (at the axis
    # used; the found one is checked above); mirrored, shifted, scaled or constant slices fail
    truth = 0.01 * Phantom(48, height=4).slice(z=0)
    assert_matches(slices[2], truth, sino, np.radians(angles[keys == 0]), online.found_axis if axis == "auto" else axis)


def _serve(kind, port, *args):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "ufo", "tango", kind, "--port", str(port), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    address = f"tango://127.0.0.1:{port}/ufo/{kind}/1#dbase=no"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            tango.DeviceProxy(address).state()
            return proc, address
        except tango.DevFailed:
            if proc.poll() is not None:
                raise RuntimeError(proc.stdout.read())
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"ufo tango {kind} did not start")


def _camera_and_walker(tmp_path):
    """A counter camera server at 200 frames/s of 64 x 32 and a walker server writing below `tmp_path`:
    ((camera process, address), (walker process, address))."""
    camera = _serve("camera", free_port(), "-p", "sensor-width=64", "-p", "sensor-height=32",
                    "-p", "pattern=counter", "-p", "frames-per-second=200")
    return camera, _serve("walker", free_port(), "--root", str(tmp_path))


def test_a_camera_server_killed_mid_scan_gives_clear_errors_and_valid_files(tmp_path):
    (camera_proc, camera_address), (walker_proc, walker_address) = _camera_and_walker(tmp_path)
    try:
        async def main():
            camera = await tango_detector(camera_address, "camera").connect()
            walker = await tango_walker(walker_address, "walker").connect()
            await walker.io.write("timeout", 1.0)
            endpoint = await camera.register_endpoint()
            await walker.start_write(endpoint, "frames.h5")
            await camera.start_recording()
            while await walker.frames_written() < 40:
                await asyncio.sleep(0.02)
            camera_proc.send_signal(signal.SIGKILL)
            camera_proc.wait(10)
            with pytest.raises(ControlError, match="not reachable.*ufo tango camera"):
                await camera.stop_recording()
            with pytest.raises(ControlError, match=r"nothing arrived .* for 1 s after (\d+) frame.* are valid"):
                await walker.wait()
            return int(await walker.frames_written())

        written = asyncio.run(main())
    finally:
        for proc in (camera_proc, walker_proc):
            proc.kill()
            proc.wait(10)
    assert written >= 40
    reader = open_source(str(tmp_path / "frames.h5"))
    assert reader.count == written
    for i in range(written):
        frame = reader.read(i, slice(None), None)
        assert frame.shape == (32, 64) and np.all(frame == i)  # every stored frame is complete and in order


def test_a_walker_server_killed_mid_scan_is_reported_and_its_file_stays_readable(tmp_path):
    camera_proc, camera_address = _serve("camera", free_port(), "-p", "sensor-width=64", "-p", "sensor-height=32",
                                         "-p", "pattern=counter", "-p", "frames-per-second=200",
                                         "--stream-timeout", "1")
    walker_proc, walker_address = _serve("walker", free_port(), "--root", str(tmp_path))
    try:
        async def main():
            camera = await tango_detector(camera_address, "camera").connect()
            walker = await tango_walker(walker_address, "walker").connect()
            endpoint = await camera.register_endpoint()
            await walker.start_write(endpoint, "frames.h5")
            await camera.start_recording()
            while await walker.frames_written() < 40:
                await asyncio.sleep(0.02)
            walker_proc.send_signal(signal.SIGKILL)
            walker_proc.wait(10)
            with pytest.raises(ControlError, match="walker: the Tango device .* not reachable.*ufo tango walker"):
                await walker.wait()
            await asyncio.sleep(1.5)
            status = await camera.get("endpoints")
            assert "FAILED: its receiver disconnected" in status[0]  # the camera gave the dead endpoint up at once ...
            assert await camera.remote_state() == "running"  # ... and goes on streaming
            await camera.stop_recording()

        asyncio.run(main())
    finally:
        for proc in (camera_proc, walker_proc):
            proc.kill()
            proc.wait(10)
    reader = open_source(str(tmp_path / "frames.h5"))
    assert reader.count >= 1
    for i in range(reader.count):
        assert np.all(reader.read(i, slice(None), None) == i)


def test_a_walker_server_stopped_by_sigterm_mid_scan_closes_its_file_and_exits_143(tmp_path):
    """SIGTERM (or Ctrl-C) to `ufo tango walker` while it wrote: the stop went unseen while frames
    kept coming (tests/test_wire_reliability.py), the server's shutdown gave up after 5 s and the
    process hung at exit in h5py now and then, its file open for write."""
    import h5py

    (camera_proc, camera_address), (walker_proc, walker_address) = _camera_and_walker(tmp_path)
    try:
        async def main():
            camera = await tango_detector(camera_address, "camera").connect()
            walker = await tango_walker(walker_address, "walker").connect()
            await walker.start_write(await camera.register_endpoint(), "frames.h5")
            await camera.start_recording()
            while await walker.frames_written() < 40:
                await asyncio.sleep(0.02)
            walker_proc.send_signal(signal.SIGTERM)
            walker_proc.wait(30)
            await camera.stop_recording()

        asyncio.run(main())
    finally:
        for proc in (camera_proc, walker_proc):
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
    assert walker_proc.returncode == 143
    with h5py.File(tmp_path / "frames.h5", "r") as f:  # a plain open: the file was closed whole
        data = f["data"]
        assert data.shape[0] >= 40 and all(np.all(data[i] == i) for i in range(data.shape[0]))


def test_cli_explains_missing_options():
    result = subprocess.run([sys.executable, "-m", "ufo", "tango", "walker", "--port", "1"], capture_output=True,
                            text=True)
    assert result.returncode == 2 and "needs --root" in result.stderr
    result = subprocess.run([sys.executable, "-m", "ufo", "tango", "motor"], capture_output=True, text=True)
    assert result.returncode == 2 and "give --port" in result.stderr
    result = subprocess.run([sys.executable, "-m", "ufo", "tango", "camera", "--port", "1", "-p", "colour=red"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "no property 'colour'" in result.stderr


@pytest.mark.parametrize("kind, sig, status", [("motor", signal.SIGINT, 130), ("camera", signal.SIGINT, 130),
                                               ("motor", signal.SIGTERM, 143), ("walker", signal.SIGTERM, 143)])
def test_ctrl_c_stops_a_tango_server_with_exit_130(kind, sig, status, tmp_path):
    """SIGINT to `ufo tango KIND`: Tango shuts the server down itself; before the fix the command
    then exited 0, as if it had ended on its own. SIGTERM exited 0 too; it is 143 now."""
    extra = {"camera": ["-p", "sensor-width=64", "-p", "sensor-height=32"], "walker": ["--root", str(tmp_path)]}
    proc, address = _serve(kind, free_port(), *extra.get(kind, []))
    try:
        proc.send_signal(sig)
        output = proc.communicate(timeout=30)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == status, output
    assert "Traceback" not in output



def test_the_reconstruction_server_refuses_an_angle_span_of_no_scan():
    """angle_span=1e-300 deg was taken: every slice zero, state ON."""
    with DeviceTestContext(UfoReconstruction, process=False) as reco:
        for value in (1e-300, -5.0):
            with pytest.raises(tango.DevFailed, match="give the scan's range"):
                reco.angle_span = value
        with pytest.raises(tango.DevFailed, match="NaN"):  # Tango itself refuses it
            reco.angle_span = float("nan")
        reco.angle_span = 360.0
        assert reco.angle_span == 360.0

