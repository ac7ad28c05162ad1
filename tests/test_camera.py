"""Cameras: properties and their rules, states, grabbing, ring buffer, plugins, server and net client."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import tifffile

from ufo.camera import CameraError, EndOfFrames, open_camera
from ufo.camera.server import CameraServer
from ufo.core import PropertyError, UsageError
from ufo.camera.scene import Cylinder, Cylinders
from ufo.tomo.phantom import Phantom, PhantomScene


def small(**kw):
    return open_camera("mock", sensor_width=48, sensor_height=32, **kw)


def test_standard_properties_units_ranges_and_rules():
    cam = small(exposure_time="5 ms")
    assert cam.exposure_time == pytest.approx(0.005)
    assert {"sensor-width", "roi-x0", "trigger-source", "num-buffers", "has-streaming", "mirror", "rotate"} <= {
        p["name"] for p in cam.describe()}
    with pytest.raises(PropertyError, match="'sensor-pixel-width' is read-only"):
        cam.sensor_pixel_width = 1e-6
    with pytest.raises(PropertyError, match="one of auto, software, external"):
        cam.trigger_source = "laser"
    with pytest.raises(PropertyError, match="Did you mean 'exposure_time'"):
        cam.set(exposure_tme=1)
    with cam.recording():
        cam.exposure_time = 0.002  # may change while recording
        with pytest.raises(PropertyError, match="cannot change while recording"):
            cam.roi_width = 16
    cam.set(roi_x0=8, roi_width=16, roi_height=8)
    assert cam.frame_shape == (8, 16)
    with pytest.raises(CameraError, match="does not fit"):  # refused when set (it was taken, refused at the start)
        cam.set(roi_width=100)
    assert cam.frame_shape == (8, 16)


def test_grab_into_a_callers_array_with_metadata():
    cam = small()
    out = np.zeros((32, 48), np.uint16)
    with pytest.raises(CameraError, match="not recording"):
        cam.grab()
    with cam.recording():
        first = cam.grab(out=out)
        assert np.shares_memory(first, out) and first.meta["frame_number"] == 0 and "timestamp" in first.meta
        frames = [cam.grab() for _ in range(5)]
    assert [int(f[0, 0]) for f in frames] == [1, 2, 3, 4, 5]  # counter pattern
    with pytest.raises(CameraError, match="wrong|shape"):
        with cam.recording():
            cam.grab(out=np.zeros((3, 3), np.uint16))


def test_frame_rate_is_honoured():
    cam = small(frames_per_second=50)
    with cam.recording():
        cam.grab()
        t0 = time.perf_counter()
        for _ in range(10):
            cam.grab()
        assert time.perf_counter() - t0 >= 0.18  # 10 frames at 50 fps take 0.2 s


def test_ring_buffer_counts_drops_and_never_overwrites():
    cam = small(buffered=True, num_buffers=4, frames_per_second=2000)
    with cam.recording():
        time.sleep(0.1)  # the free-running mock (200 frames due) fills the ring, then drops
        frames = [cam.grab() for _ in range(8)]
        dropped = cam.dropped
    numbers = [f.meta["frame_number"] for f in frames]
    assert numbers[:4] == [0, 1, 2, 3] and numbers[4] > 4  # the gap shows the drops
    assert dropped >= numbers[4] - 4
    assert all(int(f[0, 0]) == n & 0xFFFF for f, n in zip(frames, numbers))  # content matches its number


def test_software_trigger_releases_one_frame_each():
    cam = small(trigger_source="software")
    got = []
    with cam.recording():
        thread = threading.Thread(target=lambda: got.append(cam.grab()))
        thread.start()
        time.sleep(0.1)
        assert not got
        cam.trigger()
        thread.join(2)
        assert len(got) == 1


def test_camera_memory_readout():
    cam = small(memory_frames=5)
    with pytest.raises(CameraError, match="not in readout mode"):
        cam.readout(0)
    with cam.recording():
        for _ in range(7):
            cam.grab()
    cam.start_readout()
    assert cam.recorded_frames == 5
    assert [int(cam.readout(i)[0, 0]) for i in range(5)] == [0, 1, 2, 3, 4]
    with pytest.raises(CameraError, match="index 5"):
        cam.readout(5)
    with pytest.raises(CameraError, match="no internal memory"):
        small().start_readout()


def test_grab_callback_mode():
    cam = small(frames_per_second=200)
    seen = []
    cam.start_grab_callback(seen.append)
    time.sleep(0.2)
    cam.stop_recording()
    assert len(seen) > 5 and [f.meta["frame_number"] for f in seen] == list(range(len(seen)))


def test_mirror_and_rotate():
    cam = small(pattern="gradient")
    with cam.recording():
        plain = np.array(cam.grab())
    cam.set(mirror=True, rotate=90)
    with cam.recording():
        turned = cam.grab()
    np.testing.assert_array_equal(turned, np.rot90(plain[:, ::-1]))


def test_tomography_mode_renders_the_phantom_at_the_stage_angle():
    angle = [0.7]
    cam = open_camera("mock", angle_source=lambda: angle[0], scene=PhantomScene(), sensor_width=64, sensor_height=16,
                      pattern="tomography", flat_level=1000, dark_level=100, attenuation=0.02)
    with cam.recording():
        frame = cam.grab()
        cam.beam = "closed"
        dark = cam.grab()
    expected = 100 + 1000 * np.exp(-0.02 * Phantom(64, height=16).projection(0.7))
    np.testing.assert_allclose(frame, np.rint(expected), atol=1)
    assert frame.meta["angle"] == 0.7 and frame.meta["image_key"] == 0
    assert dark.meta["image_key"] == 2 and np.all(dark == 100)


def test_tomography_mode_without_a_scene_shows_the_cameras_own_cylinders():
    """The camera package renders a scene of its own (closed-form cylinders), no tomography code needed."""
    cam = open_camera("mock", angle_step=0.0, sensor_width=64, sensor_height=16, pattern="tomography",
                      flat_level=1000, dark_level=100, attenuation=0.02)
    with cam.recording():
        frame = cam.grab()
    expected = 100 + 1000 * np.exp(-0.02 * Cylinders().project(0.0, (16, 64)))
    np.testing.assert_allclose(frame, np.rint(expected), atol=1)
    assert frame.min() < 1000 < frame.max()  # the cylinders absorb; the open beam beside them does not
    cylinder = Cylinders((Cylinder(radius=0.25, x=0.1),)).project(np.pi / 2, (4, 40), axis=20)
    chord = 2 * np.sqrt(np.clip(10.0 ** 2 - (np.arange(40) - 20.0) ** 2, 0, None))  # centre x=4 turned onto t=0
    np.testing.assert_allclose(cylinder[1], chord, atol=1e-9)


def test_noise_zingers_and_dead_columns():
    cam = small(pattern="counter", noise=2.0, zingers=3, dead_columns=2)
    with cam.recording():
        frame = cam.grab()
    assert (frame == 0).all(axis=0).sum() >= 2 and (frame == 65535).sum() >= 1


def test_file_camera_replays_then_ends(tmp_path):
    frames = np.arange(4 * 6 * 8, dtype=np.uint16).reshape(4, 6, 8)
    tifffile.imwrite(tmp_path / "s.tif", frames, photometric="minisblack")
    cam = open_camera("file", path=str(tmp_path / "s.tif"))
    assert cam.frame_shape == (6, 8)
    with cam.recording():
        got = [np.array(cam.grab()) for _ in range(4)]
        with pytest.raises(EndOfFrames):
            cam.grab()
    np.testing.assert_array_equal(got, frames)


def test_unknown_camera_lists_the_available_ones():
    with pytest.raises(UsageError, match="Available: file, mock, net, replay"):
        open_camera("nope")


def test_camera_source_task_in_a_pipeline(tmp_path):
    from ufo.core.pipeline import parse

    out = tmp_path / "o.tif"
    parse(f"camera name=mock number=12 settings='sensor-width=40,sensor-height=20' ! write path={out}").run().wait()
    data = tifffile.imread(out)
    assert data.shape == (12, 20, 40) and list(data[:, 0, 0]) == list(range(12))


# -- server and net client --------------------------------------------------------------
def test_server_and_net_client_on_loopback():
    source = small(pattern="counter")
    with CameraServer(source) as server:
        assert server.address.startswith("tcp://127.0.0.1:")
        net = open_camera("net", port=server.port, exposure_time="3 ms")
        assert net.frame_shape == (32, 48) and net.get("exposure_time") == pytest.approx(0.003)
        with pytest.raises(PropertyError, match="read-only"):  # a usage error, as a local camera's (exit 2)
            net.set(sensor_pixel_width=1e-6)
        with net.recording():
            frames = [net.grab() for _ in range(10)]
        assert [int(f[0, 0]) for f in frames] == list(range(10))
        assert [f.meta["frame_number"] for f in frames] == list(range(10))
        net.close()


def test_pub_mode_reaches_every_subscriber():
    with CameraServer(small(frames_per_second=100), mode="pub") as server:
        a = open_camera("net", port=server.port)
        b = open_camera("net", port=server.port)
        a._start()  # subscribe b before the stream starts
        b._mirror(b._request({"cmd": "info"}))
        import zmq

        sub = zmq.Context.instance().socket(zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(f"tcp://127.0.0.1:{server.stream_port}")
        time.sleep(0.2)
        a._stream.poll(3000)
        assert sub.poll(3000)  # the second subscriber receives frames too
        sub.close()
        a._request({"cmd": "stop"})
        a.close()
        b.close()


def test_unreachable_server_times_out_clearly():
    with pytest.raises(CameraError, match="did not answer within 0.2 s"):
        open_camera("net", port=9, timeout=0.2)


SERVER = r"""
import sys
from ufo.camera import open_camera
from ufo.camera.server import CameraServer
server = CameraServer(open_camera("mock", sensor_width=64, sensor_height=32, frames_per_second=200))
print(server.port, flush=True)
server.serve_forever()
"""

CLIENT = r"""
import sys
from ufo.camera import open_camera
cam = open_camera("net", port=int(sys.argv[1]))
cam.start_recording()
while True:
    cam.grab()
    print("frame", flush=True)
