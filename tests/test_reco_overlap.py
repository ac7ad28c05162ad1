"""Passes that overlap writing with reading (ufo.reco.passes.overlap_height), their bands read
ahead by a child process (prefetch.start_ranges via resident_reader.prefetch_passes), and the
slices they make against one pass and the phantom."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import replace

import h5py
import numpy as np
import pytest

from ufo import reco
from ufo.reco import running
from ufo.reco.passes import OVERLAP_PASSES, describe, overlap_height, resident_passes, tapered
from ufo.reco.resident import run_resident
from ufo.reco.resident_reader import Sources, inputs, prefetch_passes
from ufo.tomo.timing import StageTimes

from .resident_scan import AXIS, MU, N, H, W, write_scan
from .resident_scan import options as _options
from .page_cache import evict
from .page_cache import in_memory as _in_cache


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    return write_scan(str(tmp_path_factory.mktemp("overlap") / "scan.nx"))


def _big(plan, **options):
    """The plan as if its scan were 1024 rows of 1024 pixels (overlap_height looks at sizes only)."""
    return replace(plan, width=1024, rows=list(range(1024)), options=replace(plan.options, **options))


def test_large_volumes_go_in_passes(scan, tmp_path):
    plan = reco.plan(_options(scan[0], tmp_path / "o.h5:/data"))
    big = _big(plan)
    assert overlap_height(big) == 1024 // OVERLAP_PASSES
    band = 1024 // OVERLAP_PASSES
    # a tapered edge of 128 rows of 1024 pixels would be a 256 KiB request per frame: even passes
    assert [p.rows for p in resident_passes(big, 1 << 40)] == [band] * OVERLAP_PASSES
    wide = replace(big, width=2048)  # 128 rows of 2048 pixels: 512 KiB a frame, tapered
    passes = resident_passes(wide, 1 << 40)
    assert [p.rows for p in passes] == [band // 2] + [band] * (OVERLAP_PASSES - 1) + [band // 2]
    assert [p.first_row for p in passes] == [p.first_slice for p in passes] == [0, 128, 384, 640, 896]
    # an axis or a scale to find: from rows read before the first pass (resident_sample)
    assert overlap_height(_big(plan, axis="auto")) == 1024 // OVERLAP_PASSES
    assert overlap_height(_big(plan, output_bits=16)) == 1024 // OVERLAP_PASSES
    assert overlap_height(_big(plan, output_bits=16, output_min=0.0, output_max=1.0)) == 1024 // OVERLAP_PASSES  # given: passes
    assert overlap_height(plan) == len(plan.rows)  # a small volume: one pass
    assert [p.rows for p in resident_passes(_big(plan, pass_height=300), 1 << 40)] == [300, 300, 300, 124]


def test_tapered_passes_cover_every_row_once_within_the_band():
    """Edges half as high where there are several passes; no pass above the band, none empty, the
    rows in order and each once; too few rows for three heights: even passes."""
    for count in range(1, 200):
        for band in range(1, count + 3):
            heights = tapered(count, band)
            assert sum(heights) == count and max(heights) <= band and min(heights) >= 1
            if count <= band:
                assert heights == [count]
            elif len(heights) > 2 and count - 2 * (band // 2) >= band // 2:
                assert heights[0] == heights[-1] == max(1, band // 2) <= min(heights[1:-1])
            else:
                assert max(heights) - min(heights) <= 1
    assert tapered(1024, 256) == [128, 256, 256, 256, 128]
    assert tapered(1024, 512) == [256, 512, 256]
    assert tapered(10, 9) == [5, 5]


def test_dry_run_describes_the_passes_it_will_run(scan, tmp_path):
    """`ufo reco --dry-run`'s line for the resident path: the count and every height, the middle
    elided when there are many."""
    plan = reco.plan(_options(scan[0], tmp_path / "o.h5:/data"))
    wide = replace(_big(plan), width=2048)
    assert describe(resident_passes(wide, 1 << 40)) == \
        "passes: 5 of 128, 256, 256, 256, 128 rows, each pass's slices written while the next is read"
    assert describe(resident_passes(plan, 1 << 40)) == f"passes: 1 of {len(plan.rows)} rows, every slice kept on the GPU until the last frame"
    many = resident_passes(_big(plan, pass_height=50), 1 << 40)
    assert describe(many) == f"passes: {len(many)} of 50, 50, ... 50, 24 rows, each pass's slices written while the next is read"


def test_the_bands_of_every_pass_are_read_ahead_in_pass_order(scan, tmp_path):
    """The child reads what the passes will read, and nothing else: a cold file's pages of the
    bands come into memory, those of the rows no pass reads stay out."""
    path = str(tmp_path / "s.nx")
    write_scan(path)
    plan = reco.plan(_options(path, tmp_path / "o.h5:/data", region=f"0:{H // 2}", pass_height=4))
    passes = resident_passes(plan, 1 << 40)
    assert len(passes) == 3 and passes[-1].first_row + passes[-1].rows == H // 2
    evict(path)
    if _in_cache(path).mean() > 0.1:
        pytest.skip("the page cache keeps this file (tmpfs?): nothing to read ahead")
    sources = Sources()
    try:
        ranges = [r for p in passes for path_, key, _, n in inputs(plan)
                  for r in sources.get(path_, key).byte_ranges(slice(p.first_row, p.first_row + p.rows), n)]
        child = prefetch_passes(plan, passes, sources)
        assert child is not None
        child.process.wait(30)
        assert child.process.returncode == 0
    finally:
        sources.close()
    pages = _in_cache(path)
    size = 4096
    wanted = np.zeros_like(pages)
    for _, offset, length in ranges:
        wanted[offset // size: (offset + length - 1) // size + 1] = 1
    assert pages[wanted == 1].all()  # every band read
    with h5py.File(path) as f:
        dset = f["/entry/instrument/detector/data"]
        first = dset.id.get_chunk_info(0).byte_offset if dset.chunks else dset.id.get_offset()
    row = W * 2
    frame = H * row
    lower = first + 5 * frame + (H // 2 + 1) * row  # frame 5's rows below the region, away from its band's pages
    assert not pages[lower // size + 1: (first + 6 * frame) // size - 1].any()


def test_no_child_without_passes_to_read_ahead_or_when_told(scan, tmp_path, monkeypatch):
    """The run asks for the passes after the first (none with one pass); UFO_PREFETCH=0 leaves
    the reads to the readers."""
    plan = reco.plan(_options(scan[0], tmp_path / "o.h5:/data", pass_height=5))
    sources = Sources()
    try:
        assert prefetch_passes(plan, [], sources) is None
        monkeypatch.setenv("UFO_PREFETCH", "0")
        assert prefetch_passes(plan, resident_passes(plan, 1 << 40), sources) is None
    finally:
        sources.close()


def test_passes_with_their_bands_read_ahead_equal_one_pass_and_the_phantom(scan, tmp_path, monkeypatch):
    path, phantom = scan
    slices = {}
    for name, height, heights, ahead in (("one", None, "", "after"), ("passes", 3, "", "after"),
                                         ("uneven", None, "2,5,1,3", "after"), ("first", 3, "", "first")):
        monkeypatch.setenv("UFO_PASS_HEIGHTS", heights)  # passes of unequal heights, as tapered ones are
        monkeypatch.setenv("UFO_READ_AHEAD", ahead)  # the child once the first pass is read, or with the job
        plan = reco.plan(_options(path, tmp_path / f"{name}.h5:/data", pass_height=height))
        times = StageTimes()
        run_resident(plan, times, None, running.writer, device="cpu")
        events = [event for event, _ in times.timeline()]
        assert ("read-ahead started" in events) == (name != "one")
        if ahead == "after" and name != "one":  # made once the first pass is read (with the job: a race here)
            started = events.index("read-ahead started")
            assert started > events.index(next(e for e in events if e.startswith("last frame read (pass 1 ")))
        if heights:
            assert sum(1 for event in events if event.startswith("slices complete")) == 5  # 2+5+1+3+rest
        with h5py.File(tmp_path / f"{name}.h5") as f:
            slices[name] = f["data"][:]
            assert not [k for k in f if k != "data"]  # the volume writer's count is gone once complete
    assert slices["one"].shape == slices["passes"].shape == (H, W, W)
    for other in ("passes", "uneven", "first"):
        np.testing.assert_allclose(slices[other], slices["one"], rtol=0, atol=1e-6 * np.abs(slices["one"]).max())
    from .reference import assert_matches, line_integrals

    row = H // 2 + 1  # in the second of the passes' bands (rows 9-11)
    with h5py.File(path) as f:
        data = f["entry/instrument/detector/data"][:, row].astype(np.float64)
        keys = f["entry/instrument/detector/image_key"][:]
    sino = line_integrals(data[keys == 0], data[keys == 2], data[keys == 1])
    truth = MU * phantom.slice(z=row - H / 2, size=W)  # row r is the plane z = r - height / 2
    assert_matches(slices["passes"][row], truth, sino, np.arange(N) * np.pi / N, AXIS)


def test_a_killed_parent_ends_the_child(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"\0" * (1 << 20))
    code = ("import sys, time; from ufo.storage import prefetch; "
            f"c = prefetch.start_ranges([[({str(path)!r}, 0, 4096)]] * 200000); print(c.process.pid, flush=True); "
            "time.sleep(60)")
    import subprocess

    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    end = time.monotonic() + 20
    while time.monotonic() < end:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        if open(f"/proc/{child}/stat").read().split()[2] == "Z":
            break
        time.sleep(0.05)
    else:
        pytest.fail("the prefetch child outlived its parent")


def test_dry_run_of_the_resident_path_prints_its_passes(scan, tmp_path, monkeypatch):
    """The command's dry-run branch for one GPU, on a machine without one: `select` is told a
    GPU 0 exists (a dry run starts nothing on it), so CI checks the line a GPU host prints
    (tests/test_reco_resident.py checks it on a real GPU, `pytest -m gpu`)."""
    from click.testing import CliRunner

    import ufo.gpu
    from ufo.cli.main import cli

    monkeypatch.setattr(ufo.gpu, "select", lambda spec: [0])
    path = scan[0]
    result = CliRunner().invoke(cli, ["reco", "--projections", path, "--axis", "48", "--output",
                                      str(tmp_path / "d.h5:/data"), "--dry-run", "--pass-height", "7"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "passes: 3 of 7, 7, 6 rows, each pass's slices written while the next is read (fewer rows a pass where " \
           "the GPU's free memory is smaller)" in lines
    assert sum(line.startswith("passes:") for line in lines) == 1  # the sinogram path's line replaced, not added
    assert any(line.startswith("path: resident (one GPU)") for line in lines)
    assert not (tmp_path / "d.h5").exists()
