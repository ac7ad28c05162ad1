"""Other tools' scan files that arrive incomplete: a virtual dataset or an external link whose raw
file was not copied, frames laid out but never written, a file cut short, units spelled another
way. Each read its missing frames as zeros and reconstructed them without a word, or failed with
HDF5's text and no file named; now the frames that exist are read at their own angles, or one
message names what is missing.
"""

from __future__ import annotations

import os
import subprocess
import sys

import h5py
import numpy as np
import pytest
import tifffile

from ufo import reco
from ufo.core import InputError, UsageError
from ufo.storage import open_source

skimage_transform = pytest.importorskip("skimage.transform")
W, ROWS, N = 64, 2, 90
DARK, FLAT = 100, 10_000


@pytest.fixture(scope="module")
def scan():
    return phantom_scan()


def phantom_scan() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(raw projections N x ROWS x W uint16, line integrals, degrees): two discs off centre."""
    yy, xx = np.mgrid[:W, :W] - W / 2
    image = ((xx - 10) ** 2 + (yy + 8) ** 2 < 64) * 0.03 + ((xx + 12) ** 2 + (yy - 4) ** 2 < 25) * 0.05
    degrees = np.arange(N) * 180.0 / N
    line = skimage_transform.radon(image, degrees, circle=True).T  # N x W
    raw = (DARK + (FLAT - DARK) * np.exp(-line)).round().astype(np.uint16)
    return np.repeat(raw[:, None, :], ROWS, axis=1), line, degrees


def iradon(line: np.ndarray, degrees: np.ndarray, step: float | None = None) -> np.ndarray:
    """scikit-image's FBP; `step` (degrees): each projection weighted by it, as for a limited-angle
    scan (iradon takes the angles given as a whole half turn)."""
    image = skimage_transform.iradon(line.T, theta=degrees, filter_name="ramp", circle=True, output_size=W)
    return image if step is None else image * len(degrees) * step / 180.0


def error(got: np.ndarray, want: np.ndarray) -> float:
    inside = np.hypot(*(np.mgrid[:W, :W] - W / 2)) < W / 2 - 4
    return float(np.sqrt(np.mean((got - want)[inside] ** 2)) / np.sqrt(np.mean(want[inside] ** 2)))


def reconstruct(tmp_path, **options) -> np.ndarray:
    out = tmp_path / "slices.h5"
    plan = reco.plan(reco.RecoOptions(output=f"{out}:/data", axis=W / 2, gpus="cpu", overwrite=True, **options))
    reco.run(plan)
    with h5py.File(out, "r") as f:
        return f["/data"][0]


def nxtomo(path, data, keys, degrees) -> None:
    """An NXtomo entry of `data` (a dataset, a virtual layout or a link, made by the caller)."""
    with h5py.File(path, "a") as f:
        entry = f.require_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        entry["definition"] = "NXtomo"
        detector = entry.require_group("instrument/detector")
        detector.attrs["NX_class"] = "NXdetector"
        if data is not None:
            detector["data"] = data
        detector["image_key"] = np.asarray(keys, np.int32)
        angles = entry.create_dataset("sample/rotation_angle", data=np.asarray(degrees, float))
        angles.attrs["units"] = "degree"


def references() -> np.ndarray:
    return np.stack([np.full((ROWS, W), DARK), np.full((ROWS, W), FLAT)]).astype(np.uint16)


def test_a_virtual_dataset_reads_its_sources_and_names_one_not_copied(tmp_path, scan):
    """nxtomomill's layout: `detector/data` a virtual dataset over the raw files. With the
    projections' file not copied, HDF5 read them as zeros and the slices were noise (exit 0)."""
    raw, line, degrees = scan
    with h5py.File(tmp_path / "refs.h5", "w") as f:
        f["frames"] = references()
    with h5py.File(tmp_path / "proj.h5", "w") as f:
        f["frames"] = raw
    layout = h5py.VirtualLayout((N + 2, ROWS, W), np.uint16)
    layout[:2] = h5py.VirtualSource("refs.h5", "frames", shape=(2, ROWS, W))
    layout[2:] = h5py.VirtualSource("proj.h5", "frames", shape=(N, ROWS, W))
    path = tmp_path / "scan.nx"
    with h5py.File(path, "w") as f:
        f.create_group("entry/instrument/detector").create_virtual_dataset("data", layout, fillvalue=0)
    nxtomo(path, None, [2, 1] + [0] * N, np.r_[0, 0, degrees])
    here = os.getcwd()
    os.chdir("/")  # the sources are found beside the scan file, not in the working folder
    try:
        assert error(reconstruct(tmp_path, projections=str(path)), iradon(line, degrees)) < 0.02
        os.rename(tmp_path / "proj.h5", tmp_path / "elsewhere.h5")
        with pytest.raises(InputError, match=r"virtual dataset .*'proj\.h5' \(not found beside"):
            open_source(str(path), image_key=0)
        with h5py.File(tmp_path / "proj.h5", "w") as f:  # a file of that name, without the dataset
            f["other"] = raw
        with pytest.raises(InputError, match=r"proj\.h5:frames' \(the file holds no such dataset\)"):
            reconstruct(tmp_path, projections=str(path))
    finally:
        os.chdir(here)


