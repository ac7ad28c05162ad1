"""Uncompressed TIFF pages read straight from the file give tifffile's pixels; anything else keeps tifffile."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from ufo.storage.tiff_frames import TiffFrames


@pytest.mark.parametrize("dtype, byteorder, compression, plain", [
    (np.uint16, "<", None, True), (np.float32, "<", None, True), (np.uint8, "<", None, True),
    (np.uint16, ">", None, False), (np.float32, "<", "zlib", False),
])
def test_pages_read_plain_or_by_tifffile_give_the_same_frames(tmp_path, dtype, byteorder, compression, plain):
    rng = np.random.default_rng(2)
    stack = (rng.uniform(0, 200, (5, 12, 20))).astype(dtype)
    path = str(tmp_path / "stack.tif")
    tifffile.imwrite(path, stack, photometric="minisblack", byteorder=byteorder, compression=compression)
    frames = TiffFrames([path])
    assert frames.count == 5 and frames.shape == (12, 20)
    assert (frames._plain[path][0] is not None) == plain  # which reader serves it
    for i in range(5):
        np.testing.assert_array_equal(frames.read(i, slice(None), None), stack[i])
        out = np.empty((12, 20), dtype)
        assert frames.read(i, slice(None), out) is out
        np.testing.assert_array_equal(out, stack[i])
        np.testing.assert_array_equal(frames.read(i, slice(3, 9), None), stack[i, 3:9])  # a band of rows
        np.testing.assert_array_equal(frames.read(i, slice(1, 12, 4), None), stack[i, 1:12:4])  # strided
        wide = np.empty((12, 20), np.float32)  # another dtype: converted
        np.testing.assert_array_equal(frames.read(i, slice(None), wide), stack[i].astype(np.float32))
    frames.close()


def test_a_file_cut_after_opening_is_an_input_error_not_garbage(tmp_path):
    from ufo.core.errors import InputError

    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, np.ones((4, 64, 64), np.uint16), photometric="minisblack")
    frames = TiffFrames([str(path)])
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size - 3 * 64 * 64 * 2)
    np.testing.assert_array_equal(frames.read(0, slice(None), None), 1)
    with pytest.raises(InputError, match="truncated"):
        frames.read(3, slice(None), None)
    frames.close()


def _both_counts(path: str) -> tuple[int, int, list[str], list[str]]:
    """Pages counted from the IFDs (struct) and by tifffile, with the warnings of each."""
    fast = TiffFrames.__new__(TiffFrames)
    fast.warnings, fast._plain = [], {}
    slow = TiffFrames.__new__(TiffFrames)
    slow.warnings, slow._plain = [], {}
    import tifffile as tf

    slow._tifffile = tf
    from ufo.core.errors import InputError

    try:
        counted = slow._pages_by_tifffile(path)
    except InputError:  # no complete page
        counted = 0
    return fast._scan(path), counted, fast.warnings, slow.warnings


@pytest.mark.parametrize("kind", ["classic", "bigtiff", "imagej", "tiled", "rgb", "zlib", "int16"])
def test_the_page_chain_read_from_the_ifds_counts_as_tifffile_does(tmp_path, kind):
    rng = np.random.default_rng(4)
    path = str(tmp_path / f"{kind}.tif")
    stack = rng.integers(0, 1000, (6, 32, 48)).astype(np.int16 if kind == "int16" else np.uint16)
    options = {"classic": {}, "bigtiff": {"bigtiff": True}, "imagej": {"imagej": True}, "tiled": {"tile": (16, 16)},
               "zlib": {"compression": "zlib"}, "int16": {}}.get(kind)
    if kind == "rgb":
        tifffile.imwrite(path, rng.integers(0, 255, (3, 16, 16, 3)).astype(np.uint8), photometric="rgb")
    else:
        tifffile.imwrite(path, stack, photometric="minisblack", **options)
    full = _both_counts(path)
    assert full[0] == full[1] and not full[2] and not full[3]
    size = len(open(path, "rb").read())
    for cut in (size - 1, size * 2 // 3, size // 2, 200):  # a file cut short anywhere
        with open(path, "rb") as src, open(tmp_path / "cut.tif", "wb") as dst:
            dst.write(src.read(cut))
        fast, slow, fast_warn, slow_warn = _both_counts(str(tmp_path / "cut.tif"))
        assert (fast or 0) == slow, (cut, fast, slow)  # None: no complete page, tifffile's way says so
        assert fast_warn or not slow_warn or not slow, (cut, fast_warn, slow_warn)  # damage is always said


def test_a_sequence_of_single_page_files_is_read_plain_and_checked_per_file(tmp_path):
    from ufo.core.errors import InputError

    rng = np.random.default_rng(5)
    stack = rng.uniform(0, 100, (4, 6, 10)).astype(np.float32)
    files = []
    for i, frame in enumerate(stack):
        files.append(str(tmp_path / f"p-{i}.tif"))
        tifffile.imwrite(files[-1], frame, photometric="minisblack", compression="zlib" if i == 2 else None)
    frames = TiffFrames(files)
    assert frames.count == 4
    for i in (0, 1, 3, 2, 0):  # out of order, the compressed one through tifffile
        np.testing.assert_array_equal(frames.read(i, slice(None), None), stack[i])
        np.testing.assert_array_equal(frames.read(i, slice(2, 5), None), stack[i, 2:5])
        pages = frames._plain.get(files[i]) or frames._scanned[1]  # the first file is scanned when counted
        assert (pages[0] is not None) == (i != 2)  # which reader served it
    frames.close()
    tifffile.imwrite(files[3], stack[3, :5], photometric="minisblack")  # another shape
    frames = TiffFrames(files)
    with pytest.raises(InputError, match="shape"):
        frames.read(3, slice(None), None)
    frames.close()


def test_a_damaged_file_in_a_sequence_is_one_error_after_the_frames_before_it(tmp_path):
    """tifffile's own log line ("<tifffile.TiffPages ...> invalid offset ...") came out raw beside
    ufo's error; it is now part of that one error, and the frames before the damaged file are written."""
    import subprocess
    import sys

    import h5py
    import tifffile

    for i in range(12):
        tifffile.imwrite(tmp_path / f"f-{i:03d}.tif", np.full((32, 32), i, np.uint16))
    (tmp_path / "f-007.tif").write_bytes(b"II*\x00garbage")
    out = tmp_path / "out.h5"
    done = subprocess.run([sys.executable, "-m", "ufo", "run", "-q", f"read path={tmp_path}/f-*.tif ! write path={out}:/data"],
                          capture_output=True, text=True)
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert not any(line.startswith("<tifffile") for line in lines), done.stderr
    assert "f-007.tif" in lines[0] and "invalid offset" in lines[0] and "Traceback" not in done.stderr
    with h5py.File(out, "r") as f:
        assert [int(frame[0, 0]) for frame in f["data"]] == list(range(7))


def test_ufo_run_says_its_warnings_when_it_fails(tmp_path):
    """`ufo run` printed its warnings (frames lost, dropped, left out) only when the run succeeded."""
    import subprocess
    import sys

    for i in [*range(5), *range(6, 12)]:  # file 5 missing: a warning
        tifffile.imwrite(tmp_path / f"f-{i:03d}.tif", np.full((16, 16), i, np.uint16))
    (tmp_path / "f-009.tif").write_bytes(b"II*\x00garbage")  # then a failure
    done = subprocess.run([sys.executable, "-m", "ufo", "run", "-q",
                           f"read path={tmp_path}/f-*.tif ! write path={tmp_path}/out.h5:/data"],
                          capture_output=True, text=True)
    assert done.returncode == 1 and "1 number(s) missing" in done.stderr and "f-009.tif" in done.stderr, done.stderr
