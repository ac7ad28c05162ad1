"""HDF5 outputs before their first frame: killed while waiting, or given none.

A writer opened the file at once and held it open for writing until its first frame came (a
reconstruction reads and filters a whole pass first, a camera waits for its first exposure).
HDF5 marks such a file as open for writing: killed then, it opened nowhere (h5py and ufo's
reader both refused it, "already open for write ... h5clear"). A writer that got no frame at
all left an empty .h5 (and an empty .raw) beside the warning "nothing was written".
"""

from __future__ import annotations

import signal
import subprocess
import sys

import h5py
import numpy as np
import pytest

from ufo.storage import open_source

KILLED = """
import os, signal, sys
from ufo.storage.writers import open_writer
w = open_writer(sys.argv[1], overwrite=True, expected_frames=int(sys.argv[2]), layout=sys.argv[3])
if sys.argv[4] == "frame":
    import numpy as np
    w.write(np.full((64, 64), 7, np.float32), {"angle": 0.0})
print("waiting", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("layout", ["plain", "nxtomo"])
@pytest.mark.parametrize("expected", [0, 16], ids=["appending", "laid-out"])
@pytest.mark.parametrize("before", ["new", "old"])
def test_a_writer_killed_before_its_first_frame_leaves_a_file_that_opens(tmp_path, layout, expected, before):
    path = tmp_path / "out.h5"
    if before == "old":  # an earlier result, overwritten: kept whole until the new frames come
        with h5py.File(path, "w") as f:
            f["keep"] = np.arange(5)
    child = subprocess.run([sys.executable, "-c", KILLED, str(path), str(expected), layout, "none"],
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == -signal.SIGKILL and "waiting" in child.stdout, child.stderr
    with h5py.File(path, "r") as f:  # raised "file is already open for write" before
        assert ("keep" in f) == (before == "old")
        if before == "old":
            assert list(f["keep"][()]) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("layout", ["plain", "nxtomo"])
def test_a_writer_killed_after_its_first_frame_keeps_it(tmp_path, layout):
    path = tmp_path / "out.h5"
    child = subprocess.run([sys.executable, "-c", KILLED, str(path), "16", layout, "frame"],
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr
    frames = open_source(f"{path}" if layout == "nxtomo" else f"{path}:/data")
    try:
        assert frames.count == 1
        assert np.all(frames.read(0, slice(None), None) == 7)
    finally:
        frames.close()


@pytest.mark.parametrize("name", ["e.h5", "e.nx", "e.raw", "e.tif", "e.zarr"])
def test_a_run_that_writes_no_frame_leaves_no_file(tmp_path, name):
    out = tmp_path / name
    run = subprocess.run([sys.executable, "-m", "ufo", "run", f"dummy-data number=0 width=8 height=8 ! write path={out}"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "nothing was written" in run.stderr
    assert not out.exists(), sorted(p.name for p in tmp_path.iterdir())


def test_a_file_that_was_there_stays_when_no_frame_comes(tmp_path):
    """Only a file the writer made goes: an old one with overwrite keeps what it held but the data set replaced."""
    out = tmp_path / "e.raw"
    out.write_bytes(b"")
    run = subprocess.run([sys.executable, "-m", "ufo", "run", f"dummy-data number=0 width=8 height=8 ! write path={out} "
                          "overwrite=true"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert out.exists()


@pytest.mark.parametrize("layout", ["plain", "nxtomo"])
def test_a_shared_file_s_first_writer_without_frames_leaves_the_others_frames(tmp_path, layout):
    """Darks, flats and projections side by side: the writer that made the file got no frame and closed
    last; it removed the file, the 3 flats in it (a review of the first fix)."""
    from ufo.storage.writers import open_writer

    path = str(tmp_path / "f.h5")
    darks = open_writer(f"{path}:/darks" if layout == "plain" else path, layout=layout)  # makes the file, gets nothing
    flats = open_writer(f"{path}:/flats", layout="plain")
    for i in range(3):
        flats.write(np.full((4, 5), i, np.float32), {})
    flats.close()
    darks.close()
    with h5py.File(path, "r") as f:
        assert f["flats"].shape == (3, 4, 5)
