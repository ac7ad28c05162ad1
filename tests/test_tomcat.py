"""SLS TOMCAT's TIFF sequences (NAME0001.tif ... beside NAME.log), read as the scan they are.

The sequence is darks, flats, projections over 0..180 degrees with both ends, flats after the
scan; the beam fades by a fifth over it. Each slice is checked against scikit-image's FBP of
the same line integrals (tests.reference: a mirrored, shifted or scaled slice fails), and read
as a plain TIFF sequence (every file a projection, as before) it fails that check.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from tests.fading_scan import DARK, FadingScan, check, fading_scan, reconstruct
from ufo import reco
from ufo.core import UsageError
from ufo.storage import open_source

pytest.importorskip("skimage.transform")
W, ROWS, N, DARKS, FLATS = 96, 2, 91, 4, 5
DEGREES = np.linspace(0.0, 180.0, N)

LOG = """User ID : e12345
TOMOSTAGE scan of sample {name} started on Thu Dec 03 10:00:00 2026
--------------------Beamline Settings-------------------------
Ring current [mA]           : 401.253
Beam energy  [keV]          : 20.000
------------------------Scan Settings-------------------------
Sample folder                : /sls/X02DA/data/e12345/Data10/disk1/{name}
File Prefix                  : {name}
Number of projections        : {count}
Number of darks              : {darks}
Number of flats              : {flats}
Number of inter-flats        : {inter}
Inner scan flag              : 0
Flat frequency               : {every}
Rot Y min position  [deg]    : {start:.3f}
Rot Y max position  [deg]    : {stop:.3f}
Angular step [deg]           : {step:.3f}
Sample In   [um]             : 0
Sample Out  [um]             : 4000
--------------------------------------------------------------
"""


@pytest.fixture(scope="module")
def scan() -> FadingScan:
    return fading_scan(W, ROWS, DEGREES)


def write_tomcat(folder, scan, name: str = "sample_", after: bool = True, inter: int = 0, every: int = 0) -> str:
    """The sequence as TOMCAT writes it, numbered from 1; returns the folder."""
    projections, before, end = scan[:3]
    os.makedirs(folder, exist_ok=True)
    frames = [np.full((ROWS, W), DARK)] * DARKS + [before] * FLATS
    for i, frame in enumerate(projections):
        frames.append(frame)
        if inter and i < N - 1 and (i + 1) % every == 0:
            frames += [before + (end - before) * (i + 1) / (N - 1)] * inter
    frames += [end] * FLATS if after else []
    for number, frame in enumerate(frames, start=1):
        tifffile.imwrite(os.path.join(folder, f"{name}{number:04d}.tif"), np.asarray(frame).astype(np.uint16))
    with open(os.path.join(folder, f"{name}.log"), "w") as log:
        log.write(LOG.format(name=name, count=N, darks=DARKS, flats=FLATS, inter=inter, every=every, start=0,
                             stop=180, step=180 / (N - 1)))
    return str(folder)


def test_a_tomcat_folder_reconstructs_with_its_darks_flats_and_angles(tmp_path, scan):
    folder = write_tomcat(tmp_path / "sample_" / "tif", scan)
    plan = reco.plan(reco.RecoOptions(projections=folder, output=str(tmp_path / "s.h5"), axis=W / 2, gpus="cpu"))
    said = " ".join(plan.warnings + [plan.describe()])
    assert plan.projections == N and "TOMCAT sequence of 105 files" in said and "2 runs" in said, said
    assert plan.options.angle == pytest.approx(np.radians(2.0))
    check(reconstruct(tmp_path, W / 2, projections=folder), scan)
    flats = open_source(folder, image_key=1)
    assert flats.run_spans == [(4, 8), (100, 104)] and flats.meta(5)["file_index"] == 100
    assert flats.read(5, slice(None), None)[0, 0] == 820
    flats.close()
    for given in (os.path.join(folder, "sample_.log"), os.path.join(folder, "sample_*.tif"), str(tmp_path / "sample_")):
        again = reco.plan(reco.RecoOptions(projections=given, output=str(tmp_path / "s.h5"), axis=W / 2, gpus="cpu"))
        assert again.projections == N and again.options.darks == given
    plain = reco.plan(reco.RecoOptions(projections=os.path.join(folder, "sample_00[2-9]*.tif"),
                                       output=str(tmp_path / "s.h5"), axis=W / 2, gpus="cpu"))
    assert plain.projections == 80 and plain.options.darks is None  # a part chosen by hand: as it is
    said = " ".join(plain.warnings)  # but said so, with what the log says the part holds and how to read the scan
    assert "part of the TOMCAT scan" in said and "80 projections by its log" in said and "sample_.log" in said, said
    head = open_source(os.path.join(folder, "sample_000[1-6].tif"))  # the darks and two flats, by hand
    assert "4 darks, 2 flats by its log" in " ".join(head.warnings), head.warnings
    head.close()


def test_read_as_a_plain_sequence_the_slices_would_be_wrong(tmp_path, scan):
    folder = write_tomcat(tmp_path / "t", scan)
    os.remove(os.path.join(folder, "sample_.log"))
    with pytest.raises(AssertionError, match="the slice is wrong"):
        check(reconstruct(tmp_path, W / 2, projections=folder, number=N), scan)


def test_inter_flats_and_a_sequence_without_flats_after(tmp_path, scan):
    folder = write_tomcat(tmp_path / "i", scan, after=False, inter=2, every=30)
    source = open_source(folder, image_key=1)
    assert source.count == FLATS + 6 and len(source.run_spans) == 4
    source.close()
    check(reconstruct(tmp_path, W / 2, projections=folder), scan)


def test_a_sequence_the_log_does_not_explain_is_refused_with_exit_2(tmp_path, scan):
    folder = write_tomcat(tmp_path / "x", scan)
    os.remove(os.path.join(folder, "sample_0105.tif"))
    with pytest.raises(UsageError, match="describes 100 frames .* and 104 files"):
        open_source(folder)
    done = subprocess.run([sys.executable, "-m", "ufo", "reco", "--projections", folder, "-o",
                           str(tmp_path / "o.tif"), "--axis", "48"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr and "--darks and --flats" in done.stderr


def test_a_sequence_with_a_missing_file_or_a_negative_count_is_refused(tmp_path, scan):
    folder = write_tomcat(tmp_path / "h", scan, after=False)
    os.rename(os.path.join(folder, "sample_0050.tif"), os.path.join(folder, "sample_0101.tif"))  # the count fits
    with pytest.raises(UsageError, match="misses file.* between sample_0049.tif and sample_0051.tif"):
        open_source(folder)
    log = os.path.join(folder, "sample_.log")
    with open(log) as f:
        text = f.read().replace(f"Number of darks              : {DARKS}", "Number of darks              : -4")
    with open(log, "w") as f:
        f.write(text)
    with pytest.raises(UsageError, match="negative count"):
        open_source(folder)


def test_a_log_that_is_not_there_or_a_folder_of_two_scans_is_no_scan_of_another(tmp_path, scan):
    """`--projections dir/sample_Z_.log` (no such log) reconstructed the folder's first scan, exit 0;
    a folder of two scans read the first alone."""
    folder = write_tomcat(tmp_path / "two", scan, name="a_", after=False)
    with pytest.raises(UsageError, match="does not exist"):
        open_source(os.path.join(folder, "z_.log"))
    write_tomcat(tmp_path / "two", scan, name="b_", after=False)
    with pytest.raises(UsageError, match="holds 2 TOMCAT scans .*a_.log, b_.log.*name one by its log"):
        open_source(folder)
    source = open_source(os.path.join(folder, "b_.log"), image_key=0)
    assert source.count == N and source.files[0].endswith("b_0010.tif")
    source.close()