def test_an_external_link_to_a_missing_file_is_named_by_both_commands(tmp_path):
    """Before: `ufo reco` said "KeyError: Unable to synchronously open object (can't open file)"
    (exit 1) and `ufo run` "node 'read' cannot take its input ()" (exit 2), neither naming the file."""
    with h5py.File(tmp_path / "scan.h5", "w") as f:
        f["data"] = h5py.ExternalLink("raw_scan_0001.h5", "/entry/data")
    commands = (["reco", "--projections", "scan.h5:/data", "--axis", "8", "-o", "out.tif"],
                ["run", "-q", "read path=scan.h5:/data ! write path=out.tif"])
    for args in commands:
        done = subprocess.run([sys.executable, "-m", "ufo", *args], cwd=tmp_path, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 1, (args, done.stderr)
        assert "external link to 'raw_scan_0001.h5:/entry/data'" in done.stderr and "not there" in done.stderr
        assert "Traceback" not in done.stderr and not (tmp_path / "out.tif").exists()


@pytest.mark.parametrize("chunks", [(1, ROWS, W), (3, ROWS, W), (1, ROWS, W // 2)], ids=["frame", "frames", "tiles"])
def test_projections_never_written_are_left_out_each_at_its_angle(tmp_path, scan, chunks):
    """An NXtomo laid out for its scan whose writer stopped after 61 of 90 projections (the flats
    after the scan never written): the 29 missing read as zeros, reconstructed without a word."""
    raw, line, degrees = scan
    path = tmp_path / "scan.nx"
    with h5py.File(path, "w") as f:
        data = f.create_group("entry/instrument/detector").create_dataset(
            "data", (N + 4, ROWS, W), np.uint16, chunks=chunks)
        data[:2] = references()
        data[2:63] = raw[:61]  # the writer stopped at a chunk's end (a chunk written in part reads whole)
    nxtomo(path, None, [2, 1] + [0] * N + [1, 1], np.r_[0, 0, degrees, 180, 180])
    source = open_source(str(path), image_key=0)
    try:
        assert source.count == 61 and "29 of its 90 projection(s) were never written" in " ".join(source.warnings)
        assert np.array_equal(source.read(60, slice(None), None), raw[60])
    finally:
        source.close()
    got = reconstruct(tmp_path, projections=str(path))
    want = iradon(line[:61], degrees[:61], step=2.0)  # the limited-angle scan that was taken
    assert error(got, want) < 0.02
    zeros = np.r_[line[:61], np.full((29, W), -np.log(1e-3))]  # zero frames, floored as starved pixels
    assert error(iradon(zeros, degrees), want) > 0.5  # what they would have given


def test_a_plain_stack_in_chunks_of_several_frames_reads_those_written(tmp_path):
    with h5py.File(tmp_path / "s.h5", "w") as f:
        data = f.create_dataset("data", (12, 4, 16), np.uint16, chunks=(4, 4, 16))
        data[:8] = np.arange(1, 9, dtype=np.uint16)[:, None, None]
    source = open_source(f"{tmp_path / 's.h5'}:/data")
    try:
        assert source.count == 8 and source.short_of == 4 and "last stored ends at frame 8" in " ".join(source.warnings)
    finally:
        source.close()


def test_an_nxtomo_cut_before_its_groups_is_refused_naming_the_cut(tmp_path):
    """Its groups' records past the cut: read through, its angles and image keys were lost (every
    frame a projection, 180 degrees assumed) or HDF5's 'unable to determine object type' came out."""
    path = tmp_path / "scan.nx"
    with h5py.File(path, "w") as f:
        f["padding"] = np.zeros((10, ROWS, W), np.uint16)
        f.create_group("entry/instrument/detector")["data"] = np.full((N + 2, ROWS, W), 5000, np.uint16)
    nxtomo(path, None, [2, 1] + [0] * N, np.r_[0, 0, np.arange(N) * 2.0])
    cut = tmp_path / "cut.nx"
    cut.write_bytes(path.read_bytes()[: int(os.path.getsize(path) * 0.8)])
    with pytest.raises(InputError, match=r"'.*cut\.nx' is cut short .* before the records of its frames"):
        reconstruct(tmp_path, projections=str(cut))


def test_units_spelled_another_way_are_read_and_an_unknown_one_is_named(tmp_path, scan):
    """One energy in 'kev' lost the distance and pixel size too, and phase retrieval said all three
    were not recorded."""
    raw, _, degrees = scan
    path = tmp_path / "scan.nx"
    nxtomo(path, np.concatenate([references(), raw]), [2, 1] + [0] * N, np.r_[0, 0, degrees])
    with h5py.File(path, "a") as f:
        detector = f["entry/instrument/detector"]
        for name, value, unit in (("x_pixel_size", 1.4, "microns"), ("distance", 100.0, "mm")):
            detector.create_dataset(name, data=value).attrs["units"] = unit
        f.create_dataset("entry/instrument/beam/incident_energy", data=20.0).attrs["units"] = "kev"
    options = dict(projections=str(path), output=str(tmp_path / "o.h5:/data"), axis=W / 2, gpus="cpu", delta_beta=200.0)
    plan = reco.plan(reco.RecoOptions(**options))
    assert (plan.options.energy, plan.options.distance, plan.options.pixel_size) == pytest.approx((20.0, 0.1, 1.4e-6))
    with h5py.File(path, "a") as f:
        f["entry/instrument/beam/incident_energy"].attrs["units"] = "furlongs"
    with pytest.raises(UsageError, match=r"needs --energy: .*incident_energy as 20 in units 'furlongs'"):
        reco.plan(reco.RecoOptions(**options))


def test_a_tiff_stack_cut_short_keeps_the_recorded_angle_step(tmp_path, scan):
    """A copy of 90 projections over 180 degrees cut at 60 %: its 71 whole frames were spread over
    180 degrees (step pi/71; correlation with the phantom 0.49). Now a limited-angle scan at pi/90."""
    raw, line, degrees = scan
    tall = 8  # rows a frame: its pixels, not its IFD, the bulk of the file
    tifffile.imwrite(tmp_path / "p.tif", np.repeat(raw, tall // ROWS, axis=1), photometric="minisblack")
    tifffile.imwrite(tmp_path / "d.tif", np.repeat(references()[:1], tall // ROWS, axis=1), photometric="minisblack")
    tifffile.imwrite(tmp_path / "f.tif", np.repeat(references()[1:], tall // ROWS, axis=1), photometric="minisblack")
    whole = (tmp_path / "p.tif").read_bytes()
    (tmp_path / "cut.tif").write_bytes(whole[: len(whole) * 6 // 10])
    source = open_source(str(tmp_path / "cut.tif"))
    count = source.count
    source.close()
    assert 45 < count < 75
    plan = reco.plan(reco.RecoOptions(projections=str(tmp_path / "cut.tif"), darks=str(tmp_path / "d.tif"),
                                      flats=str(tmp_path / "f.tif"), output=str(tmp_path / "o.h5:/data"),
                                      axis=W / 2, gpus="cpu"))
    assert plan.options.angle == pytest.approx(np.pi / N)
    assert any(f"records 90 projections and {count} are whole" in w for w in plan.warnings)
    got = reconstruct(tmp_path, projections=str(tmp_path / "cut.tif"), darks=str(tmp_path / "d.tif"),
                      flats=str(tmp_path / "f.tif"))
    want = iradon(line[:count], degrees[:count], step=2.0)
    assert error(got, want) < 0.02
    assert error(iradon(line[:count], np.arange(count) * 180.0 / count), want) > 0.2  # the step pi/count fails
