"""Walkers over directories, HDF5 and Zarr: navigation, writers, async writes, metadata."""

from __future__ import annotations

import asyncio
import json

import h5py
import numpy as np
import pytest

import ufo
from ufo.core import InputError, UsageError
from ufo.storage.walker import DirectoryWalker, Hdf5Walker, ZarrWalker, walker

FRAMES = np.arange(5 * 4 * 6, dtype=np.uint16).reshape(5, 4, 6)


async def frames_async():
    for i, frame in enumerate(FRAMES):
        await asyncio.sleep(0)
        yield frame, {"index": i, "image_key": 0}


@pytest.fixture(params=["dir", "h5", "zarr"])
def any_walker(request, tmp_path):
    if request.param == "dir":
        return DirectoryWalker(str(tmp_path / "exp"))
    if request.param == "h5":
        return Hdf5Walker(str(tmp_path / "exp.h5"))
    pytest.importorskip("zarr")
    return ZarrWalker(str(tmp_path / "exp.zarr"))


def test_navigation_writes_and_reads_back(any_walker):
    w = any_walker
    assert w.current.endswith(("exp", "/")) or w.current == "/"
    w.descend("sample-1").descend("scan")
    assert w.current.replace("\\", "/").endswith("sample-1/scan")
    count = asyncio.run(w.write(frames_async(), "projections"))
    assert count == 5 and w.exists("projections")
    with w.create_writer("flats") as writer:
        writer.write(FRAMES[0], {})
    w.ascend()
    assert w.current.replace("\\", "/").endswith("sample-1")
    assert not w.exists("projections") and w.exists("scan")
    w.home()
    with pytest.raises(UsageError, match="root"):
        w.ascend()
    with pytest.raises(UsageError, match="one level"):
        w.descend("a/b")


def test_written_data_is_readable_by_ufo(tmp_path):
    d = DirectoryWalker(str(tmp_path / "exp"))
    asyncio.run(d.descend("scan").write(iter(FRAMES), "projections"))
    np.testing.assert_array_equal(ufo.Reader(path=str(tmp_path / "exp/scan/projections"))().collect(), FRAMES)
    h = Hdf5Walker(str(tmp_path / "exp.h5"))
    asyncio.run(h.descend("scan").write(frames_async(), "projections"))
    np.testing.assert_array_equal(ufo.Reader(path=f"{tmp_path}/exp.h5:/scan/projections")().collect(), FRAMES)
    with h5py.File(tmp_path / "exp.h5") as f:
        np.testing.assert_array_equal(f["scan/projections_image_key"][:], np.zeros(5))


def test_metadata_at_start_and_finish(any_walker):
    from ufo.core.units import registry

    q = registry()
    w = any_walker.descend("scan")
    w.log({"exposure_time": 5 * q.ms, "motor": {"position": 1.5}, "note": "test"}, "start")
    w.log({"frames": 5}, "finish")
    data = w.metadata()
    assert data["start"]["exposure_time"] == {"value": 5, "unit": "millisecond"}
    assert data["start"]["motor"]["position"] == 1.5 and data["finish"]["frames"] == 5
    assert "time" in data["start"]


def test_directory_metadata_is_a_json_sidecar(tmp_path):
    w = DirectoryWalker(str(tmp_path / "exp")).descend("scan")
    w.log({"energy_keV": 20}, "start")
    assert json.loads((tmp_path / "exp/scan/metadata.json").read_text())["start"]["energy_keV"] == 20


def test_existing_data_is_not_overwritten(tmp_path):
    w = walker(str(tmp_path / "exp.h5"))
    asyncio.run(w.write(iter(FRAMES), "proj"))
    with pytest.raises(InputError, match="overwrite"):
        asyncio.run(w.write(iter(FRAMES), "proj"))
    asyncio.run(walker(str(tmp_path / "exp.h5"), overwrite=True).write(iter(FRAMES[:2]), "proj"))
    with h5py.File(tmp_path / "exp.h5") as f:
        assert f["proj"].shape[0] == 2
