"""`ufo camera grab` and the camera server under faults a probe found (scratch/probe-ctl/REPORT.md,
findings 2-4 and 8): a server shut down mid-grab, a net client that dropped frames the reliable
stream had delivered, counts said after Ctrl-C that differ from the file's, an -n no disk holds,
a % field that is not a frame number.

Real servers (in this process or `ufo camera serve`), real net clients and `ufo camera grab`
processes, talking over 127.0.0.1 ports 11700-11799; signals are real signals.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import h5py
import numpy as np
import pytest
import tifffile

from ufo.camera import CameraError, EndOfFrames, open_camera
from ufo.camera.server import CameraServer
from ufo.core.errors import UsageError


def ufo(*args: str, cwd=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ufo", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for(predicate, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def counter_camera(width: int, height: int, fps: float, buffers: int):
    """A mock camera whose pixels are its frame numbers, buffered, on its own clock."""
    return open_camera("mock", sensor_width=width, sensor_height=height, frames_per_second=fps, buffered=True,
                       num_buffers=buffers, pattern="counter")


def gaps_before(runs: list[tuple[int, int]], last: int) -> list[tuple[int, int]]:
    """The dropped runs (first frame number, count) before frame number `last`."""
    return [(first, count) for first, count in runs if first < last]


def file_counts(path) -> tuple[int, int]:
    """(frames, frames_dropped) of a grab's HDF5 file, checked against its frame numbers' gaps."""
    with h5py.File(path, "r") as f:
        numbers = f["data_frame_number"][()]
        recorded = int(f["data"].attrs.get("frames_dropped", 0))
        assert f["data"].shape[0] == len(numbers)
        assert recorded == (int(numbers[-1]) + 1 - len(numbers) if len(numbers) else 0)
        return len(numbers), recorded


# -- 1. a server shut down mid-grab ---------------------------------------------------------
@pytest.mark.parametrize("sig,port,code", [(signal.SIGTERM, 11700, 143), (signal.SIGINT, 11702, 130)])
def test_a_server_shut_down_mid_grab_fails_the_grab_and_the_frames_stay_intact(tmp_path, sig, port, code):
    """The server ended its stream as a finite camera does at its end: the client said "the camera
    ended after 86 of 100000 frames" and exited 0, which a batch script takes for a complete grab."""
    server = ufo("camera", "serve", "mock", "-p", "sensor-width=256", "-p", "sensor-height=128", "-p",
                 "frames-per-second=200", "-p", "buffered=true", "--port", str(port), "--stream-port", str(port + 1))
    try:
        assert "serving camera" in server.stderr.readline()  # type: ignore[union-attr]
        client = ufo("camera", "grab", "net", "-p", f"port={port}", "-n", "100000", "-o", "out.h5:/data", cwd=tmp_path)
        watcher = open_camera("net", port=port)
        try:
            wait_for(lambda: watcher.server_stats()["sent"] > 40, client)
        finally:
            watcher.close()
        server.send_signal(sig)
        _out, err = client.communicate(timeout=60)
        assert server.wait(30) == code
    finally:
        server.kill()
    assert client.returncode == 1, err
    assert "the camera server was shut down" in err and "cut short" in err, err
    said = re.search(r"stopped: (\d+) of 100000 frames written to out.h5:/data, (\d+) dropped", err)
    assert said, err
    assert (int(said.group(1)), int(said.group(2))) == file_counts(tmp_path / "out.h5"), err
    with h5py.File(tmp_path / "out.h5", "r") as f:  # every frame whole: its pixels are its frame number
        data, numbers = f["data"][()], f["data_frame_number"][()]
    assert len(numbers) > 20 and all((frame == n % 65536).all() for frame, n in zip(data, numbers))


@pytest.mark.parametrize("cmd,who,said,port", [
    ("stop", "'ufo camera stop' on x", "released by 'ufo camera stop' on x", 11704),
    ("start", "beamline script on y", "taken over by beamline script on y", 11720)])