"""


def test_server_killed_mid_stream_gives_the_client_a_clear_error():
    proc = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        cam = open_camera("net", port=port, timeout=1.0)
        cam.start_recording()
        cam.grab()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        with pytest.raises(CameraError, match="no frame from the camera server|ended"):
            for _ in range(100):
                cam.grab()
        cam.stop_recording()
    finally:
        proc.kill()


def test_a_client_killed_mid_stream_does_not_stop_the_server():
    source = small(frames_per_second=200)
    with CameraServer(source) as server:
        client = subprocess.Popen([sys.executable, "-c", CLIENT, str(server.port)], stdout=subprocess.PIPE, text=True)
        assert client.stdout.readline().strip() == "frame"
        client.kill()
        client.wait()
        server.handle({"cmd": "stop"}) if source.is_recording else None
        cam = open_camera("net", port=server.port, timeout=2.0)
        with cam.recording():
            assert cam.grab().shape == (32, 48)
        cam.close()


def test_camera_cli_commands(tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "ufo", "camera", *args], capture_output=True, text=True, timeout=60)

    assert run("list").stdout.split() == ["file", "mock", "net", "replay"]
    info = run("info", "mock", "-p", "sensor-width=100")
    assert info.returncode == 0 and "sensor-width" in info.stdout and "100" in info.stdout
    grab = run("grab", "mock", "-n", "5", "-o", str(tmp_path / "g.h5:/data"), "-p", "sensor-width=32", "-p", "sensor-height=16")
    assert grab.returncode == 0, grab.stderr
    import h5py

    with h5py.File(tmp_path / "g.h5") as f:
        assert f["data"].shape == (5, 16, 32) and list(f["data_frame_number"][:]) == [0, 1, 2, 3, 4]
    stack = run("grab", "mock", "-n", "4", "-o", str(tmp_path / "g.tif"), "-p", "sensor-width=32", "-p", "sensor-height=16")
    assert stack.returncode == 0, stack.stderr
    import tifffile

    with tifffile.TiffFile(tmp_path / "g.tif") as tif:  # its count known: a stack ImageJ 1.x opens, not a BigTIFF
        assert tif.is_imagej and not tif.is_bigtiff and len(tif.pages) == 4
    nexus = run("grab", "mock", "-n", "2", "-o", str(tmp_path / "g.nx"), "-p", "sensor-width=32", "-p", "sensor-height=16",
                "-p", "exposure-time=0.02")
    assert nexus.returncode == 0, nexus.stderr
    with h5py.File(tmp_path / "g.nx") as f:  # the camera recorded (it recorded none of it)
        detector = f["entry/instrument/detector"]
        assert detector["camera"][()] == b"mock" and list(detector["count_time"][()]) == pytest.approx([0.02, 0.02])
        assert detector["count_time"].attrs["units"] == "s" and detector["binning"][()] == 1
    bench = run("bench", "mock", "-n", "50", "-p", "pattern=none")
    assert bench.returncode == 0 and "fps" in bench.stdout
    bad = run("info", "mock", "-p", "sensor-widht=3")
    assert bad.returncode == 2 and "Did you mean" in bad.stderr


def test_unbuffered_recording_after_a_buffered_one():
    cam = small(buffered=True, num_buffers=4)
    with cam.recording():
        cam.grab()
    cam.buffered = False
    with cam.recording():
        assert cam.grab().meta["frame_number"] == 0


def test_an_unclocked_buffered_mock_camera_read_slowly_drops_nothing():
    """frames_per_second 0 (as fast as it is read) with a ring: before, the producer made and
    dropped frames as fast as the host could count (376 534 "dropped" in one second, a core
    busy); now a frame is made when a slot is free, and the frames grabbed are consecutive."""
    import time

    from ufo.camera import open_camera

    with open_camera("mock", sensor_width=64, sensor_height=32, frames_per_second=0, buffered=True,
                     num_buffers=4) as camera, camera.recording():
        numbers = []
        for _ in range(8):
            numbers.append(camera.grab().meta["frame_number"])
            time.sleep(0.05)
        assert camera.dropped == 0 and numbers == list(range(8))


def test_a_ring_of_many_slots_holds_the_memory_of_its_unread_frames_only():
    """A continuous scan sets one slot a projection; every slot got an array as the write position
    went round: 2.5 GB held for 300 frames of 2048^2 read as they came (33 GB for a pco.edge scan)."""
    from ufo.camera.ring import RingBuffer

    ring = RingBuffer(300, (64, 64), np.uint16)
    out = np.empty((64, 64), np.uint16)
    made = set()
    for i in range(600):
        slot = ring.free_slot()
        made.add(id(slot))
        slot[...] = i
        ring.commit({"frame_number": i})
        if i % 3 == 2:  # read behind, three at a time
            for _ in range(3):
                meta = ring.take(out, timeout=1)
                assert out[0, 0] == meta["frame_number"]
    assert len(made) <= 3 and sum(b is not None for b in ring.buffers) == 0
    for i in range(300):  # a consumer that stalls: every slot filled, none lost
        ring.free_slot()[...] = i
        ring.commit({"frame_number": i})
    assert ring.free_slot() is None
    assert [ring.take(out, timeout=1)["frame_number"] for _ in range(300)] == list(range(300))


def test_camera_bench_of_a_finite_camera_measures_its_frames(tmp_path):
    """`ufo camera bench file -n 20` of a 5-frame file failed with exit 1 and no table."""
    import subprocess
    import sys

    import tifffile

    tifffile.imwrite(tmp_path / "five.tif", np.zeros((5, 16, 16), np.uint16))
    run = subprocess.run([sys.executable, "-m", "ufo", "camera", "bench", "file", "-p", f"path={tmp_path / 'five.tif'}",
                          "-n", "20"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "file" in run.stdout and "(16, 16) uint16" in run.stdout and "│ 4 " in run.stdout
    assert "4 of the 20 frames asked after the first were timed" in " ".join(run.stderr.split())
