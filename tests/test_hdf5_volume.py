"""HDF5 volumes laid out whole and written with pwrite (ufo/storage/hdf5_volume.py): the same file
as frame-by-frame appends, whole frames after a SIGKILL (no h5clear), a full disk, a second writer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from .small_disk import small_disk
from ufo.core.errors import InputError
from ufo.storage import open_source
from ufo.storage.hdf5 import Hdf5Writer
from ufo.storage.hdf5_volume import Hdf5VolumeWriter
from ufo.storage.writers import open_writer

SHAPE = (1024, 1024)  # a slice of a 1024^3 volume: 4 MiB of float32


def frame(i: int, shape: tuple[int, int] = SHAPE) -> np.ndarray:
    rng = np.random.default_rng(i)
    return rng.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("count", [12, 9, 15])  # as announced, fewer, more
def test_a_volume_equals_frame_by_frame_appends(tmp_path, count):
    announced = 12
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    meta = {"program": "test", "units": "1/pixel"}
    w = open_writer(f"{a}:/entry/vol", expected_frames=announced, metadata=meta)
    assert isinstance(w, Hdf5VolumeWriter)
    ref = Hdf5Writer(str(b), "/entry/vol", metadata=meta)
    for i in range(count):
        m = {"angle": 0.25 * i}
        w.write(frame(i), m)
        ref.write(frame(i), m)
    w.close()
    ref.close()
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        assert sorted(fa["entry"].keys()) == sorted(fb["entry"].keys()) == ["vol", "vol_angle"]  # no count left
        assert fa["entry/vol"].shape == fb["entry/vol"].shape == (count, *SHAPE)
        assert fa["entry/vol"].chunks == (1, *SHAPE)
        np.testing.assert_array_equal(fa["entry/vol"][:], fb["entry/vol"][:])
        np.testing.assert_array_equal(fa["entry/vol_angle"][:], 0.25 * np.arange(count))
        cut = {"complete": False, "frames_expected": announced} if count < announced else {}  # says it was cut short
        assert dict(fa["entry/vol"].attrs) == {**dict(fb["entry/vol"].attrs), **cut}
    src = open_source(f"{a}:/entry/vol")
    try:
        assert src.count == count
        said = [f"holds {count} of the {announced} frames its run was to write"] if count < announced else []
        assert [w for w in src.warnings if any(s in w for s in said)] == src.warnings and len(src.warnings) == len(said)
        np.testing.assert_array_equal(src.read(count - 1, slice(None), None), frame(count - 1))
    finally:
        src.close()


_KILLED = """
import sys, time
import numpy as np
from ufo.storage.writers import open_writer
w = open_writer(sys.argv[1] + ":/data", expected_frames=64)
for i in range(64):
    w.write(np.random.default_rng(i).standard_normal((1024, 1024)).astype(np.float32), {})
    print(i + 1, flush=True)
    time.sleep(0.05)