def test_a_camera_released_or_taken_over_by_another_client_fails_the_holders_grab(cmd, who, said, port):
    """A forced start from another client ended the holder's stream as a camera's plain end."""
    with CameraServer(counter_camera(64, 32, 200, 8), port=port, stream_port=port + 1) as server:
        cam = open_camera("net", port=server.port)
        try:
            cam.start_recording()
            cam.grab()
            threading.Timer(0.2, server.handle, ({"cmd": cmd, "force": True, "client": who},),
                            {"remote": True}).start()
            with pytest.raises(CameraError, match=f"{re.escape(said)}.*cut short"):
                for _ in range(2000):
                    cam.grab()
        finally:
            cam.close()
        server.camera.close()


def test_a_finite_camera_s_end_through_the_server_is_still_its_end(tmp_path):
    tifffile.imwrite(tmp_path / "five.tif", np.arange(5 * 8 * 16, dtype=np.uint16).reshape(5, 8, 16))
    source = open_camera("file", path=str(tmp_path / "five.tif"))
    with CameraServer(source, port=11706, stream_port=11707) as server:
        cam = open_camera("net", port=server.port)
        try:
            with cam.recording():
                frames = [cam.grab() for _ in range(5)]
                with pytest.raises(EndOfFrames, match="ended the stream after 5 frames"):
                    cam.grab()
        finally:
            cam.close()
    source.close()
    assert [f.meta["frame_number"] for f in frames] == [0, 1, 2, 3, 4]


def test_a_camera_that_fails_behind_the_server_fails_the_grab_with_its_error(tmp_path):
    """A file camera's damaged frame 3: the server retried it for good at 100 % of a core, told
    nobody, stayed 'recording'; its client failed with "no frame ... within 5 s (server gone?)"."""
    for i in range(6):
        tifffile.imwrite(tmp_path / f"f-{i:03d}.tif", np.full((8, 16), i, np.uint16))
    with open(tmp_path / "f-003.tif", "r+b") as damaged:
        damaged.truncate(200)
    source = open_camera("file", path=str(tmp_path / "f-*.tif"))
    with CameraServer(source, port=11708, stream_port=11709) as server:
        cam = open_camera("net", port=server.port)
        try:
            with pytest.raises(CameraError, match="f-003.tif"):
                with cam.recording():
                    frames = [int(cam.grab()[0, 0]) for _ in range(6)]
            cpu = time.process_time()
            time.sleep(0.5)
            assert time.process_time() - cpu < 0.25  # no thread spinning on the failed camera
            assert server.handle({"cmd": "stats"})["recording"] is False
        finally:
            cam.close()
    source.close()
    assert "frames" not in locals()


@pytest.mark.parametrize("request_, said", [
    ({"number": "abc"}, "number is a whole number of frames >= 1 (or none), not 'abc'"),
    ({"number": -3}, "number is a whole number of frames >= 1 (or none), not -3"),
    ({"lease": "nan"}, "lease is a number of seconds above 0, not 'nan'"),
    ({"lease": float("nan"), "client": "x"}, "lease is a number of seconds above 0, not nan"),
])
def test_a_start_of_no_frames_or_no_lease_is_refused_and_holds_nothing(request_, said):
    """Answered ok: a number of 'abc' killed the stream thread and -3 sent nothing, the camera held
    for good by 'an unnamed client'; a lease of nan released the camera at once."""
    with CameraServer(open_camera("mock", sensor_width=16, sensor_height=8), port=11710, stream_port=11711) as server:
        with pytest.raises(UsageError, match=re.escape(said)):
            server.handle({"cmd": "start", **request_}, remote=True)
        stats = server.handle({"cmd": "stats"})
        assert stats["recording"] is False and stats["holder"] is None, stats


# -- 2. no ring in the net client ------------------------------------------------------------
def read_slowly(port: int, frames: int = 40) -> tuple[object, list[int]]:
    """A net client that takes `frames` frames at about 50 frames/s, slower than the server's camera."""
    cam = open_camera("net", port=port)
    numbers = []
    with cam.recording():
        for _ in range(frames):
            numbers.append(int(cam.grab().meta["frame_number"]))
            time.sleep(0.02)
    cam.close()
    return cam, numbers


