"""File names as other tools and beamlines write them: sequences named by angle or by signed
numbers sorted as numbers, and an ESRF scan's `NAME_NNNN.edf` projections named as they are
(scratch/probes/inputs.md)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import tifffile

import ufo
from ufo.storage.formats import natural_key


def shuffled_sort(names: list[str], seed: int = 0) -> list[str]:
    mixed = names[:]
    random.Random(seed).shuffle(mixed)
    return sorted(mixed, key=natural_key)


@pytest.mark.parametrize("names", [
    [f"proj_{angle}.tif" for angle in np.arange(0, 3.0, 0.25)],  # str(float): 0.0, 0.25, 0.5, ...
    [f"proj_{angle}.tif" for angle in (-45.0, -2.5, -0.5, 0.0, 0.125, 12.5, 100.0)],
    [f"a_{n}.tif" for n in range(-2, 3)],
    ["-2.tif", "-1.5.tif", "0.tif", "1.tif"],  # a sign at the start of the name
    [f"scan-{n:04d}.tif" for n in (0, 1, 2, 10, 999, 1000)],  # a dash before a counter separates
    [f"img_{n:04d}.tif" for n in (0, 1, 9, 10, 11)],
    ["img_9.tif", "img_10.tif", "img_100.tif"],
    ["frame1.2.tif", "frame1.25.tif", "frame1.3.tif", "frame2.tif"],  # one dot between digits: a decimal
    ["s1.2.3.tif", "s1.2.10.tif", "s1.10.1.tif"],  # several dots: counters each
    ["2024-05-01_scan-0002.tif", "2024-05-01_scan-0010.tif", "2024-05-02_scan-0001.tif"],  # a date's dashes
    ["img.0001.tif", "img.0002.tif", "img.0010.tif"],  # a dot before a counter, after a letter
])
def test_numbers_in_names_sort_as_numbers(names):
    """proj_0.0 .. proj_2.75 read in the order 0, 0.5, 0.25, 0.75, 1.0, 1.5, 1.25, ... (the digits
    after the point sorted as an integer), a_-2 .. a_2 as 0, 1, 2, -1, -2."""
    for seed in range(5):
        assert shuffled_sort(names, seed) == names


def test_names_equal_as_numbers_keep_one_order_whatever_the_listing():
    """Names that mix styles or spell one number twice sort the same from any listing order."""
    names = ["img_0.5.tif", "img_0.50.tif", "IMG_1.tif", "img_1.tif", "img_01.tif", "a-2.tif", "a_-2.tif",
             "s1.10.tif", "s1.10.2.tif", "s1.2.tif", "x", "x1", "x1a", "x1a2", "x.1"]
    orders = {tuple(shuffled_sort(names, seed)) for seed in range(20)}
    assert len(orders) == 1
    assert list(orders.pop()) == ["a-2.tif", "a_-2.tif", "img_0.5.tif", "img_0.50.tif", "IMG_1.tif", "img_01.tif",
                                  "img_1.tif", "s1.10.2.tif", "s1.10.tif", "s1.2.tif", "x", "x1", "x1a", "x1a2",
                                  "x.1"]  # 'a-' and 'a_' differ as text; s1.10.2 is 1 (counters), s1.10 1.1


def test_a_sequence_named_by_angle_reads_in_angle_order(tmp_path):
    angles = np.arange(0, 3.0, 0.25)
    for index, angle in enumerate(angles):  # each frame holds its place in the acquisition
        tifffile.imwrite(tmp_path / f"proj_{angle}.tif", np.full((4, 4), index, np.uint16))
    for index, angle in enumerate((-2, -1, 0, 1, 2)):
        (tmp_path / "signed").mkdir(exist_ok=True)
        tifffile.imwrite(tmp_path / "signed" / f"a_{angle}.tif", np.full((4, 4), index, np.uint16))
    assert ufo.Reader(path=str(tmp_path))().collect()[:, 0, 0].tolist() == list(range(len(angles)))
    assert ufo.Reader(path=str(tmp_path / "signed"))().collect()[:, 0, 0].tolist() == list(range(5))


def test_an_esrf_scan_of_name_underscore_number_files_is_described_by_their_names(tmp_path):
    """tomoscan's naming NAME_0000.edf: the notes said 'scan_us0010.edf on' and 'scan_usNNNN.edf',
    files that do not exist; they name the folder's own files."""
    edf = pytest.importorskip("fabio.edfimage")
    from ufo import reco

    n, shape = 10, (4, 16)
    folder = tmp_path / "scan_us"
    folder.mkdir()
    (folder / "scan_us.info").write_text(f"Prefix= scan_us\nScanRange= 180\nTOMO_N= {n}\nREF_ON= {n}\n")
    for i in range(n + 3):  # the scan, then 3 alignment projections
        edf.EdfImage(data=np.full(shape, 500 + i, np.uint16)).write(str(folder / f"scan_us_{i:04d}.edf"))
    edf.EdfImage(data=np.full(shape, 100, np.float32)).write(str(folder / "darkend0000.edf"))
    for i in (0, n):
        edf.EdfImage(data=np.full(shape, 1000, np.float32)).write(str(folder / f"refHST{i:04d}.edf"))
    plan = reco.plan(reco.RecoOptions(projections=str(folder), output=str(tmp_path / "s.h5:/data"), axis=8))
    assert plan.projections == n
    alignment = [w for w in plan.warnings if "alignment" in w]
    assert alignment == ["3 alignment projection(s) after the scan (scan_us_0010.edf on) left out of the reconstruction"]
    assert (folder / "scan_us_0010.edf").exists()
    assert f"ESRF scan '{folder}': {n} projections scan_us_NNNN.edf (TOMO_N)" in plan.describe()
