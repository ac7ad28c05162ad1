"""ufo.storage.prefetch: which files a command line names, in which order, within which budget,
and that its reads bring a file's pages into the page cache (mincore on a real file)."""

from __future__ import annotations

import ctypes
import mmap
import os
import subprocess
import sys

import numpy as np
import pytest

from ufo.storage import prefetch


def test_inputs_come_in_the_order_the_reader_reads_them():
    argv = ["--projections", "p.h5", "--axis", "auto", "--darks=d.h5", "--flats", "f.h5", "--output", "o.h5"]
    assert prefetch.inputs_named(argv) == ["d.h5", "f.h5", "p.h5"]
    assert prefetch.inputs_named(["--projections"]) == []  # a value missing: click says so, not this


def test_files_of_a_dataset_a_directory_a_glob_and_nothing(tmp_path):
    scan = tmp_path / "scan.nx"
    scan.write_bytes(b"x")
    assert prefetch.files_of(f"{scan}:/entry/data/data") == [str(scan)]
    frames = tmp_path / "frames"
    frames.mkdir()
    for name in ("f-10.tif", "f-2.tif", "f-1.tif", "notes.txt"):
        (frames / name).write_bytes(b"x")
    names = [os.path.basename(f) for f in prefetch.files_of(str(frames))]
    assert names == ["f-1.tif", "f-2.tif", "f-10.tif"]  # natural order, frames only
    assert [os.path.basename(f) for f in prefetch.files_of(str(frames / "f-1*.tif"))] == ["f-1.tif", "f-10.tif"]
    assert prefetch.files_of(str(tmp_path / "missing.h5")) == []
    assert prefetch.files_of(str(tmp_path / "store.zarr:/a")) == []


def test_pieces_cover_each_file_once_within_the_budget(tmp_path):
    scan = tmp_path / "scan.h5"
    scan.write_bytes(b"\0" * 1000)
    other = tmp_path / "flats.h5"
    other.write_bytes(b"\0" * 300)
    # an NXtomo file named by three options is advised once
    paths = [f"{scan}:/d", str(other), f"{scan}:/d"]
    pieces = list(prefetch.ranges(paths, budget=10_000, chunk=256))
    assert [(os.path.basename(f), o, n) for f, o, n in pieces] == [
        ("scan.h5", 0, 256), ("scan.h5", 256, 256), ("scan.h5", 512, 256), ("scan.h5", 768, 232),
        ("flats.h5", 0, 256), ("flats.h5", 256, 44)]
    capped = list(prefetch.ranges(paths, budget=600, chunk=256))
    assert sum(n for _, _, n in capped) == 600 and capped[-1] == (str(scan), 512, 88)


def _resident(path: os.PathLike[str]) -> np.ndarray:
    """Whether each page of the file is in the page cache (mincore)."""
    libc = ctypes.CDLL(None, use_errno=True)
    size = os.path.getsize(path)
    page = mmap.PAGESIZE
    with open(path, "rb") as f, mmap.mmap(f.fileno(), size, access=mmap.ACCESS_COPY) as mm:
        address = ctypes.addressof(ctypes.c_char.from_buffer(mm))
        vec = (ctypes.c_ubyte * ((size + page - 1) // page))()
        if libc.mincore(ctypes.c_void_p(address), ctypes.c_size_t(size), vec) != 0:
            pytest.skip(f"mincore failed: errno {ctypes.get_errno()}")
        resident = (np.frombuffer(vec, np.uint8) & 1).astype(bool)
        del address
    return resident


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="dropping a file's pages needs posix_fadvise (Linux)")
def test_reading_ahead_brings_the_file_into_the_page_cache(tmp_path):
    path = tmp_path / "scan.raw"
    size = 64 << 20
    path.write_bytes(np.random.default_rng(0).integers(0, 255, size, dtype=np.uint8).tobytes())
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    if _resident(path).mean() > 0.5:
        pytest.skip("this file system keeps the pages (tmpfs, overlay): nothing to show")
    done = prefetch.read(prefetch.ranges([str(path)], budget=size // 4, chunk=1 << 20))
    assert done == size // 4  # the budget
    pages = _resident(path)
    quarter = len(pages) // 4
    assert pages[:quarter].all()  # the first quarter came in
    assert pages[3 * quarter:].mean() < 0.5  # the last quarter was not read (the kernel's read-ahead aside)


def test_start_only_for_commands_that_read(tmp_path):
    scan = tmp_path / "scan.h5"
    scan.write_bytes(b"\0" * 4096)
    assert prefetch.start(["--projections", str(scan), "--dry-run"]) is None
    assert prefetch.start(["--projections", str(scan), "--cluster", "local:2"]) is None
    assert prefetch.start(["--axis", "auto"]) is None
    thread = prefetch.start(["--projections", str(scan)])
    assert thread is not None and thread.daemon
    thread.join(10)
    assert not thread.is_alive()


def test_ufo_reco_with_a_missing_input_still_names_it(tmp_path):
    """The prefetch skips what does not exist; the command's own error names the file."""
    result = subprocess.run([sys.executable, "-m", "ufo", "reco", "--projections", str(tmp_path / "nope.h5"),
                             "--output", str(tmp_path / "out.h5"), "--axis", "10"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode in (1, 2) and "nope.h5" in result.stderr and "Traceback" not in result.stderr
