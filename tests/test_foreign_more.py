"""More of other tools' files, found by a probe (2026-12-05) to be read wrong without a word: ImageJ's
signed 16-bit images, an ESRF folder of raw references, a DXchange file of flats before and
after, a 2-D Zarr array; and ufo's own volume of an odd slice count marked as cut short."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import tifffile

from tests.test_foreign_damaged import DARK, FLAT, N, ROWS, W, error, iradon, phantom_scan, reconstruct
from ufo import reco
from ufo.core import UsageError
from ufo.storage import open_source


@pytest.fixture(scope="module")
def scan():
    return phantom_scan()


def test_an_imagej_signed_16_bit_image_reads_as_the_values_imagej_shows(tmp_path, scan):
    """ImageJ keeps signed 16-bit as stored + 32768 with a calibration (function 0, c0 -32768,
    c1 1): read as stored, a sinogram of -2000..1999 came in 32768 too high and was reconstructed
    without a word (correlation 0.12). Calibration function 20 (none) is stored values."""
    values = np.random.default_rng(1).integers(-2000, 2000, (5, 16, 24)).astype(np.int16)
    stored = (values.astype(np.int32) + 32768).astype(np.uint16)
    for function, want in ((0, values), (20, stored)):
        path = tmp_path / f"cf{function}.tif"
        tifffile.imwrite(path, stored, imagej=True,
                         metadata={"axes": "ZYX", "cf": function, "c0": -32768.0, "c1": 1.0, "vunit": "Gray Value"})
        source = open_source(str(path))
        try:
            assert source.dtype == want.dtype and source.count == 5
            got = np.stack([source.read(i, slice(None), None) for i in range(5)])
            into = np.empty((16, 24), source.dtype)
            assert np.array_equal(got, want) and np.array_equal(source.read(3, slice(2, 9), into[:7]), want[3, 2:9])
        finally:
            source.close()
    _, line, degrees = scan
    sinogram = np.round(line * 10_000).astype(np.int32) - 3000  # signed values of a sinogram, -3000 ..
    tifffile.imwrite(tmp_path / "sino.tif", (sinogram + 32768).astype(np.uint16)[None], imagej=True,
                     metadata={"axes": "ZYX", "cf": 0, "c0": -32768.0, "c1": 1.0})
    out = tmp_path / "s.h5"
    reco.run(reco.plan(reco.RecoOptions(sinograms=str(tmp_path / "sino.tif"), output=f"{out}:/data", axis=W / 2,
                                        gpus="cpu", angle=np.pi / N)))
    with h5py.File(out, "r") as f:
        assert error(f["data"][0], iradon(sinogram.astype(float), degrees)) < 0.01


def test_an_esrf_folder_of_raw_references_is_flat_field_corrected(tmp_path, scan):
    """ref<k>_<index>.edf (the raw flats of each group, no reduced refHST): the scan was
    reconstructed from raw counts (a warning, exit 0; relative error 2110); each group is now
    the flats at its projection, as PyHST2 averages them."""
    edf = pytest.importorskip("fabio.edfimage")
    raw, line, degrees = scan
    folder = tmp_path / "esE"
    folder.mkdir()
    (folder / "esE.info").write_text(f"Prefix= esE\nScanRange= 180\nTOMO_N= {N}\nREF_ON= {N}\nREF_N= 3\n")
    for i, frame in enumerate(raw):
        edf.EdfImage(data=frame).write(str(folder / f"esE{i:04d}.edf"))
    edf.EdfImage(data=np.full((ROWS, W), DARK, np.float32)).write(str(folder / "darkend0000.edf"))
    for group in (0, N):
        for k in range(3):
            edf.EdfImage(data=np.full((ROWS, W), FLAT, np.uint16)).write(str(folder / f"ref{k:04d}_{group:04d}.edf"))
    plan = reco.plan(reco.RecoOptions(projections=str(folder), output=str(tmp_path / "o.h5:/data"), axis=W / 2,
                                      gpus="cpu"))
    assert plan.options.flats.endswith("ref[0-9]*_0000.edf") and plan.options.flats2.endswith(f"ref[0-9]*_{N:04d}.edf")
    assert error(reconstruct(tmp_path, projections=str(folder)), iradon(line, degrees)) < 0.02


def test_dxchange_flats_before_and_after_are_interpolated(tmp_path, scan):
    """APS tomoscan's `flat_field_mode` 'Both': data_white's first half before the projections,
    the second after. Combined into one median, a beam drifting from 1 to 2 left 9 % in the
    slices; the two runs are interpolated by each projection's place."""
    raw, line, degrees = scan
    drift = np.linspace(1.0, 2.0, N)[:, None, None]
    lit = (DARK + (raw.astype(float) - DARK) * drift).round().astype(np.uint16)
    path = tmp_path / "dx.h5"
    with h5py.File(path, "w") as f:
        f["exchange/data"] = lit
        f["exchange/data_dark"] = np.full((3, ROWS, W), DARK, np.uint16)
        before, after = FLAT, DARK + (FLAT - DARK) * 2.0 * (N + 1.5) / N  # the beam at the flats' times
        f["exchange/data_white"] = np.concatenate([np.full((3, ROWS, W), before), np.full((3, ROWS, W), after)]
                                                  ).round().astype(np.uint16)
        f["exchange/theta"] = degrees
        f["process/acquisition/flat_fields/flat_field_mode"] = "Both"
        f["process/acquisition/flat_fields/num_flat_fields"] = 3
    got = reconstruct(tmp_path, projections=str(path))
    assert error(got, iradon(line, degrees)) < 0.03
    with h5py.File(path, "a") as f:  # without the record: one run, as before (the drift stays: the check can fail)
        del f["process"]
    assert error(reconstruct(tmp_path, projections=str(path)), iradon(line, degrees)) > 0.05


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_a_two_dimensional_zarr_array_is_one_frame(tmp_path, zarr_format):
    """One image (or one sinogram) as zarr-python writes it: read as 20 frames of one row."""
    zarr = pytest.importorskip("zarr")
    image = np.arange(20 * 24, dtype=np.float32).reshape(20, 24)
    array = zarr.create_array(str(tmp_path / "z.zarr"), shape=image.shape, chunks=image.shape, dtype="f4",
                              zarr_format=zarr_format)
    array[:] = image
    source = open_source(str(tmp_path / "z.zarr"))
    try:
        assert source.count == 1 and source.shape == (20, 24)
        assert np.array_equal(source.read(0, slice(None), None), image)
        assert np.array_equal(source.read(0, slice(3, 7), None), image[3:7])
    finally:
        source.close()