def test_a_push_stream_loses_no_delivered_frame_the_server_s_camera_drops_and_counts():
    """The client ran a ring of its own (the server's buffered and num_buffers, mirrored): it read the
    stream as fast as it came and dropped frames that had crossed the network whole ("sent 163, dropped
    0" on the server, 106 dropped by the client's ring), and back-pressure never reached the server."""
    source = counter_camera(512, 512, 400, 4)
    with CameraServer(source, port=11710, stream_port=11711) as server:
        cam, numbers = read_slowly(server.port)
    source.close()
    assert cam.buffered is True and cam.num_buffers == 4  # the server camera's ring, read here
    assert cam.stream_lost == 0 and cam.dropped == 0  # nothing lost after the camera: no ring here
    assert cam.stats.dropped > 0  # the server's camera did drop: the client was slower
    assert cam.stats.dropped_frames == gaps_before(source.stats.dropped_frames, numbers[-1])  # the same frames
    assert cam.server_report["sent"] >= 40 and cam.server_report["camera_dropped"] >= cam.stats.dropped


def test_a_pub_stream_says_apart_what_the_server_s_camera_dropped_and_what_was_lost_on_the_way():
    source = counter_camera(512, 512, 400, 4)
    with CameraServer(source, port=11712, stream_port=11713, mode="pub") as server:
        cam, numbers = read_slowly(server.port)
    source.close()
    at_camera = sum(count for _, count in gaps_before(source.stats.dropped_frames, numbers[-1]))
    assert cam.stats.dropped == at_camera + cam.stream_lost  # each gap is the camera's or the stream's
    assert cam.dropped == 0


@pytest.mark.parametrize("mode,port", [("push", 11714), ("pub", 11716)])
def test_a_grab_says_where_frames_were_lost(tmp_path, mode, port):
    """Through a camera server the warning said "writing did not keep up ... raise num-buffers" for a
    ring in the client. The drops are the server camera's (push), or those and frames a pub stream lost
    on the way; what the warnings count is what the file holds."""
    source = counter_camera(512, 512, 2000, 1)
    with CameraServer(source, port=port, stream_port=port + 1, mode=mode) as server:
        done = subprocess.run([sys.executable, "-m", "ufo", "camera", "grab", "net", "-p", f"port={server.port}",
                               "-n", "150", "-o", "net.h5:/data"], cwd=tmp_path, capture_output=True, text=True,
                              timeout=120)
    source.close()
    assert done.returncode == 0, done.stderr
    frames, dropped = file_counts(tmp_path / "net.h5")
    assert frames == 150 and dropped and f"150 frames received, {dropped} dropped" in done.stderr, done.stderr
    at_camera = re.search(r"the server's camera dropped (\d+) frame\(s\)", done.stderr)
    lost = re.search(r"(\d+) frame\(s\) the server sent never arrived here", done.stderr)
    assert (int(at_camera.group(1)) if at_camera else 0) + (int(lost.group(1)) if lost else 0) == dropped, done.stderr
    assert (mode == "pub" or lost is None) and "writing did not keep up;" not in done.stderr, done.stderr


# -- 3. the counts said after Ctrl-C are the file's ------------------------------------------
def stack_counts(path) -> tuple[int, int]:
    """(frames, frames dropped) of a grab's BigTIFF stack: its pages, and the gaps before its last page's
    frame number (frames go out in order, numbered from 0)."""
    with tifffile.TiffFile(path) as tif:
        pages = len(tif.pages)
        last = json.loads(tif.pages[-1].description)["frame_number"]
        assert int(tif.pages[-1].asarray()[0, 0]) == last % 65536  # the last page is whole
    return pages, last + 1 - pages


