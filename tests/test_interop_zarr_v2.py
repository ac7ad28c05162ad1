"""Zarr v2 output for the readers of the previous generation (zarr-python 2, napari's zarr 2 reader),
which read `.zgroup`/`.zarray` only: ufo wrote v3 (`zarr.json`) and nothing else, "nothing found at
path ''". v3 stays the default. Read here with zarr-python 3's v2 reader and the metadata checked
against the v2 spec; with zarr-python 2 itself where an interpreter that has it is at hand
(UFO_ZARR2_PYTHON, or /tmp/z2venv/bin/python: `python -m venv /tmp/z2venv && /tmp/z2venv/bin/pip
install 'zarr<3' numpy`)."""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest

from ufo.core.errors import InputError
from ufo.storage import open_source, open_writer

FRAMES = np.arange(5 * 6 * 7, dtype=np.float32).reshape(5, 6, 7) / 7 - 3
#: the fields of a v2 array's .zarray (zarr v2 storage specification, "Metadata")
V2_ARRAY_KEYS = {"zarr_format", "shape", "chunks", "dtype", "compressor", "fill_value", "order", "filters",
                 "dimension_separator"}


def _zarr2_python() -> str | None:
    for candidate in (os.environ.get("UFO_ZARR2_PYTHON"), "/tmp/z2venv/bin/python"):
        if candidate and os.access(candidate, os.X_OK):
            found = subprocess.run([candidate, "-c", "import zarr; print(zarr.__version__)"], capture_output=True,
                                   text=True)
            if found.returncode == 0 and found.stdout.strip().startswith("2."):
                return candidate
    return None


def _write(path: str, frames: np.ndarray = FRAMES, **kw) -> None:
    with open_writer(path, metadata={"units": "1/pixel", "axis": 3.5}, **kw) as writer:
        for frame in frames:
            writer.write(frame, {})


@pytest.mark.parametrize("compression", ["none", "zstd", "blosc", "gzip"])
def test_a_v2_store_is_what_the_v2_spec_says_and_reads_back_exactly(tmp_path, compression):
    import zarr

    store = str(tmp_path / "v.zarr")
    _write(store, overwrite=True, zarr_format=2, compression=compression)
    names = {os.path.relpath(os.path.join(folder, n), store) for folder, _, files in os.walk(store) for n in files}
    assert not any(n.endswith("zarr.json") for n in names)  # nothing of v3
    assert json.loads((tmp_path / "v.zarr" / ".zgroup").read_text()) == {"zarr_format": 2}
    array = json.loads((tmp_path / "v.zarr" / "data" / ".zarray").read_text())
    assert set(array) == V2_ARRAY_KEYS
    assert array["zarr_format"] == 2 and array["shape"] == [5, 6, 7] and array["chunks"] == [1, 6, 7]
    assert array["dtype"] == "<f4" and array["order"] == "C" and array["filters"] is None
    assert array["dimension_separator"] == "."
    assert (array["compressor"] is None) == (compression == "none")
    assert {f"data/{i}.0.0" for i in range(5)} <= names
    attrs = json.loads((tmp_path / "v.zarr" / "data" / ".zattrs").read_text())
    assert attrs["_ARRAY_DIMENSIONS"] == ["frame", "y", "x"] and attrs["units"] == "1/pixel"  # xarray's axis names
    read = zarr.open_group(store, mode="r", zarr_format=2)["data"]
    assert read.metadata.zarr_format == 2
    np.testing.assert_array_equal(read[:], FRAMES)
    source = open_source(store)  # ufo's own reader
    try:
        assert source.count == 5
        np.testing.assert_array_equal(np.stack([source.read(i, slice(None), None) for i in range(5)]), FRAMES)
    finally:
        source.close()


def test_zarr_python_2_opens_the_v2_store(tmp_path):
    python = _zarr2_python()
    if python is None:
        pytest.skip("no interpreter with zarr-python 2 (set UFO_ZARR2_PYTHON)")
    for compression in ("none", "zstd"):
        store = str(tmp_path / f"{compression}.zarr")
        _write(store, zarr_format=2, compression=compression)
        out = tmp_path / f"{compression}.npy"
        script = ("import sys, zarr, numpy; g = zarr.open(sys.argv[1], mode='r'); a = g['data']; "
                  "assert isinstance(g, zarr.hierarchy.Group); numpy.save(sys.argv[2], a[:]); "
                  "print(a.attrs['_ARRAY_DIMENSIONS'])")
        done = subprocess.run([python, "-c", script, store, str(out)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "['frame', 'y', 'x']"
        read = np.load(out)
        assert read.dtype == np.float32
        np.testing.assert_array_equal(read, FRAMES)


def test_v3_stays_the_default(tmp_path):
    store = tmp_path / "v.zarr"
    _write(str(store))
    assert (store / "zarr.json").is_file() and not (store / ".zgroup").exists()
    assert json.loads((store / "data" / "zarr.json").read_text())["dimension_names"] == ["frame", "y", "x"]


def test_the_shape_of_a_v2_array_is_recorded_at_every_frame(tmp_path):
    """ufo's reader counts v3 chunk files past the last shape record, not v2 ones: a v2 writer that
    stops without closing (killed) must leave every whole frame in the recorded shape."""
    import zarr

    store = str(tmp_path / "v.zarr")
    writer = open_writer(store, zarr_format=2)
    for frame in FRAMES[:3]:
        writer.write(frame, {})
    assert json.loads((tmp_path / "v.zarr" / "data" / ".zarray").read_text())["shape"] == [3, 6, 7]
    np.testing.assert_array_equal(zarr.open_group(store, mode="r")["data"][:], FRAMES[:3])
    writer.close()


def test_appending_keeps_the_store_s_format_and_another_format_is_refused(tmp_path):
    import zarr

    store = str(tmp_path / "v.zarr")
    _write(store, FRAMES[:2], zarr_format=2)
    _write(store, FRAMES[2:], append=True)  # no format asked: the store's
    read = zarr.open_group(store, mode="r")["data"]
    assert read.metadata.zarr_format == 2
    np.testing.assert_array_equal(read[:], FRAMES)
    with pytest.raises(InputError, match="v2 store"):
        _write(f"{store}:/other", zarr_format=3)
    assert sorted(zarr.open_group(store, mode="r").array_keys()) == ["data"]


def test_a_volume_overwritten_in_the_other_format_makes_the_store_anew(tmp_path):
    import zarr

    store = str(tmp_path / "v.zarr")
    _write(store, zarr_format=3)
    _write(store, FRAMES[:2], overwrite=True, zarr_format=2)
    assert not (tmp_path / "v.zarr" / "zarr.json").exists()
    np.testing.assert_array_equal(zarr.open_group(store, mode="r", zarr_format=2)["data"][:], FRAMES[:2])


def test_the_write_task_asks_for_zarr_v2_by_its_zarr_format_property(tmp_path):
    import json

    import ufo

    frames = np.arange(3 * 4 * 5, dtype=np.float32).reshape(3, 4, 5)
    path = tmp_path / "x.zarr"
    ufo.Write(path=str(path), zarr_format=2)(frames).run().wait()
    assert json.loads((path / "data" / ".zarray").read_text())["zarr_format"] == 2
    assert not (path / "zarr.json").exists()
    np.testing.assert_array_equal(ufo.Read(path=str(path))().collect(), frames)
