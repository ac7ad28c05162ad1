"""Limits that the free space does not show: a file-size limit (EFBIG: `ulimit -f`, RLIMIT_FSIZE, or
the largest file a file system takes) and a quota (EDQUOT, common on GPFS and Lustre). Before, an
HDF5 or NXtomo grab at camera frame sizes (2560 x 2160 uint16, a pco.edge's) under `ulimit -f`
stopped with "Can't decrement id ref count (unable to extend file properly, errno = 27 ...)" and left
a file that neither plain h5py nor ufo's reader opened ("truncated file"), though its frames were
whole (a probe). Now it stops as on a full disk: one error naming the limit, every complete frame
readable everywhere, exit 1.

Real processes under a real limit: each writer runs in a child with RLIMIT_FSIZE set (Python ignores
SIGXFSZ, so the writes fail with EFBIG). The mock camera's counter pattern (frame n holds n
everywhere) lets every frame read back be checked against its number.
"""

from __future__ import annotations

import errno
import os
import re
import resource
import subprocess
import sys

import h5py
import numpy as np
import pytest
import tifffile

import ufo
from ufo.core.errors import InputError
from ufo.storage import open_writer
from ufo.storage.writer_base import disk_error

PCO = ["-p", "sensor-width=2560", "-p", "sensor-height=2160"]
SHAPE = (2160, 2560)
LIMIT = 64 << 20  # five to six pco.edge frames


def under_limit(size: int):
    """A child's start: its files may not grow past `size` bytes (`ulimit -f`)."""
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))


def run_limited(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=180, preexec_fn=under_limit(LIMIT),
                          env={**os.environ, "COLUMNS": "200", **(env or {})})


def limit_after(stderr: str) -> int:
    """The frames the one error says are intact; it names the file-size limit, not a full disk."""
    assert "Traceback (most recent" not in stderr and "is full" not in stderr, stderr
    found = re.findall(r"reached this process's file-size limit \(67108864 bytes, ulimit -f 65536\) "
                       r"after (\d+) frame\(s\); those frames are intact", stderr)
    assert len(found) == 1, stderr
    return int(found[0])


def read_everywhere(path: str) -> list[np.ndarray]:
    """The frames as plain h5py (or tifffile) reads them, checked equal to what ufo's reader reads."""
    file, _, dataset = path.partition(":")
    if file.endswith(".raw"):
        return list(ufo.Reader(path=file, raw_width=SHAPE[1], raw_height=SHAPE[0], raw_dtype="uint16")().collect())
    if file.endswith(".tif"):
        with tifffile.TiffFile(file) as tif:  # an ImageJ stack read by its header's count, as ImageJ reads it
            frames = list(tif.series[0].asarray()) if tif.is_imagej else [page.asarray() for page in tif.pages]
    else:
        with h5py.File(file, "r") as f:  # a plain open: the file was closed whole
            data = f[dataset or "/entry/instrument/detector/data"]
            frames = [data[i] for i in range(data.shape[0])]
    ours = ufo.Reader(path=path)().collect()
    assert len(ours) == len(frames)
    assert all(np.array_equal(a, b) for a, b in zip(ours, frames))
    return frames


def assert_counter(frames: list[np.ndarray], count: int) -> None:
    assert len(frames) == count
    assert all(f.shape == SHAPE and np.all(f == i) for i, f in enumerate(frames))


@pytest.mark.parametrize("name", ["c.h5:/data", "c.nx", "stack.tif", "frames.raw"])
def test_a_file_size_limit_under_camera_grab_is_one_error_and_the_file_opens_everywhere(tmp_path, name):
    """Before: HDF5 and NXtomo files that opened nowhere; a TIFF stack said "writing frame 6 failed:
    5529600 requested and 376584 written" and a raw file "[Errno 27] File too large"."""
    path = str(tmp_path / name)
    done = run_limited([sys.executable, "-m", "ufo", "camera", "grab", "mock", "-n", "20", "-o", path, *PCO])
    assert done.returncode == 1, done.stderr
    written = limit_after(done.stderr)
    assert written >= 4
    assert_counter(read_everywhere(path), written)


def test_the_limit_is_compared_where_the_file_system_takes_no_room_ahead(tmp_path):
    """UFO_PREALLOCATE=0 (as where fallocate is missing): the HDF5 writer takes no room past the
    file's end before a frame, and compares the file-size limit instead."""
    path = str(tmp_path / "c.nx")
    done = run_limited([sys.executable, "-m", "ufo", "camera", "grab", "mock", "-n", "20", "-o", path, *PCO],
                       env={"UFO_PREALLOCATE": "0"})
    assert done.returncode == 1, done.stderr
    assert_counter(read_everywhere(path), limit_after(done.stderr))


VOLUME_CHILD = r"""
import sys, numpy as np
from ufo.core.errors import InputError
from ufo.storage import open_writer
writer = open_writer(sys.argv[1], expected_frames=20)  # more than the limit holds
frame = np.zeros((2160, 2560), np.uint16)
try:
    for i in range(20):
        frame[:] = i
        writer.write(frame, {})
except InputError as exc:
    print(exc, file=sys.stderr)
writer.close()
"""


