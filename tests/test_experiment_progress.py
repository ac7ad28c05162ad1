"""Seeing a scan: progress updates of a real simulated tomography reach a callback, the run id
and the user's metadata reach the NXtomo file (read back with h5py) and metadata.json."""

from __future__ import annotations

import asyncio
import json
import math

import h5py
import numpy as np
import pytest

from ufo.control import ImageWriter, SimulatedBeamline, Tomography
from ufo.control.progress import ScanProgress, thumbnail
from ufo.control.runinfo import RunRecord, next_number
from ufo.control.scanbar import describe
from ufo.storage.walker import DirectoryWalker

PROJECTIONS, DARKS, FLATS = 24, 2, 3
USER = {"sample": "mouse femur 3", "proposal": "MI-1234", "operator": "A. Operator"}


@pytest.fixture
def sessions(tmp_path, monkeypatch):
    monkeypatch.setenv("UFO_SESSIONS", str(tmp_path / "sessions"))  # the run counter lives there
    return tmp_path / "sessions"


def scan(tmp_path, callback, runs=1, **attach):
    async def main():
        async with SimulatedBeamline(width=32, height=4) as beamline:
            tomo = Tomography(beamline, DirectoryWalker(str(tmp_path / "data")), projections=PROJECTIONS,
                              darks=DARKS, flats=FLATS, metadata=dict(USER))
            record = tomo.attach(RunRecord())
            tomo.attach(ImageWriter())
            monitor = tomo.attach(ScanProgress(callback, **attach))
            names = []
            for _ in range(runs):
                names.append(await tomo.run())
                assert monitor.join()  # the callbacks had the final update of this run
            return tomo, record, monitor, names

    return asyncio.run(main())


def test_progress_updates_reach_a_callback_per_acquisition_with_angles(tmp_path, sessions):
    updates = []
    tomo, record, monitor, _ = scan(tmp_path, updates.append)
    final = updates[-1]
    assert final.final and final.overall.stage == "done" and sum(u.final for u in updates) == 1
    total = DARKS + FLATS + PROJECTIONS
    assert final.overall.current == final.overall.target == total
    assert {n: (p.current, p.target, p.stage) for n, p in final.acquisitions.items()} == {
        "darks": (DARKS, DARKS, "done"), "flats": (FLATS, FLATS, "done"),
        "projections": (PROJECTIONS, PROJECTIONS, "done")}
    assert final.run_id == record.info.run_id and final.scan == "scan_0000" and final.dropped == 0
    # the last projection's angle, in degrees: 180 / 24 * 23
    assert final.angle == pytest.approx(180.0 / PROJECTIONS * (PROJECTIONS - 1), abs=1e-9)
    counts = [u.overall.current for u in updates]
    assert counts == sorted(counts) and final.overall.time_remaining == 0.0
    assert json.loads(json.dumps(final.as_dict()))["acquisitions"]["projections"]["percent"] == 100.0
    picture, meta = monitor.live_frame()
    assert picture.shape == (4, 32) and meta["acquisition"] in ("darks", "flats", "projections")
    assert "done" in describe(final)["run"] and "projections (done)" in describe(final)["projections"]


def test_a_second_run_gets_its_own_updates_and_the_next_number(tmp_path, sessions):
    updates = []
    tomo, record, monitor, names = scan(tmp_path, updates.append, runs=2)
    finals = [u for u in updates if u.final]
    assert [u.scan for u in finals] == names == ["scan_0000", "scan_0001"]
    first, second = (json.loads((tmp_path / "data" / n / "metadata.json").read_text())["run"] for n in names)
    assert second["run_number"] == first["run_number"] + 1 and first["run_uuid"] != second["run_uuid"]
    assert monitor.runs == 2 and finals[1].overall.current == DARKS + FLATS + PROJECTIONS


def test_run_id_sample_proposal_and_operator_are_in_the_nxtomo_and_metadata_json(tmp_path, sessions):
    tomo, record, _, names = scan(tmp_path, None)
    info = record.info
    assert info.run_id == f"run{info.run_number:05d}-{info.run_uuid[:8]}" and len(info.run_uuid) == 32
    with h5py.File(tmp_path / "data" / names[0] / "scan.nx", "r") as f:
        text = lambda path: f[path][()].decode()  # noqa: E731
        assert text("/entry/title") == info.run_id
        assert text("/entry/entry_identifier") == info.run_uuid
        assert text("/entry/experiment_identifier") == "MI-1234"
        assert text("/entry/sample/name") == "mouse femur 3"
        assert f["/entry/user"].attrs["NX_class"] == "NXuser" and text("/entry/user/name") == "A. Operator"
        assert f["/entry/instrument/detector/data"].attrs["run_id"] == info.run_id
    sidecar = json.loads((tmp_path / "data" / names[0] / "metadata.json").read_text())
    assert sidecar["run"].pop("time")
    assert sidecar["run"] == {"run_id": info.run_id, "run_number": info.run_number, "run_uuid": info.run_uuid,
                              "scan": "scan_0000", **USER}


