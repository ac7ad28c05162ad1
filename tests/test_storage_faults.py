"""Faults at camera frame sizes (2560 x 2160 uint16, a pco.edge's): a full disk under `ufo camera
grab` and `ufo run`, SIGKILL of an ImageJ stack's writer, Ctrl-C in the middle of a BigTIFF page.
Real processes, signals and a real (tmpfs) filesystem; each file is read back and compared
with what the mock camera (pattern counter: frame n holds n everywhere) or dummy-data made."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
import tifffile

import ufo
from ufo.storage import open_source

from .small_disk import small_disk as mounted

PCO = ["-p", "sensor-width=2560", "-p", "sensor-height=2160"]


def ufo_cli(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ufo", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "COLUMNS": "200"}, **kwargs)


@pytest.fixture
def disk_64m(tmp_path):
    """A real 64 MiB filesystem (tmpfs; needs root, as CI has): five to six pco.edge frames."""
    with mounted(tmp_path, "64m") as mount:
        yield mount


def full_after(stderr: str) -> int:
    assert "Traceback" not in stderr, stderr
    found = re.search(r"the disk holding '[^']+' is full after (\d+) frame\(s\)", stderr)
    assert found, stderr
    return int(found.group(1))


@pytest.mark.parametrize("name", ["scan.nx", "frames.h5:/data", "stack.tif"])
def test_a_full_disk_under_camera_grab_is_one_error_and_the_file_opens_everywhere(disk_64m, name):
    """Before: NXtomo met ENOSPC mid-frame, could not close (h5py.File(..., 'r') and swmr=True both
    refused it: 'file is already open for write') and the process died of SIGSEGV after a
    traceback; a BigTIFF said 'writing frame 6 failed: 5529600 requested and 375480 written' and
    left its page chain pointing past the end of the file."""
    path = str(disk_64m / name)
    child = ufo_cli("camera", "grab", "mock", "-n", "20", "-o", path, *PCO)
    _, err = child.communicate(timeout=120)
    assert child.returncode == 1, err
    written = full_after(err)
    assert written >= 4
    if name.endswith(".tif"):
        with tifffile.TiffFile(path) as tif:  # no "invalid page offset" warning: the chain ends cleanly
            # an ImageJ stack (its count known): read as ImageJ reads it, by the count in its header
            frames = list(tif.series[0].asarray()) if tif.is_imagej else [page.asarray() for page in tif.pages]
    else:
        file, _, dataset = path.partition(":")
        with h5py.File(file, "r") as f:  # plain open: the file was closed whole
            data = f[dataset or "/entry/instrument/detector/data"]
            frames = [data[i] for i in range(data.shape[0])]
    assert len(frames) == written
    assert all(f.shape == (2160, 2560) and np.all(f == i) for i, f in enumerate(frames))


def test_a_full_disk_under_an_imagej_stack_keeps_every_complete_frame_readable(disk_64m):
    """`write path=s.tif` with a known count writes a classic ImageJ stack, whose pages other than
    the first are written at close. Before: after the disk filled, ufo's reader (and tifffile)
    saw one frame of the three complete ones."""
    path = str(disk_64m / "s.tif")
    child = ufo_cli("run", "dummy-data shape=2048,2048 number=20 init=random seed=3 ! write path=" + path)
    _, err = child.communicate(timeout=120)
    assert child.returncode == 1, err
    written = full_after(err)
    assert written >= 2
    reader = ufo.Reader(path=path)
    frames = reader().collect()
    assert len(frames) == written
    expected = ufo.DummyData(shape=(2048, 2048), number=written, init="random", seed=3)().collect()
    np.testing.assert_array_equal(frames, expected)


IMAGEJ_CHILD = r"""
import sys, numpy as np
from ufo.storage import open_writer
writer = open_writer(sys.argv[1], expected_frames=100)   # under 4 GB: a classic ImageJ stack
frame = np.zeros((2160, 2560), np.uint16)
for i in range(100):
    frame[:] = i
    writer.write(frame, {})
    print(i, flush=True)
