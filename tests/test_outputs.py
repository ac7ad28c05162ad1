"""Outputs keep their meaning: one integer scale stored with the volume, the record of how it was
made, files numbered by detector row, ImageJ stacks, and a complete NXtomo (issue 21)."""

from __future__ import annotations

import json
import math

import h5py
import numpy as np
import pytest
import tifffile

import ufo
from ufo import reco
from ufo.storage import open_writer
from ufo.storage.convert import from_bits
from ufo.tomo.phantom import Phantom

N_PIX, ROWS, ANGLES = 48, 12, 72
AXIS = N_PIX / 2 + 1.5
MU = 0.02


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    """Projections, darks and flats as TIFF stacks, rows that differ (the phantom's top and middle)."""
    root = tmp_path_factory.mktemp("outputs")
    phantom = Phantom(N_PIX, height=ROWS)
    dark = np.full((ROWS, N_PIX), 100.0)
    gain = np.full((ROWS, N_PIX), 2000.0)
    frames = [dark + gain * np.exp(-MU * phantom.projection(a, axis=AXIS)) for a in np.arange(ANGLES) * np.pi / ANGLES]
    tifffile.imwrite(root / "proj.tif", np.stack(frames).astype(np.float32), photometric="minisblack")
    tifffile.imwrite(root / "darks.tif", np.stack([dark] * 2).astype(np.float32), photometric="minisblack")
    tifffile.imwrite(root / "flats.tif", np.stack([dark + gain] * 2).astype(np.float32), photometric="minisblack")
    return root


def _options(root, output, **more):
    return reco.RecoOptions(projections=str(root / "proj.tif"), darks=str(root / "darks.tif"),
                            flats=str(root / "flats.tif"), axis=AXIS, output=str(output), replicas=1, **more)


def _float_volume(scan, tmp_path, region):
    reco.run(reco.plan(_options(scan, tmp_path / "float.h5:/data", region=region)))
    with h5py.File(tmp_path / "float.h5") as f:
        return f["data"][()]


def test_16_bit_output_has_one_scale_stored_in_the_file(scan, tmp_path):
    """Every slice maps a value to the same integer; the stored scale maps back within one step."""
    expected = _float_volume(scan, tmp_path, "0:12")
    reco.run(reco.plan(_options(scan, tmp_path / "v.h5:/data", output_bits=16, region="0:12", pass_height=5)))
    with h5py.File(tmp_path / "v.h5") as f:
        data = f["data"][()]
        lo, hi = float(f["data"].attrs["scale_min"]), float(f["data"].attrs["scale_max"])
        assert f["data"].attrs["bits"] == 16
    assert data.dtype == np.uint16 and hi > lo
    step = (hi - lo) / 65535
    inside = (expected > lo) & (expected < hi)
    assert inside.mean() > 0.999  # the sampled scale covers (almost) every slice
    back = from_bits(data, lo, hi)
    assert np.abs(back - expected)[inside].max() <= step  # quantisation only, in slice 0 and slice N alike
    # the same float value maps to the same integer in the first and the last slice
    value = float(np.median(expected[0]))
    first = data[0][np.abs(expected[0] - value) < step / 4]
    last = data[-1][np.abs(expected[-1] - value) < step / 4]
    if first.size and last.size:
        assert abs(int(first[0]) - int(last[0])) <= 1


def test_the_write_task_without_a_range_scales_all_frames_alike(tmp_path):
    """Outside ufo reco: the first scale-frames frames set one scale (not one per frame)."""
    from ufo.core.memory import MemoryIn
    from ufo.core.registry import create

    frames = np.stack([np.linspace(0, 1 + i, 64, dtype=np.float32).reshape(8, 8) for i in range(4)])
    create("write", path=str(tmp_path / "w.h5:/data"), bits=8)(MemoryIn(frames)()).run().wait()
    with h5py.File(tmp_path / "w.h5") as f:
        data, attrs = f["data"][()], dict(f["data"].attrs)
    assert data[0].max() < data[-1].max()  # frame 0 is not stretched over the whole range
    back = from_bits(data, attrs["scale_min"], attrs["scale_max"])
    np.testing.assert_allclose(back, frames, atol=attrs["scale_step"])


