"""Ctrl-C or SIGTERM after the last frame, while the run winds up (`ufo demo`'s reconstruction completes
its slices then): the NXtomo file still gets how the run ended and the walker still writes its finish
record, as when the signal comes during the acquisition (docs/control.md).

Before, the cancellation went straight through the winding up: scan.nx held every frame, but
`/entry` had no `run_state`, `run_reason` or expected counts, and metadata.json had no `finish`.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import h5py
import pytest

from ufo.control import ImageWriter, SimulatedBeamline, Tomography
from ufo.control.experiment import Addon
from ufo.storage.walker import walker


class SlowFinish(Addon):
    """An addon that takes its time to finish, as an online reconstruction completing its slices does."""

    def __init__(self) -> None:
        super().__init__()
        self.finishing = asyncio.Event()
        self.finished = False

    async def consume(self, acquisition, frame):
        pass

    async def finish(self, experiment):
        self.finishing.set()
        await asyncio.sleep(60)
        self.finished = True


class SaysFinishing(Addon):
    """An addon whose finish only says that the run winds up; the writer attached after it finishes next."""

    def __init__(self) -> None:
        super().__init__()
        self.finishing = asyncio.Event()

    async def consume(self, acquisition, frame):
        pass

    async def finish(self, experiment):
        self.finishing.set()


class SlowConsume(Addon):
    """A lossless addon that takes 0.2 s a frame: it still has frames queued when the acquisitions end."""

    def __init__(self) -> None:
        super().__init__(queue_size=100)

    async def consume(self, acquisition, frame):
        await asyncio.sleep(0.2)


def entry_attributes(path) -> dict:
    with h5py.File(path, "r") as f:
        return dict(f["entry"].attrs)


def finish_record(scan) -> dict:
    return json.loads((scan / "metadata.json").read_text())["finish"]


def test_a_run_cancelled_while_its_addons_finish_records_how_it_ended(tmp_path):
    async def scan():
        async with SimulatedBeamline(width=32, height=8) as beamline:
            tomo = Tomography(beamline, walker(str(tmp_path)), projections=6, darks=2, flats=2)
            slow = tomo.attach(SlowFinish())  # before the writer, as the demo's reconstruction is
            tomo.attach(ImageWriter("scan.nx"))
            run = asyncio.ensure_future(tomo.run())
            await asyncio.wait_for(slow.finishing.wait(), 60)
            run.cancel()
            with pytest.raises(asyncio.CancelledError):
                await run
            return tomo, slow

    tomo, slow = asyncio.run(scan())
    assert tomo.state == "cancelled" and not slow.finished
    attrs = entry_attributes(tmp_path / "scan_0000" / "scan.nx")
    assert attrs["run_state"] == "stopped (cancelled)" and "cancelled" in attrs["run_reason"]
    assert (attrs["darks_expected"], attrs["flats_expected"], attrs["projections_expected"]) == (2, 2, 6)
    assert attrs["frames_lost"] == 0
    record = finish_record(tmp_path / "scan_0000")
    assert record["run_state"] == "stopped (cancelled)"
    assert record["frames_received"] == {"darks": 2, "flats": 2, "projections": 6}


def test_a_cancellation_while_the_writer_closes_its_file_waits_for_its_record(tmp_path):
    """The cancellation lands in the writer's own finish, while its file closes in a thread: cut
    there, the file was closed but never got the run's state."""
    async def scan():
        async with SimulatedBeamline(width=32, height=8) as beamline:
            tomo = Tomography(beamline, walker(str(tmp_path)), projections=6, darks=2, flats=2)
            says = tomo.attach(SaysFinishing())
            tomo.attach(ImageWriter("scan.nx"))
            run = asyncio.ensure_future(tomo.run())
            await asyncio.wait_for(says.finishing.wait(), 60)
            run.cancel()  # the writer's finish has started: its file is closing
            with pytest.raises(asyncio.CancelledError):
                await run

    asyncio.run(scan())
    attrs = entry_attributes(tmp_path / "scan_0000" / "scan.nx")
    assert attrs["run_state"] == "stopped (cancelled)" and attrs["projections_expected"] == 6
    assert finish_record(tmp_path / "scan_0000")["run_state"] == "stopped (cancelled)"


def test_a_cancellation_while_the_addons_take_their_queued_frames_drops_those_and_records(tmp_path, caplog):
    """Cut while the addons still take the frames queued for them: the slow one drops the rest, counted
    as lost, and ends after the frame in hand; the writer, which has all of them, closes its file."""
    async def scan():
        async with SimulatedBeamline(width=32, height=8) as beamline:
            tomo = Tomography(beamline, walker(str(tmp_path)), projections=6, darks=2, flats=2)
            slow = tomo.attach(SlowConsume())
            writer = tomo.attach(ImageWriter("scan.nx"))
            run = asyncio.ensure_future(tomo.run())
            while tomo.progress.progress().stage != "finishing":
                await asyncio.sleep(0.01)
            run.cancel()
            t0 = time.monotonic()
            with pytest.raises(asyncio.CancelledError):
                await run
            seconds = time.monotonic() - t0
            await asyncio.sleep(0.5)  # no addon goes on taking frames after the run ended
            return tomo, slow, writer, seconds

    tomo, slow, writer, seconds = asyncio.run(scan())
    assert tomo.state == "cancelled" and seconds < 1.0  # the frame in hand (0.2 s), not the 10 queued
    assert writer.frames == 10 and slow.taken < 10
    attrs = entry_attributes(tmp_path / "scan_0000" / "scan.nx")
    assert attrs["run_state"] == "stopped (cancelled)" and attrs["frames_lost"] == 0  # the file has every frame
    record = finish_record(tmp_path / "scan_0000")
    assert record["run_state"] == "stopped (cancelled)"
    assert record["frames_lost"] == {"SlowConsume": 10 - slow.taken}
    said = [r.getMessage() for r in caplog.records if "frames acquired but" in r.getMessage()]
    # an addon that stores nothing lost frames, not the raw data ("not stored" read as the file's loss)
    assert said == [f"scan_0000: frames acquired but not processed (the run stopped): SlowConsume {10 - slow.taken}"]


def frames_in(path) -> int:
    """Frames an NXtomo being written holds now (0 while it cannot be read)."""
    try:
        with h5py.File(path, "r", swmr=True, locking=False) as f:
            return int(f["/entry/instrument/detector/data"].shape[0])
    except (OSError, KeyError):
        return 0


@pytest.mark.parametrize("signame, status", [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_signal_during_the_demos_reconstruction_leaves_the_record(tmp_path, signame, status):
    """The signal comes once the file holds every frame: with the axis found at the end of a 180-degree
    scan, all rows are back-projected then, which takes seconds."""
    projections = 900
    out = tmp_path / "demo"
    env = dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="120")
    proc = subprocess.Popen([sys.executable, "-m", "ufo", "demo", "--size", "160", "--projections", str(projections),
                             "--rows", "all", "-o", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    raw = out / "scan_0000" / "scan.nx"
    try:
        deadline = time.time() + 240
        while frames_in(raw) < projections + 40 and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, f"the demo ended before the signal:\n{proc.communicate()}"
        proc.send_signal(getattr(signal, signame))
        _out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == status, err
    assert "Traceback" not in err
    attrs = entry_attributes(raw)
    assert attrs.get("run_state") == "stopped (cancelled)", attrs
    assert attrs["projections_expected"] == projections
    assert finish_record(out / "scan_0000")["run_state"] == "stopped (cancelled)"
