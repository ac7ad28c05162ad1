"""`ufo reco` refuses at once an output its disk cannot hold, says the size in --dry-run, and ends
quietly when its stdout's reader goes away (`ufo reco --dry-run | head`).

The scans here are HDF5 headers of frames never written (h5py allocates contiguous data late), so
a plan of 20000 slices of 20000^2 pixels (32 TB of float32) is read in milliseconds and is larger
than any disk a test runs on: the real disk's free space, no stand-in."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from ufo import reco
from ufo.reco.output_checks import output_bytes, room, room_problem

SIDE = 20000  # 20000 rows of 20000^2 slices: 32 TB of float32, 16 TB as 16-bit


def ufo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ufo", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def huge(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("room") / "huge.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("data", shape=(100, SIDE, SIDE), dtype="u2")  # header only: nothing allocated
    assert path.stat().st_size < 1 << 20
    return path


def test_a_volume_larger_than_its_disk_is_refused_before_any_work(huge, tmp_path):
    out = tmp_path / "slices.h5"
    result = ufo("reco", "--projections", f"{huge}:/data", "--output", f"{out}:/data", "-q")
    assert result.returncode == 1, result.stderr
    free = shutil.disk_usage(tmp_path).free
    message = " ".join(result.stderr.split())
    assert f"the {SIDE} slices need {SIDE ** 3 * 4 / 1e9:.1f} GB" in message, message
    said = re.search(r"has ([0-9.]+) (GB|MB) free", message)
    assert said is not None, message
    assert float(said[1]) * (1e9 if said[2] == "GB" else 1e6) == pytest.approx(free, rel=0.05, abs=2e8)
    assert f"--output-bits 16: {SIDE ** 3 * 2 / 1e9:.1f} GB" in message and "--region" in message
    assert "Traceback" not in result.stderr
    assert not out.exists()  # nothing written, no half volume


def test_dry_run_says_the_size_and_the_room_and_the_stop(huge, tmp_path):
    result = ufo("reco", "--projections", f"{huge}:/data", "--output", f"{tmp_path / 's-%05i.tif'}", "--dry-run",
                 "--region", "0:10")
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("output:"))
    assert line.startswith(f"output: {10 * SIDE * SIDE * 4 / 1e9:.1f} GB of slices, ") and "free on its disk" in line
    assert "would stop here" not in result.stderr  # 16 GB: fits on any disk this runs on? not said
    result = ufo("reco", "--projections", f"{huge}:/data", "--output", f"{tmp_path / 'x.h5'}:/data", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "would stop here: the 20000 slices need" in " ".join(result.stderr.split())


def test_the_size_counts_slices_region_roi_and_bits(huge, tmp_path):
    base = reco.RecoOptions(projections=f"{huge}:/data", output=str(tmp_path / "o.h5:/data"))
    plan = reco.plan(base, outputs=False)
    assert output_bytes(plan) == SIDE * SIDE * SIDE * 4
    assert room_problem(plan) is not None
    from dataclasses import replace

    small = reco.plan(replace(base, region="0:6:2", roi=(9850, 9900, 300, 200), output_bits=16), outputs=False)
    assert output_bytes(small) == 3 * 200 * 300 * 2  # 3 slices of 200 rows x 300 columns, 2 bytes each
    need, free = room(small)
    assert need == 3 * 200 * 300 * 2 and free is not None and free > 0
    assert room_problem(small) is None
    reco.plan(replace(base, region="0:6:2", roi=(9850, 9900, 300, 200)))  # fits: no error with outputs checked


def test_the_half_acquisition_auto_axis_counts_the_widest_slice(tmp_path):
    path = tmp_path / "scan.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=np.ones((200, 4, 64), np.float32))
    opts = reco.RecoOptions(projections=f"{path}:/data", output=str(tmp_path / "o.h5:/data"), half_acquisition=True,
                            axis="auto")
    plan = reco.plan(opts, outputs=False)
    assert plan.axis is None  # found when the run starts: the slice is counted at twice the detector's width
    assert output_bytes(plan) == 4 * 128 * 128 * 4


def test_a_closed_stdout_ends_the_command_quietly(huge, tmp_path):
    """`ufo reco --dry-run | head -1`: 141 (as a tool SIGPIPE ends) and no 'error: Broken pipe'."""
    proc = subprocess.Popen([sys.executable, "-m", "ufo", "reco", "--projections", f"{huge}:/data", "--output",
                             f"{tmp_path / 'x.h5'}:/data", "--dry-run"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader goes away before the plan is printed (the interpreter is still starting)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141, err
    assert "Broken pipe" not in err and "error:" not in err


def test_overwrite_counts_the_tiff_slices_it_replaces(tmp_path):
    """--overwrite of a TIFF sequence replaces each old slice file by its new one: a run that fitted
    was refused on its second run (the old files were counted as taken)."""
    import tifffile

    scan = tmp_path / "p.tif"
    tifffile.imwrite(scan, np.ones((40, 6, 64), np.float32))
    out = str(tmp_path / "s" / "slice-%03i.tif")
    (tmp_path / "s").mkdir()
    for row in range(6):
        tifffile.imwrite(out % row, np.zeros((512, 512), np.float32))  # 1 MiB each, larger than the new ones
    old = sum(p.stat().st_size for p in (tmp_path / "s").iterdir())
    from dataclasses import replace

    options = reco.RecoOptions(projections=str(scan), output=out, axis=32.0)
    _, free = room(reco.plan(options, outputs=False))
    _, freed = room(reco.plan(replace(options, overwrite=True), outputs=False))
    assert free is not None and freed is not None
    assert freed - free == pytest.approx(old, abs=1 << 20)  # the disk's free space moves a little meanwhile


def test_an_empty_hdf5_output_of_a_stopped_run_is_removed_and_nothing_else(tmp_path):
    """A `ufo reco` stopped before its first slice left an HDF5 file with nothing in it (a base
    install's probe): removed now, where this run made it; a file that was there before, or that
    holds any values, stays."""
    import h5py

    from ufo.reco.output_checks import remove_if_empty

    empty = tmp_path / "empty.h5"
    h5py.File(empty, "w").close()
    assert not remove_if_empty(f"{empty}:/data", existed=True) and empty.exists()  # there before the run
    assert remove_if_empty(f"{empty}:/data", existed=False) and not empty.exists()
    shaped = tmp_path / "shaped.h5"
    with h5py.File(shaped, "w") as f:
        f.create_dataset("entry/data", shape=(0, 8, 8), maxshape=(None, 8, 8), dtype="f4")
    assert remove_if_empty(str(shaped), existed=False) and not shaped.exists()
    kept = tmp_path / "kept.h5"
    with h5py.File(kept, "w") as f:
        f["other"] = np.arange(3)  # another data set of the file: never the run's to remove
        f.create_dataset("data", shape=(0, 8, 8), maxshape=(None, 8, 8), dtype="f4")
    assert not remove_if_empty(f"{kept}:/data", existed=False) and kept.exists()
    tif = tmp_path / "s.tif"
    tif.write_bytes(b"")
    assert not remove_if_empty(str(tif), existed=False) and tif.exists()  # HDF5 only


def test_overwriting_a_tiff_sequence_says_which_older_slices_stay_beside_it(tmp_path):
    """An interrupted 26-slice run, then a 4-slice one with --overwrite: the folder mixed 4 new slices
    with 22 stale ones (another axis, say), exit 0 and no word (a probe)."""
    import tifffile

    tifffile.imwrite(tmp_path / "p.tif", np.ones((30, 8, 32), np.float32))
    (tmp_path / "seq").mkdir()
    for row in range(7):
        (tmp_path / "seq" / f"s-{row:05d}.tif").write_bytes(b"old")
    (tmp_path / "seq" / "notes.txt").write_text("not a slice")

    def planned(region):
        return reco.plan(reco.RecoOptions(projections=str(tmp_path / "p.tif"), axis="16", region=region,
                                          output=str(tmp_path / "seq" / "s-%05i.tif"), overwrite=True))

    said = [w for w in planned("0:4").warnings if "other file" in w]
    assert len(said) == 1 and said[0].startswith("3 other file(s) of the pattern") and "s-00004.tif" in said[0], said
    assert not [w for w in planned("0:7").warnings if "other file" in w]  # every one replaced


def test_every_writer_of_a_tiff_sequence_says_once_which_older_files_stay(tmp_path):
    """Only `ufo reco` said it: `ufo run ... ! write overwrite=true` and the Python API's Writer
    left 2 stale frames among 2 new ones (read back as one stack of 4) without a word. Now the
    write task says it at its end, in the plan's words, so `ufo reco` says it once."""
    import warnings

    import tifffile

    import ufo as api

    folder = tmp_path / "seq"
    folder.mkdir()
    for i in range(4):
        tifffile.imwrite(folder / f"f-{i:05d}.tif", np.full((4, 4), 100 + i, np.float32))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        api.Writer(path=str(folder / "f-%05i.tif"), overwrite=True)(np.zeros((2, 4, 4), np.float32)).run().wait()
    said = [str(w.message) for w in caught if "other file(s)" in str(w.message)]
    assert len(said) == 1 and "2 other file(s) of the pattern" in said[0] and "f-00002.tif, f-00003.tif" in said[0], said
    run = ufo("run", f"dummy-data shape=4,4 number=3 ! write path={folder}/f-%05i.tif overwrite=true")
    assert run.returncode == 0 and run.stderr.count("1 other file(s) of the pattern") == 1, run.stderr
    assert "(f-00003.tif)" in run.stderr
    tifffile.imwrite(tmp_path / "p.tif", np.ones((30, 8, 32), np.float32))
    run = ufo("reco", "--projections", str(tmp_path / "p.tif"), "--axis", "16", "--region", "0:2",
              "--output", str(folder / "f-%05i.tif"), "--overwrite", "-q")
    assert run.returncode == 0 and run.stderr.count("2 other file(s) of the pattern") == 1, run.stderr
    assert "f-00002.tif, f-00003.tif" in run.stderr
    # no overwrite over them: nothing replaced, nothing to say
    run = ufo("run", f"dummy-data shape=4,4 number=2 ! write path={folder}/g-%05i.tif")
    assert run.returncode == 0 and "other file" not in run.stderr, run.stderr
