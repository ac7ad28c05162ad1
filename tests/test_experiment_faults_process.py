"""Experiments under faults that concern the process: a camera that stops delivering must not hang
it for good, and SIGTERM to a plain scan script must leave its NXtomo closed (real subprocesses)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import h5py

HUNG = """
import asyncio, threading
from ufo.camera.mock import MockCamera
from ufo.control import Detector

class HungCamera(MockCamera):
    '''A driver that stops delivering at its third frame and never returns, stop or not.'''

    def _acquire(self, out, number):
        if number >= 2:
            threading.Event().wait()
        return super()._acquire(out, number)

async def main():
    camera = Detector(HungCamera(sensor_width=32, sensor_height=8), "camera", timeout=0.5)
    await camera.connect()
    async with camera.recording():
        for _ in range(3):
            await camera.grab()

asyncio.run(main())
"""

SCAN = """
import asyncio, sys
from ufo.control import ImageWriter, SimulatedBeamline, Tomography
from ufo.storage.walker import DirectoryWalker

async def main():
    bl = await SimulatedBeamline(width=32, height=4).connect()
    tomo = Tomography(bl, DirectoryWalker(sys.argv[1]), projections=5000, darks=2, flats=2)
    tomo.attach(ImageWriter())
    await tomo.run()

asyncio.run(main())
"""


def _env():
    return {**os.environ, "PYTHONPATH": os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", "")}


def test_a_local_camera_that_stops_delivering_times_out_and_the_process_exits(tmp_path):
    script = tmp_path / "hung.py"
    script.write_text(textwrap.dedent(HUNG))
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, env=_env())
    assert time.monotonic() - started < 30  # not joined on the stuck driver
    assert done.returncode == 1, done.stderr[-2000:]
    assert "FrameTimeout" in done.stderr and "no frame within 0.5 s" in done.stderr


def test_sigterm_to_a_plain_scan_script_closes_the_file_and_exits_143(tmp_path):
    script = tmp_path / "scan.py"
    script.write_text(textwrap.dedent(SCAN))
    data = tmp_path / "data"
    process = subprocess.Popen([sys.executable, str(script), str(data)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=_env())
    try:
        path = data / "scan_0000" / "scan.nx"
        deadline = time.monotonic() + 60
        while not path.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        time.sleep(0.5)  # some projections into the file
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 143, err[-2000:]
    with h5py.File(path, "r") as f:  # closed: h5py opens it (an open one: 'already open for write')
        keys = f["/entry/instrument/detector/image_key"][()]
        assert f["/entry"].attrs["run_state"] == "stopped (cancelled)"
    assert 4 < len(keys) < 5004
    record = json.loads((data / "scan_0000" / "metadata.json").read_text())["finish"]
    assert record["experiment_state"] == "cancelled" and record["shutter"]["position"] == "closed"