def test_the_configuration_is_stored_and_reads_back(scan, tmp_path):
    from ufo import __version__

    reco.run(reco.plan(_options(scan, tmp_path / "c.h5:/data", region="2:4", filter="hann")))
    reco.run(reco.plan(_options(scan, tmp_path / "seq" / "s-%05i.tif", region="2:4", filter="hann")))
    with h5py.File(tmp_path / "c.h5") as f:
        attrs = dict(f["data"].attrs)
    page = json.loads(tifffile.TiffFile(tmp_path / "seq" / "s-00002.tif").pages[0].description)
    for record in ({k: json.loads(v) if isinstance(v, str) and v[:1] in "{[" else v for k, v in attrs.items()}, page):
        assert record["version"] == __version__ and record["axis"] == pytest.approx(AXIS)
        assert record["configuration"]["values"]["filter"] == "hann"
        assert record["configuration"]["values"]["axis"] == pytest.approx(AXIS)
        assert record["input"]["projections"].endswith("proj.tif")
        assert record["angles"]["count"] == ANGLES and record["date"].startswith("20")


def test_hdf5_slices_say_their_rows_once_not_per_slice(scan, tmp_path):
    """An HDF5 volume says its rows with first_row and row_step; per-slice row and index datasets
    beside it cost the writer up to a fifth of its time and said nothing more."""
    import h5py

    reco.run(reco.plan(_options(scan, f"{tmp_path / 'v.h5'}:/data", region="3:12:4")))
    with h5py.File(tmp_path / "v.h5", "r") as f:
        assert list(f.keys()) == ["data"] and f["data"].shape[0] == 3
        assert (f["data"].attrs["first_row"], f["data"].attrs["row_step"]) == (3, 4)


def test_files_are_numbered_by_detector_row(scan, tmp_path):
    reco.run(reco.plan(_options(scan, tmp_path / "a" / "s-%05i.tif", region="3:12:4")))
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == ["s-00003.tif", "s-00007.tif", "s-00011.tif"]
    rows = [json.loads(tifffile.TiffFile(tmp_path / "a" / n).pages[0].description)["row"] for n in names]
    assert rows == [3, 7, 11]
    reco.run(reco.plan(_options(scan, tmp_path / "b" / "s-%05i.tif", region="0:3")))  # unchanged from 0
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["s-00000.tif", "s-00001.tif", "s-00002.tif"]
    volume = _float_volume(scan, tmp_path, "0:12")  # each file holds its row's slice, not only its name
    for row in (3, 7, 11):
        np.testing.assert_allclose(tifffile.imread(tmp_path / "a" / f"s-{row:05d}.tif"), volume[row], rtol=0,
                                   atol=1e-6 * np.abs(volume).max())
    np.testing.assert_allclose(tifffile.imread(tmp_path / "b" / "s-00002.tif"), volume[2], rtol=0,
                               atol=1e-6 * np.abs(volume).max())
    assert np.abs(volume[3] - volume[7]).max() > 1e-2 * np.abs(volume).max()  # rows differ: a swap would show


def test_a_stack_is_an_imagej_tiff_with_its_scale(scan, tmp_path):
    expected = _float_volume(scan, tmp_path, "0:12:2")
    out = tmp_path / "stack.tif"
    reco.run(reco.plan(_options(scan, out, region="0:12:2", output_bits=16)))
    with tifffile.TiffFile(out) as tif:
        assert tif.is_imagej and not tif.is_bigtiff
        ij = tif.imagej_metadata
        data = tif.asarray()
        assert tif.series[0].axes == "ZYX"
    assert data.shape == (6, N_PIX, N_PIX) and data.dtype == np.uint16
    assert ij["min"] == 0 and ij["max"] == 65535
    info = json.loads(ij["Info"])
    assert info["scale_min"] == pytest.approx(ij["c0"]) and info["scale_step"] == pytest.approx(ij["c1"])
    back = ij["c0"] + ij["c1"] * data.astype(np.float64)
    inside = (expected > info["scale_min"]) & (expected < info["scale_max"])
    assert np.abs(back - expected)[inside].max() <= ij["c1"]