"""


def test_a_killed_writer_leaves_a_closed_file_with_its_whole_frames_counted(tmp_path):
    out = tmp_path / "v.h5"
    child = subprocess.Popen([sys.executable, "-c", _KILLED, str(out)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        for line in child.stdout:
            if int(line) >= 7:
                break
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(10)
    with h5py.File(out, "r") as f:  # opens without h5clear: the file was closed while written
        written = int(f["data_frames_written"][0])
        assert 7 <= written < 64 and f["data"].shape == (64, *SHAPE)
        for i in range(written):
            np.testing.assert_array_equal(f["data"][i], frame(i))
    src = open_source(f"{out}:/data")
    try:
        assert src.count == written
        assert any(f"{written} complete frame(s) of the 64" in w for w in src.warnings)
    finally:
        src.close()


def _fill(path) -> None:
    """Another writer fills the disk, then leaves 512 KiB (room for closing the volume)."""
    with open(path, "wb") as other:
        try:
            while True:
                other.write(b"\0" * (1 << 20))
                other.flush()
        except OSError:
            pass
    os.truncate(path, os.path.getsize(path) - (512 << 10))


def test_the_volume_s_blocks_are_reserved_so_a_full_disk_cannot_cut_it(tmp_path):
    with small_disk(tmp_path, "64m") as disk:
        out = disk / "v.h5"
        w = open_writer(f"{out}:/data", expected_frames=12)  # 48 MiB: laid out, its blocks reserved
        w.write(frame(0), {"angle": 0.5})
        assert os.stat(out).st_blocks * 512 >= 12 * frame(0).nbytes  # reserved, not only sized
        _fill(disk / "other")
        for i in range(1, 12):
            w.write(frame(i), {"angle": 0.5 + i})
        w.close()
        with h5py.File(out, "r") as f:
            assert f["data"].shape == (12, *SHAPE)
            for i in (0, 5, 11):
                np.testing.assert_array_equal(f["data"][i], frame(i))
            np.testing.assert_array_equal(f["data_angle"][:], 0.5 + np.arange(12))


def test_the_room_of_frames_that_never_came_is_given_back(tmp_path):
    with small_disk(tmp_path, "64m") as disk:
        out = disk / "v.h5"
        w = open_writer(f"{out}:/data", expected_frames=12)
        for i in range(3):
            w.write(frame(i), {})
        assert os.stat(out).st_blocks * 512 >= 12 * frame(0).nbytes
        w.close()  # stopped after 3 of 12 (Ctrl-C, a camera that stopped)
        assert os.stat(out).st_blocks * 512 < 4 * frame(0).nbytes
        with h5py.File(out, "r") as f:
            assert f["data"].shape == (3, *SHAPE)
            for i in range(3):
                np.testing.assert_array_equal(f["data"][i], frame(i))


def test_more_than_the_disk_holds_is_not_reserved_and_no_error(tmp_path):
    """A reservation the disk cannot hold returns False: the volume is then written as with
    UFO_PREALLOCATE=0 (the next test), as far as the disk goes, not refused before its first frame."""
    from ufo.storage.preallocate import reserve

    with small_disk(tmp_path, "8m") as disk:
        fd = os.open(disk / "x", os.O_RDWR | os.O_CREAT)
        try:
            assert reserve(fd, 0, 4 << 20)
            assert os.path.getsize(disk / "x") == 0  # the blocks reserved, the size kept
            assert not reserve(fd, 0, 16 << 20)  # more than the disk holds: not reserved, no error
        finally:
            os.close(fd)


def test_a_full_disk_mid_volume_is_one_error_and_the_whole_frames_stay(tmp_path, monkeypatch):
    monkeypatch.setenv("UFO_PREALLOCATE", "0")  # a file system that cannot reserve: the frames take the disk as they go
    with small_disk(tmp_path, "64m") as disk:
        out = disk / "v.h5"
        w = open_writer(f"{out}:/data", expected_frames=12)  # 48 MiB: laid out
        assert isinstance(w, Hdf5VolumeWriter)
        for i in range(3):
            w.write(frame(i), {})
        _fill(disk / "other")
        with pytest.raises(InputError, match=r"is full after 3 frame\(s\); those frames are intact"):
            for i in range(3, 12):
                w.write(frame(i), {})
        w.close()
        with h5py.File(out, "r") as f:
            assert f["data"].shape == (3, *SHAPE)
            for i in range(3):
                np.testing.assert_array_equal(f["data"][i], frame(i))


def test_a_second_writer_is_refused_before_it_touches_the_first_ones_volume(tmp_path):
    out = tmp_path / "v.h5"
    first = open_writer(f"{out}:/data", expected_frames=4)
    first.write(frame(0), {})
    with h5py.File(out, "r") as f:  # HDF5's own file lock (flock) is not the writers' lock: readers open it
        assert int(f["data_frames_written"][0]) == 1
    with pytest.raises(InputError, match="being written by another process"):
        open_writer(f"{out}:/data", expected_frames=4, overwrite=True)
    for i in range(1, 4):
        first.write(frame(i), {})
    first.close()
    with h5py.File(out, "r") as f:
        np.testing.assert_array_equal(f["data"][3], frame(3))


def test_a_second_writer_is_refused_before_the_first_ones_first_frame(tmp_path):
    """`ufo reco` makes its output file at the start and its first slice comes after the last
    projection: a second `ufo reco --overwrite` in between took the still empty file for a killed
    writer's, deleted it and wrote its own; both exited 0, the first's 100 slices lost (a probe)."""
    out = tmp_path / "v.h5"
    first = open_writer(f"{out}:/data", expected_frames=4)  # no frame yet
    with pytest.raises(InputError, match="being written by another process"):
        open_writer(f"{out}:/data", expected_frames=2, overwrite=True)
    for i in range(4):
        first.write(frame(i), {})
    first.close()
    with h5py.File(out, "r") as f:
        assert f["data"].shape[0] == 4
        np.testing.assert_array_equal(f["data"][3], frame(3))


def test_a_volume_cut_short_says_so_and_which_rows_it_holds(tmp_path):
    """Ctrl-C with 64 of 100 slices written: the data set was cut to 64, but its `rows` still said
    1000-1198 and nothing said the volume was incomplete (a probe)."""
    import json

    out = tmp_path / "v.h5"
    rows = {"first": 1000, "last": 1198, "step": 2}
    w = open_writer(f"{out}:/data", expected_frames=100, metadata={"rows": rows})
    for i in range(3):
        w.write(frame(i), {})
    w.close()
    with h5py.File(out, "r") as f:
        attrs = f["data"].attrs
        assert f["data"].shape[0] == 3 and attrs["complete"] == False and attrs["frames_expected"] == 100  # noqa: E712
        assert json.loads(attrs["rows"]) == {"first": 1000, "last": 1004, "step": 2}
    whole = tmp_path / "w.h5"
    w = open_writer(f"{whole}:/data", expected_frames=2, metadata={"rows": rows})
    for i in range(2):
        w.write(frame(i), {})
    w.close()
    with h5py.File(whole, "r") as f:
        assert "complete" not in f["data"].attrs and json.loads(f["data"].attrs["rows"]) == rows


def test_an_endless_stream_is_appended_frame_by_frame(tmp_path):
    out = tmp_path / "v.h5"
    w = open_writer(f"{out}:/data", expected_frames=10**8)  # more than the disk holds: not laid out
    for i in range(3):
        w.write(frame(i, (64, 64)), {})
    w.close()
    with h5py.File(out, "r") as f:
        assert list(f.keys()) == ["data"] and f["data"].shape == (3, 64, 64)


def test_ufo_reco_killed_mid_run_leaves_its_whole_slices_readable_everywhere(tmp_path):
    """SIGKILL to `ufo reco -o slices.h5:/data` while it writes: the file opens in plain h5py (no
    h5clear), its count says how many slices are whole, and those equal an uninterrupted run's."""
    from ufo.bench.stream import render_scan

    scan = tmp_path / "scan.nx"
    axis = render_scan(str(scan), 256, 64, 600)  # about 2 s of writing on one core
    command = [sys.executable, "-m", "ufo", "reco", "--projections", str(scan), "--axis", str(axis),
               "--pass-height", "4", "--threads", "1", "--gpus", "cpu", "-q"]
    t0 = time.monotonic()
    subprocess.run([*command, "--output", f"{tmp_path / 'whole.h5'}:/data"], check=True, capture_output=True)
    whole_run = time.monotonic() - t0
    out = tmp_path / "killed.h5"
    child = subprocess.Popen([*command, "--output", f"{out}:/data"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    written = 0
    try:
        t0 = time.monotonic()
        deadline = t0 + 120
        # killed once 8 slices are counted, or (a writer that keeps no count) well into the writing
        while written < 8 and time.monotonic() < deadline and child.poll() is None and \
                not (out.exists() and time.monotonic() - t0 > 0.7 * whole_run):
            time.sleep(0.02)
            try:
                with h5py.File(out, "r") as f:
                    written = int(f["data_frames_written"][0]) if "data_frames_written" in f else 0
            except (OSError, KeyError):
                continue  # not laid out yet, or h5py has it open for the layout
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(30)
    if child.returncode == 0:
        pytest.skip("the run ended before it could be killed (a fast machine)")
    with h5py.File(out, "r") as f, h5py.File(tmp_path / "whole.h5", "r") as whole:
        count = int(f["data_frames_written"][0])
        assert 1 <= count < 64 and f["data"].shape == whole["data"].shape == (64, 256, 256)
        np.testing.assert_array_equal(f["data"][:count], whole["data"][:count])
        assert np.abs(whole["data"][:count]).max() > 0