@pytest.mark.parametrize("region", ["0:7", "2:8:2", "0:5"])
def test_a_volume_of_an_odd_slice_count_is_not_marked_as_cut_short(tmp_path, scan, region):
    """Slices stacked two at a time (a partial last stack): `unstack` said one frame more than came,
    the volume was laid out a slice too long and, complete, marked `complete=False` (a script or a
    later ufo took it for an interrupted run)."""
    raw, _, _ = scan
    tall = np.repeat(raw, 4, axis=1)  # 8 rows
    path = tmp_path / "p.h5"
    with h5py.File(path, "w") as f:
        f["data"], f["darks"] = tall, np.full((1, 8, W), DARK, np.uint16)
        f["flats"] = np.full((1, 8, W), FLAT, np.uint16)
    out = tmp_path / "o.h5"
    reco.run(reco.plan(reco.RecoOptions(projections=f"{path}:/data", darks=f"{path}:/darks", flats=f"{path}:/flats",
                                        output=f"{out}:/data", axis=W / 2, gpus="cpu", region=region, replicas=2)))
    first, stop, *step = map(int, region.split(":"))
    with h5py.File(out, "r") as f:
        data = f["data"]
        assert data.shape[0] == len(range(first, stop, *(step or [1])))
        assert "complete" not in data.attrs and "frames_expected" not in data.attrs, dict(data.attrs)


def test_a_tiff_of_three_or_four_frames_stored_as_one_rgb_page_names_the_fix(tmp_path):
    tifffile.imwrite(tmp_path / "s.tif", np.random.default_rng(0).random((4, 90, 64)).astype(np.float32))
    with pytest.raises(UsageError, match="stored as one 4-sample \\(RGB\\) page; write it with photometric='minisblack'"):
        reco.plan(reco.RecoOptions(sinograms=str(tmp_path / "s.tif"), output=str(tmp_path / "o.h5:/d"), axis=32))
