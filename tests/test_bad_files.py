"""Bad files and session files give one clear error: raw files smaller than a frame, HDF5 paths
that name no image dataset, session files that are not Python."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from ufo.core.errors import InputError, UfoError, UsageError
from ufo.core.pipeline import parse


# -- files -------------------------------------------------------------------------------


def test_a_raw_file_smaller_than_one_frame_is_a_clear_error(tmp_path):
    from ufo.storage.readers import open_source

    small = tmp_path / "small.raw"
    small.write_bytes(b"\0" * 100)
    with pytest.raises(InputError, match="no complete 16x16 uint16 frame"):
        open_source(str(small), 16, 16)
    with pytest.raises(UfoError, match="small.raw"):
        parse(f"read path={small} raw-width=16 raw-height=16 ! null").run().wait()
    tail = tmp_path / "tail.raw"
    tail.write_bytes(b"\0" * (16 * 16 * 2 + 3))
    source = open_source(str(tail), 16, 16)
    assert source.count == 1 and "incomplete frame" in source.warnings[0]


@pytest.fixture
def odd_h5(tmp_path):
    path = tmp_path / "odd.h5"
    with h5py.File(path, "w") as f:
        f.create_group("group/inner")
        f["scalar"] = 3.0
        f["bytes"] = np.array([[b"ab", b"cd"], [b"ef", b"gh"]])
        f.create_dataset("text", data=[["a", "b"], ["c", "d"]], dtype=h5py.string_dtype())
        f["data"] = np.zeros((2, 4, 4), np.float32)
    return path


@pytest.mark.parametrize("name,message", [
    ("group", "is an HDF5 group, not a dataset"),
    ("scalar", "0 dimension"),
    ("bytes", "holds byte strings"),
    ("text", "holds strings"),
])
def test_hdf5_paths_that_name_no_image_dataset_are_clear_errors(odd_h5, name, message):
    from ufo.storage.readers import open_source

    with pytest.raises(InputError, match=message):
        open_source(f"{odd_h5}:/{name}")
    with pytest.raises(UfoError, match=message):
        parse(f"read path={odd_h5}:/{name} ! null").describe()
    assert open_source(f"{odd_h5}:/data").count == 2


# -- sessions ----------------------------------------------------------------------------


def test_a_session_file_with_a_syntax_error_names_file_and_line(tmp_path):
    from ufo.control.session import run_file

    path = tmp_path / "broken.py"
    path.write_text("x = 1\nif x\n    y = 2\n")
    with pytest.raises(UsageError, match=r"broken.py, line 2.*expected ':'"):
        asyncio.run(run_file(path))
    path.write_text("x = 1\n  y = 2\n")
    with pytest.raises(UsageError, match=r"broken.py, line 2"):
        asyncio.run(run_file(path))


def test_a_broken_session_on_the_command_line_exits_2_without_traceback(tmp_path):
    env = dict(os.environ, UFO_SESSIONS=str(tmp_path))
    (tmp_path / "broken.py").write_text("import math\nvalue = (1,\n")
    result = subprocess.run([sys.executable, "-m", "ufo", "session", "start", "broken", "--non-interactive"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "broken.py, line 2" in result.stderr and "Traceback" not in result.stderr


def test_an_hdf5_scan_whose_last_chunks_were_never_written_reads_its_stored_frames(tmp_path):
    """Another tool's scan cut short (100 frames laid out, 7 stored) was read as 93 more frames of
    zeros and reconstructed without a word; a Zarr array's missing chunks were already said."""
    import h5py

    import ufo

    path = tmp_path / "part.h5"
    with h5py.File(path, "w") as f:
        data = f.create_dataset("data", (100, 16, 16), np.float32, chunks=(1, 16, 16))
        for i in range(7):
            data[i] = i + 1
    handle_frames = []
    handle = ufo.MemoryOut(out=handle_frames)(ufo.Reader(path=f"{path}:/data")()).run()
    handle.wait(timeout=20)
    assert [float(frame[0, 0]) for frame in handle_frames] == [1, 2, 3, 4, 5, 6, 7]
    assert any("records 100 frames, the last stored ends at frame 7" in w for w in handle.warnings)


@pytest.mark.parametrize("chunks", [(1, 12, 16), (5, 4, 16)], ids=["frames", "rows"])
def test_an_hdf5_scan_with_a_frame_never_written_reads_the_frames_stored_after_it(tmp_path, chunks):
    """A writer that skipped frame 2 (chunks of a frame), or never wrote the last tile row of any
    frame (chunks along y): the read stopped at the first frame not stored whole, dropping frames
    3 and 4 (or all 5), exit 0. Every frame up to the last stored is read, the gaps named."""
    import h5py

    import ufo

    path = tmp_path / "gap.h5"
    with h5py.File(path, "w") as f:
        data = f.create_dataset("data", (5, 12, 16), np.uint16, chunks=chunks, fillvalue=9)
        for i in (0, 1, 3, 4) if chunks[0] == 1 else range(5):
            data[i, : 12 if chunks[0] == 1 else 8] = i + 1
    out: list = []
    handle = ufo.MemoryOut(out=out)(ufo.Reader(path=f"{path}:/data")()).run()
    handle.wait(timeout=20)
    assert len(out) == 5
    if chunks[0] == 1:
        assert [int(frame[0, 0]) for frame in out] == [1, 2, 9, 4, 5]
        assert any("frames 2 (1 of 5) were never written whole" in w and "(9)" in w for w in handle.warnings)
    else:
        assert [int(frame[0, 0]) for frame in out] == [1, 2, 3, 4, 5] and all(int(f[-1, 0]) == 9 for f in out)
        assert any("frames 0-4 (5 of 5) were never written whole" in w for w in handle.warnings)


@pytest.mark.parametrize("chunks", [(2, 8, 8), (4, 4, 4)], ids=["frames", "tiles"])
def test_a_zarr_array_recording_a_huge_shape_reads_its_stored_frames(tmp_path, chunks):
    """Another tool's array whose zarr.json says 10^15 frames (5 stored): read as frames of zeros
    without end (zarr's own nchunks_initialized died of MemoryError on it)."""
    import json

    import zarr

    import ufo

    path = tmp_path / "big.zarr"
    array = zarr.create_array(str(path), shape=(10, 8, 8), chunks=chunks, dtype="float32")
    array[:] = np.arange(10, dtype=np.float32)[:, None, None] * np.ones((1, 8, 8), np.float32)
    record = json.loads((path / "zarr.json").read_text())
    record["shape"][0] = 10**15
    (path / "zarr.json").write_text(json.dumps(record))
    out = []
    handle = ufo.MemoryOut(out=out)(ufo.Reader(path=str(path))()).run()
    handle.wait(timeout=30)
    whole = list(range(10)) + [0] * (-10 % chunks[0])  # a last chunk of 4 frames holds 2 of the fill value
    assert [float(frame[0, 0]) for frame in out] == whole
    assert any("its last stored chunk ends at frame" in w for w in handle.warnings)
