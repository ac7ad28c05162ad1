"""ALS 8.3.2's HDF5 scans of one frame per data set, read as the layout they are.

The file is written as dxchange's `read_als_832h5` reads it: a group NAME of 2-D data sets
NAME_0000_<i>.tif (projections), NAMEbak_<k>_<p>.tif (flats beside projection p: 0 and the last)
and NAMEdrk_<k>_<last>.tif, with string attributes. The beam fades by a fifth over the scan (the
flats after it are 0.82 of those before); a 180-degree step without the end fails the check
(ALS's angles include it, as tomopy.angles gives them).
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from ufo import reco
from ufo.core import UsageError
from tests.fading_scan import DARK, FadingScan, check, fading_scan, reconstruct
from ufo.storage import open_source

pytest.importorskip("skimage.transform")
W, ROWS, N = 96, 2, 91
DEGREES = np.linspace(0.0, 180.0, N)  # both ends, as ALS takes them


@pytest.fixture(scope="module")
def scan() -> FadingScan:
    return fading_scan(W, ROWS, DEGREES)


def write_als(path, scan, name: str = "20240101_120000_sample", arange: str = "180") -> None:
    projections, before, after = scan[:3]
    darks, last = np.full((2, *before.shape), DARK), len(projections) - 1
    with h5py.File(path, "w") as f:
        group = f.create_group(name)
        group.attrs.update({"nangles": str(len(projections)), "arange": arange, "i0cycle": "0",
                            "num_bright_field": "3", "num_dark_fields": str(len(darks))})
        for k, frame in enumerate(darks):  # the file's own order is by name, not by time
            group[f"{name}drk_{k:04d}_{last:04d}.tif"] = frame.astype(np.uint16)
        for k in range(3):
            group[f"{name}bak_{k:04d}_0000.tif"] = before.astype(np.uint16)
            group[f"{name}bak_{k:04d}_{last:04d}.tif"] = after.astype(np.uint16)
        for i, frame in enumerate(projections):
            group[f"{name}_0000_{i:04d}.tif"] = frame.astype(np.uint16)


def test_an_als_scan_reconstructs_with_its_own_darks_flats_and_angles(tmp_path, scan):
    path = tmp_path / "20240101_120000_sample.h5"
    write_als(path, scan)
    plan = reco.plan(reco.RecoOptions(projections=str(path), output=str(tmp_path / "s.h5"), axis=W / 2, gpus="cpu"))
    said = " ".join(plan.warnings + [plan.describe()])
    assert plan.projections == N and "ALS 8.3.2" in said and "3 flats" not in said, said
    assert "6 flats, 2 darks" in said and "2 runs" in said, said
    assert plan.options.angle == pytest.approx(np.radians(180.0 / (N - 1)))
    check(reconstruct(tmp_path, W / 2, projections=str(path)), scan)


def test_the_flats_are_interpolated_in_their_order_and_the_angles_include_the_end(tmp_path, scan):
    """The flats before and after the scan are two runs in acquisition order (interpolated by
    place, not one median), the frames are the data sets' own; a step of 180 / N fails the check."""
    path = tmp_path / "als.h5"
    write_als(path, scan, name="als")
    flats = open_source(str(path), image_key=1)
    assert flats.count == 6 and flats.run_spans == [(0, 2), (N + 3, N + 5)]
    assert [flats.read(i, slice(None), None)[0, 0] for i in (0, 5)] == [1000, 820]
    flats.close()
    projections = open_source(str(path), image_key=0)
    assert projections.shape == (ROWS, W) and projections.dtype == np.uint16
    assert projections.label(3).endswith("/als/als_0000_0003.tif[0]")
    np.testing.assert_array_equal(projections.read(N - 1, slice(1, 2), None),
                                  scan[0][N - 1][1:2].astype(np.uint16))
    projections.close()
    with pytest.raises(AssertionError, match="the slice is wrong"):
        check(reconstruct(tmp_path, W / 2, projections=str(path), angle=np.pi / N), scan)


def test_arange_360_and_a_count_unlike_nangles(tmp_path, scan):
    path = tmp_path / "als360.h5"
    write_als(path, scan, name="x", arange=b"360.0")  # type: ignore[arg-type]
    with h5py.File(path, "a") as f:
        f["x"].attrs["nangles"] = "100"
    plan = reco.plan(reco.RecoOptions(projections=str(path), output=str(tmp_path / "s.h5"), axis=W / 2, gpus="cpu"))
    said = " ".join(plan.warnings)
    assert "states nangles 100 and holds 91 projections" in said and "0 to 360 degrees" in said
    assert plan.options.angle == pytest.approx(np.radians(360.0 / 99))


def test_one_frame_data_sets_of_other_names_are_still_refused(tmp_path):
    path = tmp_path / "frames.h5"
    with h5py.File(path, "w") as f:
        for i in range(40):
            f[f"/scan/frame_{i:04d}"] = np.zeros((4, 8), np.uint16)
    with pytest.raises(UsageError, match="one frame per data set"):
        reco.plan(reco.RecoOptions(projections=str(path), output=str(tmp_path / "s.tif"), axis=4))


def test_a_dangling_link_beside_a_plain_stack_leaves_it_readable_by_its_name(tmp_path):
    """The ALS search looked into every group and met a link to a file not copied: `KeyError: Unable
    to synchronously open object (can't open file)` for a plain stack named by its file."""
    path = tmp_path / "stack.h5"
    with h5py.File(path, "w") as f:
        f["data"] = np.ones((6, 4, 8), np.float32)
        f["meta/calib"] = h5py.ExternalLink("not_copied.h5", "/x")
    source = open_source(str(path))
    assert source.count == 6 and source.shape == (4, 8)
    source.close()


@pytest.mark.parametrize("damage", ["text-flat", "short-projection"])
def test_a_broken_frame_data_set_is_named_when_the_file_is_opened(tmp_path, scan, damage):
    """A flat stored as text (a bare RuntimeError from h5py before) or one projection of another
    shape ("Can't broadcast" at that frame, once the reconstruction ran): refused at once, naming
    the data set, by `ufo reco` as by the reader (exit 1, one line)."""
    from click.testing import CliRunner

    from ufo.cli.main import cli
    from ufo.core.errors import InputError

    name = "20240101_120000_sample"
    path = tmp_path / f"{name}.h5"
    write_als(path, scan, name)
    broken = f"{name}bak_0001_0000.tif" if damage == "text-flat" else f"{name}_0000_0040.tif"
    with h5py.File(path, "a") as f:
        del f[name][broken]
        f[name][broken] = np.full((ROWS, W), b"nan") if damage == "text-flat" else np.zeros((ROWS, W - 10), np.uint16)
    with pytest.raises(InputError, match=broken.replace(".", r"\.")) as caught:
        open_source(str(path))
    assert ("strings" in str(caught.value)) == (damage == "text-flat")
    done = CliRunner().invoke(cli, ["reco", "--projections", str(path), "--output", str(tmp_path / "o.h5"),
                                    "--axis", str(W / 2), "--gpus", "cpu"])
    assert done.exit_code == 1 and broken in done.output and "Traceback" not in done.output, done.output
    assert not (tmp_path / "o.h5").exists()
