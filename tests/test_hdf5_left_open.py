"""An HDF5 file left open for writing: by a SWMR writer that was killed, or by one still writing.

`ufo camera grab -o scan.h5:/data` killed mid-scan leaves a file whose frames are whole (h5py with
swmr=True and ufo's reader read them) but which plain h5py refuses ("already open for write").
ufo took it for a file killed before its metadata, holding nothing: `ufo camera grab -o
scan.h5:/flats --overwrite` replaced the whole file (13 raw frames gone, exit 0), and without
--overwrite the refusal advised exactly that. The same happened to a file another process was
still writing. Now such a file is never replaced: the refusal names the writing process, or says
what the file holds and how to write into it (h5clear -s).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from ufo.storage import open_source


def _grab(path, *extra, fps=20, number=100):
    return [sys.executable, "-m", "ufo", "camera", "grab", "mock", "-n", str(number), "-o", path,
            "-p", f"frames-per-second={fps}", "-p", "sensor-width=64", "-p", "sensor-height=32", *extra]


def _start_grab(path):
    grab = subprocess.Popen(_grab(f"{path}:/data"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until frames are in the file
        try:
            with h5py.File(path, "r", locking=False, swmr=True) as f:
                if "data" in f and f["data"].shape[0] >= 3:
                    return grab
        except OSError:
            pass
        time.sleep(0.05)
    grab.kill()
    raise AssertionError("the grab wrote no frames")


def _frames(path):
    with h5py.File(path, "r", locking=False, swmr=True) as f:
        return f["data"].shape[0]


@pytest.mark.parametrize("overwrite", [True, False])
def test_a_killed_swmr_writer_s_frames_are_never_replaced(tmp_path, overwrite):
    path = tmp_path / "scan.h5"
    grab = _start_grab(path)
    grab.send_signal(signal.SIGKILL)
    grab.wait()
    held = _frames(path)
    with pytest.raises(OSError):
        h5py.File(path, "r", locking=False).close()  # left open: plain h5py refuses it
    flats = subprocess.run(_grab(f"{path}:/flats", *(["--overwrite"] if overwrite else []), fps=1000, number=3),
                           capture_output=True, text=True, timeout=120)
    assert flats.returncode == 2, flats.stderr
    assert "h5clear -s" in flats.stderr and "/data" in flats.stderr and "Traceback" not in flats.stderr
    assert "--overwrite" not in flats.stderr  # the advice that destroyed the frames
    assert _frames(path) == held
    assert open_source(f"{path}:/data").count == held  # ufo reads them


def test_a_file_being_written_is_never_replaced(tmp_path):
    path = tmp_path / "scan.h5"
    grab = _start_grab(path)
    try:
        flats = subprocess.run(_grab(f"{path}:/flats", "--overwrite", fps=1000, number=3),
                               capture_output=True, text=True, timeout=120)
    finally:
        grab.send_signal(signal.SIGINT)
        grab.wait(timeout=60)
    assert flats.returncode == 2, flats.stderr
    assert f"being written by process {grab.pid}" in flats.stderr
    with h5py.File(path, "r") as f:  # the grab closed it: its frames whole, no /flats
        assert "flats" not in f and f["data"].shape[0] >= 3


KILLED = """
import os, signal, sys
import numpy as np
from ufo.storage.writers import open_writer
w = open_writer(sys.argv[1], overwrite=True, expected_frames=100)
for i in range(40):
    w.write(np.full((16, 8), i, np.float32), {"frame_number": i})
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_frames_appended_to_a_killed_laid_out_volume_follow_its_whole_frames(tmp_path):
    """Appended after the laid-out 100 frames: 60 frames of zeros between, and the count of 40
    frames written kept ufo's reader from the new ones (exit 0, no word)."""
    from ufo.storage.writers import open_writer

    path = f"{tmp_path / 'v.h5'}:/data"
    subprocess.run([sys.executable, "-c", KILLED, path], timeout=120)
    with h5py.File(tmp_path / "v.h5", "r") as f:
        assert f["data"].shape[0] == 100 and int(f["data_frames_written"][0]) == 40  # the case at hand
    with pytest.warns(RuntimeWarning, match="laid out for 100 frames and holds 40"):
        with open_writer(path, append=True) as writer:
            for i in range(5):
                writer.write(np.full((16, 8), 100 + i, np.float32), {"frame_number": 100 + i})
    with h5py.File(tmp_path / "v.h5", "r") as f:
        assert "data_frames_written" not in f
        assert [int(v) for v in f["data"][:, 0, 0]] == [*range(40), *range(100, 105)]
        assert list(f["data_frame_number"][:]) == [*range(40), *range(100, 105)]
    source = open_source(path)
    assert source.count == 45 and int(source.read(44, slice(None), None)[0, 0]) == 104


def test_an_append_cuts_only_its_own_volume_not_one_whose_name_begins_alike(tmp_path):
    """'/recon_b' (100 finished slices) beside a killed '/recon': the append to '/recon' cut both."""
    from ufo.storage.writers import open_writer

    path = tmp_path / "v.h5"
    with open_writer(f"{path}:/data_b") as writer:
        for i in range(100):
            writer.write(np.full((16, 8), i, np.float32), {"index": i})
    subprocess.run([sys.executable, "-c", KILLED, f"{path}:/data"], timeout=120)
    with pytest.warns(RuntimeWarning, match="holds 40 written whole"):
        with open_writer(f"{path}:/data", append=True) as writer:
            writer.write(np.zeros((16, 8), np.float32), {"frame_number": 100})
    with h5py.File(path, "r") as f:
        assert f["data_b"].shape[0] == 100 and f["data_b_index"].shape == (100,)
        assert f["data"].shape[0] == 41