def test_a_volume_larger_than_the_file_size_limit_is_appended_up_to_it(tmp_path):
    """A plain HDF5 dataset of a known count is laid out whole (`Hdf5VolumeWriter`). Before, laid out
    past the limit, HDF5 could not close the file: a RuntimeError, a file that opened nowhere and a
    SIGSEGV at close."""
    path = str(tmp_path / "v.h5:/data")
    done = run_limited([sys.executable, "-c", VOLUME_CHILD, path])
    assert done.returncode == 0, done.stderr
    assert_counter(read_everywhere(path), limit_after(done.stderr))


GROW_CHILD = r"""
import sys, numpy as np
from ufo.storage import open_writer
writer = open_writer(sys.argv[1] + ":/data")
for i in range(8):
    writer.write(np.full((512, 1024), i, np.uint16), {})
writer.close()
"""


def test_the_room_taken_ahead_of_each_frame_is_given_back_at_close(tmp_path):
    """The HDF5 writer grows its file by a frame and the closing reserve before each frame; the
    file then ends where HDF5 ends it: as large as one written without taking room ahead."""
    sizes = []
    for take in ("1", "0"):
        path = tmp_path / f"take-{take}.h5"
        subprocess.run([sys.executable, "-c", GROW_CHILD, str(path)], check=True, timeout=120,
                       env={**os.environ, "UFO_PREALLOCATE": take})
        sizes.append(path.stat().st_size)
        assert path.stat().st_blocks * 512 < path.stat().st_size + (64 << 10)  # no blocks held past the end
        with h5py.File(path, "r") as f:
            assert [int(f["data"][i, 0, 0]) for i in range(8)] == list(range(8))
    assert sizes[0] == sizes[1]


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_a_write_the_os_refuses_says_what_the_os_said_not_a_full_disk():
    """Before: `ufo camera grab mock -o /proc/out.tif` said "the disk holding '/proc/out.tif' is full
    after 0 frame(s)" (/proc has no blocks at all, so it looked full)."""
    writer = open_writer("/proc/out.tif")
    with pytest.raises(InputError) as raised:
        writer.write(np.zeros((4, 4), np.uint16), {})
    writer.close()
    assert "is full" not in str(raised.value) and "No such file or directory" in str(raised.value)


def test_a_quota_is_named_as_a_quota_not_a_full_disk(tmp_path):
    """EDQUOT, what a write past a user's, group's or fileset's quota gets. No real quota here (it
    needs quota support in the kernel and a user other than root), so the message is checked for
    the error a write gets. Before, it said that the disk was full."""
    message = str(disk_error(str(tmp_path / "c.h5"), 6, OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))))
    assert "quota" in message and "is full" not in message
    assert "after 6 frame(s); those frames are intact" in message


def test_a_short_write_is_a_full_disk_though_room_came_back(tmp_path):
    """tifffile reports a full disk as a short write without an errno; on a shared disk the space was back
    (other writers' files removed, root's reserve) when it was looked at, and the run ended with
    "writing frame 7372 ... failed: 5529600 requested and 1841512 written" (a soak probe, 81.5 GB)."""
    from ufo.storage.writer_base import disk_error

    path = tmp_path / "big.tif"
    path.write_bytes(b"x" * 100)
    said = str(disk_error(str(path), 7372, ValueError("5529600 requested and 1841512 written")))
    assert said.startswith(f"the disk holding '{path}' is full after 7372 frame(s)"), said
    other = str(disk_error(str(path), 3, ValueError("a damaged frame")))  # no limit: the error as it came
    assert other == f"writing frame 3 to '{path}' failed: a damaged frame"


def test_frames_that_cannot_fit_the_disk_are_said_before_the_first_is_written(tmp_path):
    """`ufo run "camera ... number=100000 ! write path=big.tif"` said nothing, wrote 81.5 GB and stopped at
    the full disk; `ufo camera grab` says it up front. The write task says it at its start now."""
    import shutil
    import warnings

    import ufo
    from ufo.storage.writer_base import room_note

    free = shutil.disk_usage(tmp_path).free
    frames = free // (2560 * 2160 * 2) + 10
    note = room_note(str(tmp_path / "sub" / "big.tif"), frames, (2160, 2560), 2)
    assert note is not None and note.startswith(f"{frames} frames of 11.1 MB need") and f"'{tmp_path}'" in note
    assert room_note(str(tmp_path / "small.tif"), 10, (2160, 2560), 2) is None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        source = ufo.task("dummy-data", shape=(64, 64), number=int(free // (64 * 64 * 4) + 10))
        handle = ufo.task("write", path=str(tmp_path / "s.tif"))(source()).run()
        handle.cancel()
        try:
            handle.wait()
        except Exception:  # noqa: BLE001 - cancelled
            pass
    assert any("need" in str(w.message) and "GB free" in str(w.message) for w in caught), [str(w.message) for w in caught]


def test_the_room_note_looks_at_the_disk_of_the_home_a_tilde_names(tmp_path, monkeypatch):
    import shutil

    from ufo.storage.writer_base import room_note

    monkeypatch.setenv("HOME", str(tmp_path))
    frames = shutil.disk_usage(tmp_path).free // 1000 + 10
    note = room_note("~/out/x.h5:/data", frames, (10, 25), 4)
    assert note is not None and f"the disk of '{tmp_path}'" in note, note