"""


def test_a_killed_imagej_stack_reads_every_frame_reported_written(tmp_path):
    """Before: SIGKILL after 30 frames of 2560 x 2160 left a 330 MB file that read as one frame."""
    path = str(tmp_path / "stack.tif")
    child = subprocess.Popen([sys.executable, "-c", IMAGEJ_CHILD, path], stdout=subprocess.PIPE, text=True)
    reported = -1
    while reported < 30:
        line = child.stdout.readline()
        assert line, "the writer ended early"
        reported = int(line)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    for line in child.stdout:
        reported = int(line)
    reader = ufo.Reader(path=path)
    frames = reader().collect()
    assert len(frames) >= reported + 1
    assert [int(f[0, 0]) for f in frames] == list(range(len(frames)))
    assert all(np.all(f == i) for i, f in enumerate(frames))


def test_ctrl_c_mid_page_leaves_a_bigtiff_without_an_empty_page(tmp_path, caplog):
    """`ufo camera grab` writes in the main thread, so Ctrl-C lands inside a page. Before: the
    file ended with an empty page (tifffile: shape (), no data) after the frames."""
    path = str(tmp_path / "grab.tif")
    child = ufo_cli("camera", "grab", "mock", "-n", "100000", "-o", path, *PCO)
    deadline = time.time() + 60
    while time.time() < deadline and (not os.path.exists(path) or os.path.getsize(path) < 20 * 11059200):
        time.sleep(0.05)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130, err
    assert "Traceback" not in err
    with caplog.at_level(logging.WARNING, logger="tifffile"), tifffile.TiffFile(path) as tif:
        shapes = [page.shape for page in tif.pages]
        frames = [page.asarray() for page in tif.pages]
    assert not caplog.records, caplog.text
    assert len(shapes) >= 20 and set(shapes) == {(2160, 2560)}, shapes[-3:]
    assert all(np.all(f == i) for i, f in enumerate(frames))


def test_a_truncated_tifffile_stack_reads_every_complete_frame(tmp_path):
    """tifffile writes a shaped stack's pixels behind its first page and the other pages' IFDs
    after them: cut at two thirds it read as one frame ('a reconstruction needs many')."""
    frames = np.arange(60, dtype=np.uint16)[:, None, None] * np.ones((1, 64, 80), np.uint16)
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, frames)
    os.truncate(path, os.path.getsize(path) * 2 // 3)
    source = open_source(str(path))
    read = ufo.Reader(path=str(path))().collect()
    assert 30 <= len(read) < 60 and np.array_equal(read, frames[:len(read)])
    assert source.warnings == [f"'{path}' is a stack of 60 frames its writer did not finish (killed, the disk full, "
                               f"or the file truncated); reading its {len(read)} complete frame(s)"]
    tifffile.imwrite(tmp_path / "one.tif", frames[:1])
    assert ufo.Reader(path=str(tmp_path / "one.tif"))().collect().shape == (1, 64, 80)


def test_a_numbered_sequence_with_a_gap_is_said(tmp_path):
    """A frame lost in a copy shifted every later projection's angle without a word."""
    for i in (*range(1, 50), *range(51, 61)):
        tifffile.imwrite(tmp_path / f"frame_{i:06d}.tif", np.full((4, 5), i, np.uint16))
    source = open_source(str(tmp_path))
    assert source.count == 59
    assert source.warnings == [f"'{tmp_path}/frame_N.tif': 1 number(s) missing between 1 and 60 (50); read as 59 "
                               "consecutive frames (a reconstruction spaces their angles evenly by that count: "
                               "restore the missing files)"]
    tifffile.imwrite(tmp_path / "frame_000050.tif", np.full((4, 5), 50, np.uint16))
    assert open_source(str(tmp_path)).warnings == []


class _InterruptedAt(dict):
    """A frame's metadata whose `key` is read when Ctrl-C lands: inside the frame's write."""

    def __init__(self, key, **values):
        super().__init__(**values)
        self.key = key

    def get(self, name, default=None):
        if name == self.key:
            raise KeyboardInterrupt
        return super().get(name, default)


def test_ctrl_c_inside_an_hdf5_frame_leaves_no_frame_without_its_numbers(tmp_path):
    """`ufo camera grab` writes in the main thread: Ctrl-C after a frame's pixels, before its
    time stamp, left `data` one frame longer than `data_frame_number` and `data_timestamp`."""
    from ufo.storage import open_writer

    path = str(tmp_path / "grab.h5")
    writer = open_writer(f"{path}:/data")
    for i in range(3):
        writer.write(np.full((16, 20), i, np.uint16), {"frame_number": i, "timestamp": float(i)})
    with pytest.raises(KeyboardInterrupt):
        writer.write(np.full((16, 20), 3, np.uint16), _InterruptedAt("timestamp", frame_number=3, timestamp=3.0))
    writer.close()
    with h5py.File(path, "r") as f:
        assert f["data"].shape[0] == f["data_frame_number"].shape[0] == f["data_timestamp"].shape[0] == 3
        assert list(f["data_frame_number"][()]) == [0, 1, 2] and np.all(f["data"][2] == 2)