def test_a_stack_of_unknown_length_or_appended_is_bigtiff(tmp_path):
    with open_writer(str(tmp_path / "s.tif")) as writer:  # no expected count: BigTIFF
        writer.write(np.zeros((4, 4), np.float32), {})
    assert tifffile.TiffFile(tmp_path / "s.tif").is_bigtiff
    with open_writer(str(tmp_path / "i.tif"), expected_frames=2) as writer:
        for _ in range(2):
            writer.write(np.zeros((4, 4), np.float32), {})
    assert tifffile.TiffFile(tmp_path / "i.tif").is_imagej
    from ufo.storage.writers import CLASSIC_TIFF_LIMIT

    with open_writer(str(tmp_path / "big.tif"), expected_frames=CLASSIC_TIFF_LIMIT // 64 + 1) as writer:
        writer.write(np.zeros((4, 4), np.float32), {})  # would pass 4 GB: BigTIFF from the start
    assert tifffile.TiffFile(tmp_path / "big.tif").is_bigtiff


DEMO_METADATA = {"pixel_size": 6.5e-6, "binning": 1, "distance": 0.05, "energy": 20.0, "field_of_view": "Full",
                 "sample": "Shepp-Logan phantom", "rotation_direction": "counterclockwise"}


def _nxtomo(path, metadata, layout="auto"):
    with open_writer(str(path), metadata=metadata, layout=layout) as writer:
        writer.write(np.zeros((4, 6), np.uint16), {"image_key": 2})
        writer.write(np.full((4, 6), 100, np.uint16), {"image_key": 1})
        for i in range(4):
            writer.write(np.full((4, 6), 50, np.uint16), {"image_key": 0, "angle": i * math.pi / 4})


def test_ufo_nxtomo_loads_in_nxtomo_with_instrument_metadata(tmp_path):
    nxtomo = pytest.importorskip("nxtomo")
    _nxtomo(tmp_path / "scan.nx", DEMO_METADATA)
    loaded = nxtomo.NXtomo().load(str(tmp_path / "scan.nx"), "entry")
    detector = loaded.instrument.detector
    assert detector.x_pixel_size.to("m").magnitude == pytest.approx(6.5e-6)
    assert detector.y_pixel_size.to("m").magnitude == pytest.approx(6.5e-6)
    assert detector.distance.to("m").magnitude == pytest.approx(0.05)
    assert loaded.instrument.beam.incident_energy.to("keV").magnitude == pytest.approx(20.0)
    assert [int(k.value) for k in detector.image_key] == [2, 1, 0, 0, 0, 0]
    assert [int(k.value) for k in detector.image_key_control] == [2, 1, 0, 0, 0, 0]
    np.testing.assert_allclose(loaded.sample.rotation_angle.to("deg").magnitude, [0, 0, 0, 45, 90, 135])
    assert loaded.sample.name == "Shepp-Logan phantom"
    assert loaded.start_time is not None and loaded.end_time is not None
    with h5py.File(tmp_path / "scan.nx") as f:
        assert f.attrs["NeXus_version"] and f["/entry/instrument/detector/field_of_view"][()] == b"Full"


def test_an_nxtomo_copied_through_a_pipeline_keeps_its_instrument_and_sample(tmp_path):
    """`read path=scan.nx ! ... ! write path=copy.nx` kept only keys and angles: the pixel size,
    distance, energy and the sample's name were lost (the name became 'sample')."""
    nxtomo = pytest.importorskip("nxtomo")
    _nxtomo(tmp_path / "scan.nx", DEMO_METADATA)
    ufo.Writer(path=str(tmp_path / "copy.nx"))(ufo.Reader(path=str(tmp_path / "scan.nx"))()).run().wait(timeout=30)
    loaded = nxtomo.NXtomo().load(str(tmp_path / "copy.nx"), "entry")
    assert loaded.instrument.detector.x_pixel_size.to("m").magnitude == pytest.approx(6.5e-6)
    assert loaded.instrument.detector.distance.to("m").magnitude == pytest.approx(0.05)
    assert loaded.instrument.beam.incident_energy.to("keV").magnitude == pytest.approx(20.0)
    assert loaded.sample.name == "Shepp-Logan phantom"
    assert [int(k.value) for k in loaded.instrument.detector.image_key] == [2, 1, 0, 0, 0, 0]


def test_dxchange_gets_the_same_metadata(tmp_path):
    _nxtomo(tmp_path / "scan.h5", DEMO_METADATA, layout="dxchange")
    with h5py.File(tmp_path / "scan.h5") as f:
        assert f["/measurement/instrument/detector/pixel_size_x"][()] == pytest.approx(6.5e-6)
        assert f["/measurement/instrument/monochromator/energy"][()] == pytest.approx(20.0)
        assert f["/measurement/instrument/detector/distance"].attrs["units"] == "m"
        assert f["/exchange/data"].shape == (4, 4, 6)


def test_the_demo_scan_is_a_complete_nxtomo(tmp_path):
    """The experiment's metadata (camera pixel x binning / magnification, distance, energy) reaches the file."""
    import asyncio

    nxtomo = pytest.importorskip("nxtomo")
    from ufo.demo.run import DEMO_INSTRUMENT, Demo, DemoOptions

    run = Demo(DemoOptions(size=32, projections=24, output=str(tmp_path), rows="8:24:8", darks=2, flats=2))
    result = asyncio.run(run.run())
    loaded = nxtomo.NXtomo().load(result.raw_file, "entry")
    detector = loaded.instrument.detector
    pixel = DEMO_INSTRUMENT["camera_pixel_size"] / DEMO_INSTRUMENT["magnification"]
    assert detector.x_pixel_size.to("m").magnitude == pytest.approx(pixel)
    assert detector.distance.to("m").magnitude == pytest.approx(DEMO_INSTRUMENT["distance"])
    assert loaded.instrument.beam.incident_energy.to("keV").magnitude == pytest.approx(DEMO_INSTRUMENT["energy"])
    keys = [int(k.value) for k in detector.image_key_control]
    assert keys == [2] * 2 + [1] * 2 + [0] * 24
    assert loaded.end_time is not None and loaded.sample.name == DEMO_INSTRUMENT["sample"]


def test_the_scale_sample_spreads_over_the_region_and_keeps_phase_margins(scan):
    from ufo.reco.outputs import SAMPLE_SLICES, sample_passes

    plain = reco.plan(_options(scan, "x.tif", region="0:12"))
    (one,) = sample_passes(plain)
    rows = list(range(one.first_row, one.first_row + one.rows * one.step, one.step))
    assert rows[0] < 3 and rows[-1] > 8 and len(rows) <= SAMPLE_SLICES
    phase = reco.plan(_options(scan, "x.tif", region="0:12", energy=20, distance=0.05, pixel_size=1e-6))
    passes = sample_passes(phase)
    kept = [p.first_row + p.keep.start * p.step for p in passes]
    assert kept == rows and all(p.keep.stop - p.keep.start == 1 for p in passes)
    assert any(p.first_row < k for p, k in zip(passes, kept))  # rows above the sample row are read


def test_zarr_keeps_the_metadata_as_attributes(tmp_path):
    zarr = pytest.importorskip("zarr")
    with open_writer(str(tmp_path / "v.zarr"), metadata={"scale_min": -1.0, "configuration": {"values": {"a": 1}}}) as w:
        for _ in range(3):
            w.write(np.zeros((4, 4), np.uint16), {})
    array = zarr.open_group(str(tmp_path / "v.zarr"), mode="r")["data"]
    assert array.shape == (3, 4, 4) and array.attrs["scale_min"] == -1.0
    assert array.attrs["configuration"] == {"values": {"a": 1}}


def test_tiff_format_imagej_is_classic_whatever_the_count(tmp_path):
    with open_writer(str(tmp_path / "i.tif"), imagej=True) as writer:  # count unknown: the header is set at close
        for _ in range(3):
            writer.write(np.ones((4, 4), np.uint16), {})
    with tifffile.TiffFile(tmp_path / "i.tif") as tif:
        assert tif.is_imagej and tif.series[0].shape == (3, 4, 4) and tif.series[0].axes == "ZYX"
    from ufo.storage import open_source

    source = open_source(str(tmp_path / "i.tif"))  # ufo reads its own ImageJ stacks page by page
    assert source.count == 3 and source.shape == (4, 4)
    source.close()


@pytest.mark.parametrize("name", ["out-%s.tif", "slices-%f.tif", "x%d.h5:/data", "v-%05i.zarr"])
def test_a_printf_field_ufo_does_not_fill_is_refused_in_every_command(tmp_path, name):
    """`write path=out-%s.tif` and `ufo reco -o out-%s.tif` wrote one stack literally named so (only
    `ufo camera grab` refused it); a frame-number field in an HDF5 or Zarr name numbers nothing."""
    from ufo.core import UsageError
    from ufo.storage.formats import parse_output_path

    with pytest.raises(UsageError, match="is no frame-number field"):
        parse_output_path(str(tmp_path / name))
    with pytest.raises(UsageError, match="is no frame-number field"):
        reco.plan(reco.RecoOptions(projections=str(tmp_path), output=str(tmp_path / name), axis=4))
    assert parse_output_path(str(tmp_path / "s-%05i.tif")).kind.name == "TIFF_SEQUENCE"