def test_the_counts_said_after_ctrl_c_are_the_file_s(tmp_path):
    """The interrupt often lands in the write (the writer takes the frame back) or between the grab and
    the write: the camera had counted that frame and the drops before it, so the message said 37 dropped
    where the file said 34, and the frame grabbed was said nowhere. A BigTIFF stack (-n too large for an
    ImageJ one): its writer counts a page once it is whole (the HDF5 writer's counts keep a frame it
    takes back when the interrupt lands in its flush, a TIFF sequence's miss one renamed as it lands)."""
    rng = random.Random(7)
    for run in range(4):
        out = tmp_path / f"run{run}.tif"
        proc = ufo("camera", "grab", "mock", "-n", "40000", "-o", out.name, "-p", "sensor-width=256", "-p",
                   "sensor-height=256", "-p", "frames-per-second=5000", "-p", "buffered=true", "-p", "num-buffers=1",
                   "-p", "pattern=counter", cwd=tmp_path)
        wait_for(lambda: out.exists() and out.stat().st_size > 2e6, proc)
        time.sleep(rng.uniform(0.3, 1.0))
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        said = re.search(r"interrupted: (\d+) of 40000 frames written to \S+, (\d+) dropped", err)
        assert said and (int(said.group(1)), int(said.group(2))) == stack_counts(out), f"run {run}: {err}"
        out.unlink()