def test_overwrite_replaces_an_hdf5_file_cut_short_before_its_first_frame(tmp_path):
    """A writer killed before its first frame (ufo reco during its first pass) left a file that opened
    nowhere, and --overwrite refused it: 'exists and is not an HDF5 file'. A file that is no HDF5 at
    all is still never replaced."""
    path = tmp_path / "r.h5"
    subprocess.run([sys.executable, "-c", f"import h5py, os; f = h5py.File({str(path)!r}, 'w', libver='latest'); os._exit(0)"],
                   check=True)
    with pytest.raises(OSError):
        h5py.File(path, "r")
    pipeline = f"dummy-data shape=8,8 number=3 ! write path={path}:/data"
    refused = subprocess.run([sys.executable, "-m", "ufo", "run", "-q", pipeline], capture_output=True, text=True)
    assert refused.returncode == 2 and "is an HDF5 file cut short" in refused.stderr and "overwrite=true" in refused.stderr
    done = subprocess.run([sys.executable, "-m", "ufo", "run", "-q", pipeline + " overwrite=true"], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    with h5py.File(path, "r") as f:
        assert f["data"].shape == (3, 8, 8)
    (tmp_path / "notes.h5").write_text("my notes")
    kept = subprocess.run([sys.executable, "-m", "ufo", "run", "-q", f"dummy-data shape=8,8 number=3 ! write "
                           f"path={tmp_path}/notes.h5:/data overwrite=true"], capture_output=True, text=True)
    assert kept.returncode == 2 and (tmp_path / "notes.h5").read_text() == "my notes"


def test_a_second_writer_of_an_hdf5_file_is_refused_before_it_deletes_anything(tmp_path):
    """Another process's writer with overwrite deleted the first one's frames; in the same process a
    second writer of the same data set crashed HDF5. A walker's data sets side by side stay allowed."""
    from ufo.storage import open_writer

    path = str(tmp_path / "x.h5")
    first = open_writer(f"{path}:/data")
    first.write(np.full((4, 4), 7, np.float32), {})
    with pytest.raises(ufo.core.InputError, match="being written by another writer of this process"):
        open_writer(f"{path}:/data", overwrite=True)
    beside = open_writer(f"{path}:/flats")  # another data set of the same file: a walker's way
    beside.write(np.ones((4, 4), np.float32), {})
    beside.close()
    other = subprocess.run([sys.executable, "-c", f"from ufo.storage import open_writer; open_writer({path!r} + ':/data', "
                            "overwrite=True)"], capture_output=True, text=True)
    assert other.returncode == 1 and "is being written by another process" in other.stderr
    first.write(np.full((4, 4), 8, np.float32), {})
    first.close()
    with h5py.File(path, "r") as f:
        assert f["data"].shape == (2, 4, 4) and f["data"][1, 0, 0] == 8 and f["flats"].shape == (1, 4, 4)
    again = subprocess.run([sys.executable, "-c", f"from ufo.storage import open_writer; open_writer({path!r} + ':/data', "
                            "overwrite=True).close()"], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr  # once closed, the file is free


def test_a_second_writer_of_a_zarr_store_is_refused_before_it_deletes_anything(tmp_path):
    """A Zarr store is a folder: its writer claims it (flock) as the HDF5 writer claims its file. A
    second process's writer with overwrite used to delete the first one's chunks under it."""
    import zarr

    from ufo.storage import open_writer

    path = str(tmp_path / "x.zarr")
    first = open_writer(f"{path}:/data")
    first.write(np.full((4, 4), 7, np.float32), {})
    with pytest.raises(ufo.core.InputError, match="being written by another writer of this process"):
        open_writer(f"{path}:/data", overwrite=True)
    other = subprocess.run([sys.executable, "-c", f"from ufo.storage import open_writer; open_writer({path!r} + ':/data', "
                            "overwrite=True)"], capture_output=True, text=True)
    assert other.returncode == 1 and "is being written by another process" in other.stderr
    first.write(np.full((4, 4), 8, np.float32), {})
    first.close()
    data = zarr.open_array(f"{path}/data", mode="r")
    assert data.shape == (2, 4, 4) and data[0, 0, 0] == 7 and data[1, 0, 0] == 8
    again = subprocess.run([sys.executable, "-c", f"from ufo.storage import open_writer; w = open_writer({path!r} + "
                            "':/data', overwrite=True); w.close()"], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr  # once closed, the store is free


def test_a_zarr_append_after_a_writer_was_killed_goes_after_its_whole_frames(tmp_path):
    """A writer killed (or stopped by a full disk) stores whole frames past its last shape record;
    the reader counts them as intact, but an append started at the record and overwrote them."""
    from ufo.storage import open_writer
    from ufo.storage.zarr_frames import ZarrFrames

    path = str(tmp_path / "k.zarr")
    first = open_writer(f"{path}:/data")
    for i in range(10):
        first.write(np.full((16, 16), i, np.float32), {})
    first.release()  # killed: never closed, its record behind its chunks
    assert ZarrFrames(path, "data").count == 10
    more = open_writer(f"{path}:/data", append=True)
    for i in (10, 11):
        more.write(np.full((16, 16), i, np.float32), {})
    more.close()
    frames = ZarrFrames(path, "data")
    assert frames.count == 12
    assert [int(frames.read(i, slice(None), None)[0, 0]) for i in range(12)] == list(range(12))


def test_a_full_disk_leaves_a_zarr_store_without_debris(tmp_path):
    from .small_disk import small_disk

    from ufo.storage.zarr_frames import ZarrFrames

    with small_disk(tmp_path, "8m") as disk:
        path = str(disk / "f.zarr")
        frames = np.arange(20, dtype=np.float32)[:, None, None] * np.ones((1, 512, 512), np.float32)  # 1 MiB each
        with pytest.raises(ufo.core.TaskError, match="full"):
            ufo.Writer(path=f"{path}:/data")(frames).run().wait(timeout=60)
        left = [name for _, _, names in os.walk(path) for name in names]
        assert not [name for name in left if name.endswith(".part")], left
        chunks = [os.path.join(root, name) for root, _, names in os.walk(path) for name in names if name.startswith("c")]
        assert chunks and all(os.path.getsize(c) == 512 * 512 * 4 for c in chunks)  # no chunk cut short
        stored = ZarrFrames(path, "data")
        assert stored.count == len(chunks)
        assert [int(stored.read(i, slice(None), None)[0, 0]) for i in range(stored.count)] == list(range(stored.count))


def test_a_raw_file_keeps_whole_frames_after_a_full_disk_and_a_misaligned_append_is_refused(tmp_path):
    """A full disk left half a frame at the end of a raw file; an append then shifted every frame."""
    from .small_disk import small_disk

    with small_disk(tmp_path, "8m") as disk:
        path = disk / "f.raw"
        frames = np.arange(40, dtype=np.float32)[:, None, None] * np.ones((1, 300, 300), np.float32)  # 351 KiB each
        with pytest.raises(ufo.core.TaskError, match="full"):
            ufo.Writer(path=str(path))(frames).run().wait(timeout=60)
        size = os.path.getsize(path)
        assert size and size % frames[0].nbytes == 0  # whole frames only
        stored = np.fromfile(path, np.float32).reshape(-1, 300, 300)
        np.testing.assert_array_equal(stored, frames[: len(stored)])
    cut = tmp_path / "cut.raw"
    cut.write_bytes(frames[:2].tobytes() + b"\0" * 100)  # a kill in the middle of frame 2
    with pytest.raises(ufo.core.TaskError, match="not a whole number of frames .* line up"):
        ufo.Writer(path=str(cut), append=True)(frames[:1]).run().wait(timeout=20)
    assert cut.stat().st_size == 2 * frames[0].nbytes + 100  # nothing written, nothing cut


def test_ctrl_c_as_a_tiff_sequences_frame_is_renamed_leaves_no_part_file(tmp_path, monkeypatch):
    """`ufo camera grab` into a TIFF sequence, Ctrl-C or SIGTERM between a frame's write and its
    rename: `f-00292.tif.part` stayed, not counted, and a glob of `*.tif*` fed it to the next command."""
    import ufo.storage.writers as writers
    from ufo.storage import open_writer

    writer = open_writer(str(tmp_path / "f-%05i.tif"))
    for i in range(2):
        writer.write(np.full((8, 8), i, np.uint16), {})

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(writers.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        writer.write(np.full((8, 8), 2, np.uint16), {})
    monkeypatch.undo()
    writer.close()
    assert sorted(os.listdir(tmp_path)) == ["f-00000.tif", "f-00001.tif"] and writer.frames == 2
