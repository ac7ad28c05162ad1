"""The inputs read ahead by a child process while `ufo reco` starts (ufo/storage/prefetch.py):
which files, that the child reads them and ends, that it never outlives its command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from ufo.storage import prefetch


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # a zombie (ours, not yet waited for) has gone too
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def test_the_files_asked_for_are_read_once_each_within_the_budget(tmp_path):
    a, b = tmp_path / "a.nx", tmp_path / "b.h5"
    a.write_bytes(b"x" * 1000)
    b.write_bytes(b"y" * 500)
    argv = ["--projections", str(a), "--flats", f"{a}:/entry/data", f"--darks={b}:/d", "--output", str(b)]
    assert prefetch.inputs_asked(argv) == [str(a), f"{a}:/entry/data", f"{b}:/d"]
    chosen = prefetch.files_to_read(prefetch.inputs_asked(argv), 1 << 30)
    assert chosen == [(str(a.resolve()), 1000), (str(b.resolve()), 500)]
    assert prefetch.files_to_read([str(a), str(b)], 1200) == [(str(a.resolve()), 1000), (str(b.resolve()), 200)]
    assert prefetch.files_to_read([str(a), str(b)], 1000) == [(str(a.resolve()), 1000)]
    assert prefetch.files_to_read([str(tmp_path / "none.h5"), str(tmp_path / "none.h5:/d")], 1 << 30) == []


@pytest.mark.parametrize("extra, worth", [
    ([], True),
    (["--slice", "middle"], False),  # one row of each frame
    (["--slice=100"], False),
    (["--region", "1000:1001"], False),
    (["--region=0:2048:16"], False),  # 128 rows
    (["--region", "0:2000"], True),
    (["--region", "100:"], True),  # to the last row: how many is not known here
    (["--region", "a:b"], True),  # the command itself says what is wrong with it
])
def test_a_preview_or_a_narrow_region_reads_no_whole_files(extra, worth):
    """A one-slice preview of a 20 GB scan would otherwise read 10 GB beside its one row a frame."""
    assert prefetch.worth_reading(["--projections", "scan.nx", *extra]) is worth


def test_a_folder_or_a_glob_of_tiffs_is_read_in_name_order(tmp_path):
    folder = tmp_path / "proj"
    folder.mkdir()
    for i in (2, 0, 1):
        (folder / f"p-{i:04d}.tif").write_bytes(bytes(100 + i))
    (folder / ".hidden").write_bytes(b"x")
    (folder / "sub").mkdir()
    names = [(str((folder / f"p-{i:04d}.tif").resolve()), 100 + i) for i in range(3)]
    assert prefetch.files_to_read([str(folder)], 1 << 30) == names
    assert prefetch.files_to_read([str(folder / "p-*.tif")], 1 << 30) == names
    assert prefetch.files_to_read([str(folder / "p-*.tif")], 150) == [names[0], (names[1][0], 50)]
    assert prefetch.files_to_read([str(folder / "q-*.tif")], 1 << 30) == []


def test_the_child_reads_a_folder_with_odd_names(tmp_path):
    folder = tmp_path / "scan ä"
    folder.mkdir()
    for i in range(3):
        (folder / f"frame\t{i}.tif").write_bytes(os.urandom(1 << 16))
    child = prefetch.start([str(folder)], block=4096)
    assert child is not None and len(child.files) == 3
    assert child.process.wait(timeout=30) == 0


def test_the_child_reads_the_file_and_ends(tmp_path):
    path = tmp_path / "scan.raw"
    data = np.random.default_rng(0).integers(0, 65535, 3 << 20, dtype=np.uint16)
    data.tofile(path)
    child = prefetch.start([str(path)], block=1 << 20)
    assert child is not None and child.files == [(str(path.resolve()), data.nbytes)]
    assert child.process.wait(timeout=30) == 0
    child.stop()  # once ended, a no-op
    assert np.array_equal(np.fromfile(path, np.uint16), data)  # read only, never written


def test_stop_ends_a_child_at_once(tmp_path):
    path = tmp_path / "scan.raw"
    path.write_bytes(os.urandom(8 << 20))
    child = prefetch.start([str(path)], block=1)  # one byte a read: minutes of work
    assert child is not None
    time.sleep(0.2)
    assert child.process.poll() is None
    t0 = time.monotonic()
    child.stop()
    assert child.process.returncode is not None and time.monotonic() - t0 < 5


@pytest.mark.skipif(sys.platform != "linux", reason="the parent's death is seen through getppid (Linux)")
def test_the_child_ends_when_its_command_was_killed(tmp_path):
    path = tmp_path / "scan.raw"
    path.write_bytes(os.urandom(8 << 20))
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from ufo.storage import prefetch
        child = prefetch.start([{str(path)!r}], block=1)
        print(child.process.pid, flush=True)
        time.sleep(600)
        """)], stdout=subprocess.PIPE, text=True)
    pid = int(parent.stdout.readline())
    time.sleep(0.3)
    assert not _gone(pid)  # reading one byte a time: far from done
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(pid), "the prefetch child outlived its killed command"