# -- 4. what the output cannot be -------------------------------------------------------------
def test_an_n_no_disk_holds_is_refused_with_the_n_that_fits(tmp_path):
    """-n 99999999999999999999 was taken and filled a VM's root disk in under a minute."""
    done = subprocess.run([sys.executable, "-m", "ufo", "camera", "grab", "mock", "-n", "99999999999999999999",
                           "-o", "big.h5:/data", "-p", "sensor-width=64", "-p", "sensor-height=32", "-p",
                           "frames-per-second=100"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    said = re.search(r"need [\d.]+ [GM]B \((\d+) bytes\) .* has [\d.]+ [GM]B \((\d+) bytes\) free: give -n (\d+) or "
                     "fewer", done.stderr.replace("\n", ""))
    assert said, done.stderr
    need, free, fits = map(int, said.groups())
    assert need > 99999999999999999999 * 64 * 32 * 2 and free == pytest.approx(shutil.disk_usage(tmp_path).free, 0.01)
    assert fits * 64 * 32 * 2 <= free < (fits + 1) * 64 * 32 * 2 + (2 << 20)
    assert "until Ctrl-C" in done.stderr and not (tmp_path / "big.h5").exists()


def test_a_grab_meant_to_run_until_ctrl_c_is_told_where_the_disk_stops_it(tmp_path):
    """-n 4 000 000 000 of a pco.edge's frames is 44 PB: a count of frames (not past 2^32) that no disk
    holds; it runs (until Ctrl-C, or until the disk is full, where a writer stops cleanly) and says so
    before the first frame."""
    proc = ufo("camera", "grab", "mock", "-n", "4000000000", "-o", "long.h5:/data", "-p", "sensor-width=2560", "-p",
               "sensor-height=2160", "-p", "frames-per-second=5", cwd=tmp_path)
    wait_for((tmp_path / "long.h5").exists, proc)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted: " in err, err
    assert err.startswith("note: -n 4000000000 frames of 2560 x 2160 uint16 need ") and \
        "the grab runs until Ctrl-C or stops cleanly once the disk is full (after about " in err, err


@pytest.mark.parametrize("output", ["out-%s.tif", "out-%05i.h5:/data"])
def test_a_percent_field_that_numbers_no_frame_is_refused(tmp_path, output):
    """-o 'out-%s.tif' wrote one stack literally named out-%s.tif."""
    done = subprocess.run([sys.executable, "-m", "ufo", "camera", "grab", "mock", "-n", "2", "-o", output, "-p",
                           "sensor-width=16", "-p", "sensor-height=8"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2, done.stderr
    assert "%05i" in done.stderr and "frame-number field" in done.stderr, done.stderr
    assert list(tmp_path.iterdir()) == []



def test_a_refused_region_leaves_the_server_s_camera_as_it_was():
    """`ufo camera grab net -p roi-x0=5000` was refused (exit 1, "RegionError: ..."), but the value
    stayed on the server's camera: every later client failed on it, `-p roi-x0=0` too, until the
    server was restarted. Now the set is all or none, and a refused value is a usage error."""
    from ufo.core.errors import PropertyError

    with CameraServer(counter_camera(64, 32, 200, 8), port=11724, stream_port=11725) as server:
        first = open_camera("net", port=server.port)
        try:
            with pytest.raises(PropertyError, match="roi-x0=5000 does not fit") as refused:
                first.set(roi_x0=5000, exposure_time=0.5)
            assert "RegionError" not in str(refused.value)
        finally:
            first.close()
        assert server.camera.roi_x0 == 0 and server.camera.exposure_time != 0.5
        second = open_camera("net", port=server.port)
        try:
            with second.recording():
                assert second.grab().shape == (32, 64)
        finally:
            second.close()
        server.camera.close()


def test_a_binned_mock_frame_is_the_unbinned_frame_binned_and_the_file_camera_refuses_to_bin(tmp_path):
    """At 2 x 2 binning the mock's tomography frame was the top-left quarter of the unbinned one
    (up to 1449 counts off, the axis at the edge); the file camera cropped the left half, exit 0."""
    from ufo.tomo.phantom import PhantomScene

    def frame(**settings):
        cam = open_camera("mock", scene=PhantomScene(), sensor_width=128, sensor_height=64, pattern="tomography",
                          angle_step=0.0, **settings)
        with cam.recording():
            grabbed = np.array(cam.grab(), np.float64)
        cam.close()
        return grabbed

    full, binned = frame(), frame(sensor_horizontal_binning=2, sensor_vertical_binning=2)
    assert binned.shape == (32, 64)
    assert np.abs(binned - full.reshape(32, 2, 64, 2).mean(axis=(1, 3))).max() <= 1  # the rounding of counts
    tifffile.imwrite(tmp_path / "f.tif", np.zeros((2, 8, 16), np.uint16))
    with pytest.raises(CameraError, match="does not bin"):
        open_camera("file", path=str(tmp_path / "f.tif"), sensor_horizontal_binning=2).start_recording()


def test_a_buffered_file_camera_loses_no_frame_and_drops_after_the_last_are_counted(tmp_path):
    """A file camera at 0 frames/s (as fast as read) dropped 51 of 60 frames for a slow reader and
    said 0; a finite camera's drops after the last frame received were in no count (17 received,
    24 dropped said of 50)."""
    import time

    with h5py.File(tmp_path / "s.h5", "w") as f:
        f["data"] = np.arange(60, dtype=np.uint16)[:, None, None] * np.ones((1, 8, 16), np.uint16)
    cam = open_camera("file", path=f"{tmp_path / 's.h5'}:/data", buffered=True, num_buffers=4)
    got = []
    with cam.recording(), pytest.raises(EndOfFrames):
        while True:
            got.append(int(cam.grab()[0, 0]))
            time.sleep(0.002)
    assert got == list(range(60)) and cam.stats.dropped == 0
    fast = open_camera("file", path=f"{tmp_path / 's.h5'}:/data", buffered=True, num_buffers=4, frames_per_second=500)
    seen = 0
    with fast.recording(), pytest.raises(EndOfFrames):
        while True:
            fast.grab()
            seen += 1
            time.sleep(0.02)  # slower than the camera's 500 frames/s: it drops, as hardware does
    assert fast.stats.dropped > 0 and seen + fast.stats.dropped == 60 == seen + fast.dropped


def test_the_replay_camera_replays_a_file_rewritten_since_its_last_recording(tmp_path):
    """Its frames were cached by path: a folder rewritten, or a file replaced by more frames of
    another shape, replayed the old frames (or failed "Can't broadcast"), exit 0."""
    folder = tmp_path / "frames"
    folder.mkdir()

    def record(cam):
        with cam.recording():
            got = []
            with pytest.raises(EndOfFrames):
                while True:
                    got.append(int(np.asarray(cam.grab())[0, 0]))
        return got, cam.frame_shape

    for i in range(5):
        tifffile.imwrite(folder / f"f{i}.tif", np.full((8, 16), i, np.uint16))
    cam = open_camera("replay", path=str(folder))
    assert record(cam) == ([0, 1, 2, 3, 4], (8, 16))
    for i in range(7):
        tifffile.imwrite(folder / f"f{i}.tif", np.full((16, 48), 100 + i, np.uint16))
    assert record(cam) == ([100, 101, 102, 103, 104, 105, 106], (16, 48))
    cam.close()