def test_the_run_counter_never_hands_out_a_number_twice(tmp_path):
    from concurrent.futures import ProcessPoolExecutor

    counter = tmp_path / "counter"
    with ProcessPoolExecutor(2) as pool:
        numbers = list(pool.map(next_number, [counter] * 40))
    assert sorted(numbers) == list(range(1, 41))


def test_a_thumbnail_averages_blocks_and_keeps_orientation():
    frame = np.arange(600 * 300, dtype=np.uint16).reshape(600, 300)
    small = thumbnail(frame, 256)
    assert small.shape == (200, 100)  # factor 3
    assert small[0, 0] == pytest.approx(frame[:3, :3].mean()) and small[-1, -1] == pytest.approx(frame[-3:, -3:].mean())
    assert small[0, 1] > small[0, 0] and small[1, 0] > small[0, 1]  # a mirrored picture fails here


def test_a_failing_callback_never_stops_the_scan(tmp_path, sessions):
    def broken(update):
        raise RuntimeError("display gone")

    tomo, _, _, names = scan(tmp_path, broken)
    assert tomo.state == "standby" and any("display gone" in w for w in tomo.progress.warnings)
    assert math.isfinite(tomo.progress.progress().time_elapsed)


SESSION_SCAN = ("tomo = visible(Tomography(beamline, walker({data!r}), projections=12, darks=1, flats=1,"
                " metadata={{'sample': 'bar sample'}}))\ntomo.attach(ImageWriter())\nawait tomo.run()\n")


def test_a_session_shows_a_bar_per_acquisition(tmp_path, sessions):
    """`ufo session start` of the template plus a scan: the bars end on stderr (rich, not a terminal)."""
    import os
    import subprocess
    import sys

    command = [sys.executable, "-m", "ufo", "session"]
    env = {**os.environ, "UFO_SESSIONS": str(sessions), "COLUMNS": "160"}
    subprocess.run([*command, "init", "bars"], env=env, check=True, capture_output=True)
    template = (sessions / "bars.py").read_text()
    (sessions / "bars.py").write_text(template + SESSION_SCAN.format(data=str(tmp_path / "data")))
    result = subprocess.run([*command, "start", "bars", "--non-interactive"], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for line in ("scan_0000 run", "(done)", "projections (done)", "darks (done)", "12/12", "14/14"):
        assert line in result.stderr, result.stderr
    with h5py.File(tmp_path / "data" / "scan_0000" / "scan.nx", "r") as f:
        assert f["/entry/title"][()].decode().startswith("run00001-")


def test_experiments_of_an_interactive_session_become_visible(tmp_path, sessions):
    from ufo.control.session import run_file

    path = tmp_path / "s.py"
    path.write_text("from ufo.control import SimulatedBeamline, Tomography, ImageWriter\n"
                    "beamline = SimulatedBeamline(width=16, height=2)\n"
                    "tomo = Tomography(beamline, None, projections=4, darks=1, flats=1)\n")
    namespace = asyncio.run(run_file(path))
    kinds = [type(a).__name__ for a in namespace["tomo"].addons]
    assert kinds == ["RunRecord", "ScanProgress"] and namespace["tomo"].addons[1].bar


def test_drops_and_a_failed_acquisition_are_in_the_updates():
    """A camera that skips frame numbers 3 and 4, then a second acquisition that breaks."""
    from ufo.control import Acquisition, Experiment
    from ufo.core.framestats import DroppedFramesWarning
    from ufo.core.frame import Image

    async def camera():
        for number in (0, 1, 2, 5, 6):
            yield Image(np.full((2, 3), number, np.uint16), {"frame_number": number, "angle": math.radians(number)})

    async def broken():
        yield Image(np.zeros((2, 3), np.uint16), {"frame_number": 0})
        raise OSError("camera unplugged")

    updates = []
    experiment = Experiment([Acquisition("first", camera, 5), Acquisition("second", broken, 4),
                             Acquisition("third", camera, 5)])
    monitor = experiment.attach(ScanProgress(updates.append))
    with pytest.warns(DroppedFramesWarning), pytest.raises(OSError, match="unplugged"):
        asyncio.run(experiment.run())
    assert monitor.join()
    final = updates[-1]
    assert final.final and final.overall.stage == "failed" and final.dropped == 2
    stages = {name: (p.current, p.stage) for name, p in final.acquisitions.items()}
    assert stages == {"first": (5, "done"), "second": (1, "failed"), "third": (0, "cancelled")}
    assert final.angle is not None  # the latest frame's angle (which one: the lossy addon may skip frames)


def test_run_record_keywords_win_and_unknown_ones_are_refused(tmp_path):
    from ufo.control import Experiment
    from ufo.core.errors import UsageError

    with pytest.raises(UsageError, match="not colour; other metadata goes to"):
        RunRecord(colour="red")
    experiment = Experiment([])
    experiment.metadata = {"sample": "from the experiment", "operator": "B"}
    record = experiment.attach(RunRecord(counter=tmp_path / "n", sample="given here"))
    asyncio.run(experiment.run())
    asyncio.run(experiment.run())
    assert (record.info.sample, record.info.operator, record.info.run_number) == ("given here", "B", 2)
    assert experiment.metadata["run_id"] == record.info.run_id and (tmp_path / "n").read_text() == "2\n"
