"""A reconstruction cut short says so in its volume (HDF5, Zarr), and ufo's reader says it again.

An interrupted `ufo reco` into a Zarr store or an HDF5 file written in passes left a volume of fewer
slices that nothing in it told apart from a finished one (the command said it once, on its
terminal); only the one-pass HDF5 volume writer marked its cut. An earlier result that the run did
not get to overwrite is left as it was.
"""

from __future__ import annotations

import threading
import time

import h5py
import numpy as np
import pytest
import tifffile
import zarr

from tests.test_geometry import DARK, FLAT, frames
from ufo import reco
from ufo.core.errors import Cancelled
from ufo.storage import open_source
from ufo.tomo.phantom import Phantom

ROWS, WIDTH = 32, 256


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cut")
    phantom = Phantom(WIDTH, height=ROWS)
    tifffile.imwrite(folder / "proj.tif", frames(phantom, np.arange(720) * np.pi / 720, WIDTH / 2))
    tifffile.imwrite(folder / "darks.tif", np.full((2, ROWS, WIDTH), DARK, np.float32))
    tifffile.imwrite(folder / "flats.tif", np.full((2, ROWS, WIDTH), FLAT, np.float32))
    return folder


def _options(scan, output, **more):
    return reco.RecoOptions(projections=str(scan / "proj.tif"), darks=str(scan / "darks.tif"),
                            flats=str(scan / "flats.tif"), axis=WIDTH / 2, output=output, pass_height=2,
                            replicas=1, **more)


def _stopped_after_two_slices(options):
    """Cancelled once two slices are written (a Ctrl-C, a Cancel in the GUI): each slice is 47 M updates."""
    def on_start(handle, before):
        def watch():
            while not handle.done and handle.progress().current < 2:
                time.sleep(0.002)
            handle.cancel()

        threading.Thread(target=watch, daemon=True).start()

    with pytest.raises(Cancelled):
        reco.run(reco.plan(options), on_start)


@pytest.mark.parametrize("output", ["v.zarr:/recon", "v.h5:/recon"])
def test_a_volume_cut_short_says_so_and_its_reader_says_it_again(scan, tmp_path, output):
    path = f"{tmp_path / output}"
    _stopped_after_two_slices(_options(scan, path))
    file, name = path.split(":")
    if file.endswith(".zarr"):
        attrs = dict(zarr.open_group(file, mode="r")[name.strip("/")].attrs)
    else:
        with h5py.File(file) as f:
            attrs = dict(f[name].attrs)
    assert attrs["complete"] is False or attrs["complete"] == False  # noqa: E712 - numpy's bool from HDF5
    assert int(attrs["frames_expected"]) == ROWS
    source = open_source(path)
    rows = attrs["rows"] if isinstance(attrs["rows"], dict) else __import__("json").loads(attrs["rows"])
    assert rows["first"] == 0 and rows["last"] == source.count - 1  # the rows it holds, not the 32 planned
    try:
        assert 0 < source.count < ROWS
        assert any(f"holds {source.count} of the {ROWS} frames its run was to write" in w for w in source.warnings)
    finally:
        source.close()


def test_a_finished_volume_and_an_earlier_result_not_yet_overwritten_are_not_marked(scan, tmp_path):
    done = f"{tmp_path / 'done.zarr'}:/recon"
    reco.run(reco.plan(_options(scan, done)))
    source = open_source(done)
    assert source.count == ROWS and not [w for w in source.warnings if "cut short" in w]
    source.close()
    stop = threading.Event()
    stop.set()  # the axis search ends at once: the run fails before it writes a slice
    with pytest.raises(Cancelled):
        reco.run(reco.plan(reco.RecoOptions(projections=str(scan / "proj.tif"), darks=str(scan / "darks.tif"),
                                            flats=str(scan / "flats.tif"), axis="auto", output=done,
                                            overwrite=True, pass_height=2, replicas=1)), stop=stop)
    attrs = dict(zarr.open_group(str(tmp_path / "done.zarr"), mode="r")["recon"].attrs)
    assert "complete" not in attrs  # the earlier result, as it was
