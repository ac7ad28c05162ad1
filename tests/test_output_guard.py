"""Outputs never destroy inputs: an output that is, contains or lies inside an input is refused
before anything starts (exit 2, both paths named, the input unchanged byte for byte); dataset
paths cannot climb out of their HDF5 file or Zarr store; existing or unwritable outputs are
refused before any work."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from ufo.core.errors import UfoError, UsageError
from ufo.core.registry import create
from ufo.storage.guard import check_output, conflict


def ufo(*args, cwd=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "ufo", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, check=False)


def digest(path) -> str:
    if os.path.isdir(path):
        h = hashlib.sha256()
        for folder, _, files in sorted(os.walk(path)):
            for name in sorted(files):
                h.update(name.encode())
                with open(os.path.join(folder, name), "rb") as f:
                    h.update(f.read())
        return h.hexdigest()
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.fixture
def stack(tmp_path):
    path = tmp_path / "x.tif"
    tifffile.imwrite(path, np.arange(4 * 16 * 16, dtype=np.float32).reshape(4, 16, 16), photometric="minisblack")
    return path


def refused(result, *names):
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    for name in names:
        assert str(name) in result.stderr, (name, result.stderr)


def test_read_and_write_of_one_file_is_refused_and_the_input_kept(stack, tmp_path):
    before = digest(stack)
    result = ufo("run", "read path=x.tif ! write path=x.tif overwrite=true", cwd=tmp_path)
    refused(result, "output 'x.tif' is input 'x.tif'")
    assert digest(stack) == before
    # through a symbolic link and a hard link: the same file, named both ways
    os.symlink(stack, tmp_path / "link.tif")
    os.link(stack, tmp_path / "hard.tif")
    for name in ("link.tif", "hard.tif"):
        result = ufo("run", f"read path={name} ! write path=x.tif overwrite=true", cwd=tmp_path)
        refused(result, name, "x.tif")
        assert digest(stack) == before
    result = ufo("run", "read path=x.tif ! write path=link.tif overwrite=true", cwd=tmp_path)
    refused(result, "link.tif", str(stack))  # the message shows where the link leads
    assert digest(stack) == before
    # in a branch of the graph, and as a JSON graph
    result = ufo("run", "[read path=x.tif, dummy-data shape=16,16 number=4] ! calculate expression='x0+x1' ! "
                 "write path=x.tif overwrite=true", cwd=tmp_path)
    refused(result, "x.tif")
    assert digest(stack) == before


def test_python_graphs_are_refused_at_validation(stack):
    before = digest(stack)
    stream = create("write", path=str(stack), overwrite=True)(create("read", path=str(stack))())
    with pytest.raises(UsageError, match="is input"):
        stream.run().wait()
    assert digest(stack) == before


def test_sequences_directories_and_stores(tmp_path):
    folder = tmp_path / "seq"
    folder.mkdir()
    for i in range(3):
        tifffile.imwrite(folder / f"f-{i:02d}.tif", np.full((8, 8), i, np.float32))
    before = digest(folder)
    # the output pattern names files the glob reads
    refused(ufo("run", "read path=seq/*.tif ! write path=seq/f-%02i.tif overwrite=true", cwd=tmp_path), "seq/f-%02i.tif")
    # the output lies inside the directory read
    refused(ufo("run", "read path=seq ! write path=seq/sub/o.tif overwrite=true", cwd=tmp_path), "lies inside", "'seq'")
    assert digest(folder) == before
    # an HDF5 file is one input whatever dataset is written
    create("write", path=str(tmp_path / "s.h5:/a"))(create("read", path=str(folder))()).run().wait()
    h5 = digest(tmp_path / "s.h5")
    refused(ufo("run", "read path=s.h5:/a ! write path=s.h5:/b", cwd=tmp_path), "s.h5:/b", "s.h5:/a")
    assert digest(tmp_path / "s.h5") == h5
    # Zarr: another array of the same store is fine, the array read or one around it is not
    create("write", path=str(tmp_path / "st.zarr:/a"))(create("read", path=str(folder))()).run().wait()
    assert conflict(str(tmp_path / "st.zarr:/b"), [str(tmp_path / "st.zarr:/a")]) is None
    assert "is input" in conflict(str(tmp_path / "st.zarr:/a"), [str(tmp_path / "st.zarr:/a")])
    assert "contains" in conflict(str(tmp_path / "st.zarr:/a"), [str(tmp_path / "st.zarr:/a/b")])
    assert "is input" in conflict(str(tmp_path / "st.zarr:/b"), [str(tmp_path / "st.zarr")])  # the whole store
    assert conflict(str(tmp_path / "other.tif"), [str(folder / "*.tif"), str(tmp_path / "st.zarr:/a")]) is None


def test_dataset_paths_cannot_climb_out_of_the_store(tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("precious")
    (tmp_path / "st.zarr").mkdir()
    result = ufo("run", "dummy-data shape=8,8 number=2 ! write path=st.zarr:/../victim overwrite=true", cwd=tmp_path)
    refused(result, "/../victim", "climbs out")
    assert (victim / "keep.txt").read_text() == "precious"
    for path in ("s.h5:/../x", "st.zarr:/a/../../victim", "st.zarr:/./x"):
        with pytest.raises(UsageError, match="climbs out"):
            create("write", path=f"{tmp_path}/{path}", overwrite=True)(create("dummy-data", shape=(8, 8), number=1)()).run().wait()
    with pytest.raises(UfoError, match="climbs out"):
        create("read", path=f"{tmp_path}/st.zarr:/../victim")().collect()
    # a link inside the store that leads out of it is not followed for writing
    os.symlink(victim, tmp_path / "st.zarr" / "out")
    from ufo.storage.zarr_store import ZarrWriter

    with pytest.raises(UsageError, match="outside the store"):
        ZarrWriter(str(tmp_path / "st.zarr"), "out/data", overwrite=True)
    assert (victim / "keep.txt").read_text() == "precious"


@pytest.fixture
def sinograms(tmp_path):
    path = tmp_path / "s.tif"
    rng = np.random.default_rng(1)
    tifffile.imwrite(path, rng.random((4, 32, 24)).astype(np.float32), photometric="minisblack")
    return path


def test_ufo_reco_refuses_its_input_as_output(sinograms, tmp_path):
    before = digest(sinograms)
    result = ufo("reco", "--sinograms", "s.tif", "-o", "s.tif", "--overwrite", cwd=tmp_path)
    refused(result, "output 's.tif' is input 's.tif'")
    assert digest(sinograms) == before
    (tmp_path / "flats").mkdir()
    result = ufo("reco", "--sinograms", "s.tif", "-o", "flats/r-%03i.tif", cwd=tmp_path)  # any input counts
    assert result.returncode == 0, result.stderr
    tifffile.imwrite(tmp_path / "d.tif", np.zeros((2, 32, 24), np.float32), photometric="minisblack")
    result = ufo("reco", "--projections", "s.tif", "--darks", "d.tif", "--flats", "s.tif", "-o", "d.tif",
                 "--overwrite", cwd=tmp_path)
    refused(result, "output 'd.tif' is input 'd.tif'")


def test_ufo_reco_checks_its_output_before_any_work(sinograms, tmp_path):
    tifffile.imwrite(tmp_path / "out.tif", np.zeros((2, 2), np.float32))
    before = digest(tmp_path / "out.tif")
    # exists: refused before the plan is printed, the axis searched or the progress bar shown
    result = ufo("reco", "--sinograms", "s.tif", "--axis", "auto", "-o", "out.tif", cwd=tmp_path)
    refused(result, "'out.tif' exists", "--overwrite")
    assert "input:" not in result.stderr and "reconstructing" not in result.stderr
    assert digest(tmp_path / "out.tif") == before
    # cannot be written: a file where a directory must be
    result = ufo("reco", "--sinograms", "s.tif", "-o", "out.tif/slice-%03i.tif", cwd=tmp_path)
    refused(result, "is not a directory")
    # an existing HDF5 dataset, and a file that is not HDF5
    create("write", path=str(tmp_path / "v.h5:/d"))(create("read", path=str(sinograms))()).run().wait()
    refused(ufo("reco", "--sinograms", "s.tif", "-o", "v.h5:/d", cwd=tmp_path), "v.h5:/d", "exists")
    assert ufo("reco", "--sinograms", "s.tif", "-q", "-o", "v.h5:/e", cwd=tmp_path).returncode == 0
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    refused(ufo("reco", "--sinograms", "s.tif", "-o", "junk.h5:/d", cwd=tmp_path), "not an HDF5 file")


def test_check_output_rules(tmp_path):
    check_output(str(tmp_path / "new/deeper/slice-%03i.tif"))  # folders still to be made are fine
    (tmp_path / "a.raw").write_bytes(b"12")
    with pytest.raises(UsageError, match="exists"):
        check_output(str(tmp_path / "a.raw"))
    check_output(str(tmp_path / "a.raw"), overwrite=True)
    check_output(str(tmp_path / "a.raw"), append=True)
    (tmp_path / "d.tif").mkdir()
    with pytest.raises(UsageError, match="is a directory"):
        check_output(str(tmp_path / "d.tif"), overwrite=True)
    (tmp_path / "z.zarr").write_text("a file")
    with pytest.raises(UsageError, match="not a Zarr store"):
        check_output(str(tmp_path / "z.zarr"), overwrite=True)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_an_unwritable_folder_is_refused_first(tmp_path, sinograms):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        refused(ufo("reco", "--sinograms", "s.tif", "-o", "locked/s-%03i.tif", cwd=tmp_path), "not writable")
    finally:
        locked.chmod(0o700)


def test_a_replayed_file_is_never_the_output(tmp_path):
    """The file camera replays a file: writing the recording over it (the same name, a hard link)
    destroyed it, with exit 0 from `ufo run`."""
    frames = np.arange(3 * 8 * 8, dtype=np.uint16).reshape(3, 8, 8)
    tifffile.imwrite(tmp_path / "in.tif", frames, photometric="minisblack")
    os.link(tmp_path / "in.tif", tmp_path / "link.tif")
    kept = hashlib.md5((tmp_path / "in.tif").read_bytes()).hexdigest()
    for args in (["run", "camera name=file number=2 settings=path=in.tif ! write path=in.tif overwrite=true"],
                 ["camera", "grab", "file", "-p", "path=in.tif", "-n", "2", "-o", "link.tif", "--overwrite"]):
        result = ufo(*args, cwd=tmp_path)
        assert result.returncode == 2 and "is input" in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert hashlib.md5((tmp_path / "in.tif").read_bytes()).hexdigest() == kept
    done = ufo("camera", "grab", "file", "-p", "path=in.tif", "-n", "3", "-o", "copy.tif", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert np.array_equal(tifffile.imread(tmp_path / "copy.tif"), frames)  # a replay is the frames themselves


@pytest.mark.parametrize("name", ["stack.tif", "frames.raw"])
def test_a_second_writer_on_a_file_being_written_is_refused(tmp_path, name):
    """Two grabs into one stack: the second (--overwrite) truncated the file under the first, whose
    frames were lost while both reported success. Now the second is refused and the first's frames stay."""
    import signal
    import time

    first = subprocess.Popen([sys.executable, "-m", "ufo", "camera", "grab", "mock", "-n", "100000", "-o", name,
                              "-p", "frames-per-second=50", "-p", "sensor-width=64", "-p", "sensor-height=32"],
                             cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not ((tmp_path / name).exists() and (tmp_path / name).stat().st_size > 64 * 32 * 2 * 5):
            assert time.monotonic() < deadline and first.poll() is None, "the first grab did not start writing"
            time.sleep(0.05)
        second = ufo("camera", "grab", "mock", "-n", "3", "-o", name, "--overwrite", "-p", "sensor-width=64",
                     "-p", "sensor-height=32", cwd=tmp_path)
        assert second.returncode == 1, second.stderr
        assert "is being written by another process" in second.stderr and "Traceback" not in second.stderr
    finally:
        first.send_signal(signal.SIGINT)
        out, err = first.communicate(timeout=60)
    assert first.returncode == 130, err
    written = int(err.split("frames received")[0].split()[-1]) if "frames received" in err else None
    if name.endswith(".raw"):
        frames = np.fromfile(tmp_path / name, np.uint16).reshape(-1, 32, 64)
    else:
        frames = tifffile.imread(tmp_path / name)
    assert len(frames) > 5 and (written is None or len(frames) == written)
    later = ufo("camera", "grab", "mock", "-n", "3", "-o", name, "--overwrite", "-p", "sensor-width=64",
                "-p", "sensor-height=32", cwd=tmp_path)
    assert later.returncode == 0, later.stderr  # the lock went with the first writer


def test_a_tiff_sequence_numbered_by_row_is_checked_file_by_file(sinograms, tmp_path):
    """Files are numbered by detector row: only the first number (0) was checked, so a run into a
    folder holding slice-00003.tif wrote slices 1 and 2, then failed at 3. Now refused before work."""
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "slice-00003.tif").write_bytes(b"keep me")
    result = ufo("reco", "--sinograms", "s.tif", "--region", "1:4", "-o", "out/slice-%05i.tif", cwd=tmp_path)
    refused(result, "slice-00003.tif' exists", "--overwrite")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["slice-00003.tif"]
    assert (tmp_path / "out" / "slice-00003.tif").read_bytes() == b"keep me"
    done = ufo("reco", "--sinograms", "s.tif", "--region", "0:2", "-q", "-o", "out/slice-%05i.tif", cwd=tmp_path)
    assert done.returncode == 0, done.stderr  # other rows: nothing in the way
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["slice-00000.tif", "slice-00001.tif",
                                                                    "slice-00003.tif"]


@pytest.mark.parametrize("where", ["{long}.tif", "new/{long}/f.h5:/data"])
def test_an_output_name_too_long_for_the_file_system_is_refused_up_front(tmp_path, where):
    """It failed at the first write, after a whole reconstruction (exit 1), leaving folders behind."""
    path = str(tmp_path / where.format(long="a" * 300))
    with pytest.raises(UsageError, match="has 30[04] bytes, more than the 255 this file system allows"):
        check_output(path)
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("how", ["external link", "virtual data set"])
def test_an_output_that_an_input_reads_through_an_hdf5_link_is_refused(tmp_path, how):
    """The frames of an HDF5 input may live in another file, through an external link or a virtual
    data set: writing that file with overwrite replaced the projections (exit 0)."""
    import h5py

    raw, scan = tmp_path / "raw.h5", tmp_path / "scan.h5"
    frames = np.arange(5 * 8 * 8, dtype=np.float32).reshape(5, 8, 8)
    with h5py.File(raw, "w") as f:
        f["data"] = frames
    with h5py.File(scan, "w") as f:
        if how == "external link":
            f["entry/data"] = h5py.ExternalLink("raw.h5", "/data")  # relative: beside the file, as HDF5 looks
        else:
            layout = h5py.VirtualLayout(frames.shape, frames.dtype)
            layout[:] = h5py.VirtualSource(str(raw), "data", frames.shape)
            f.create_virtual_dataset("entry/data", layout)
    said = conflict(f"{raw}:/data", [f"{scan}:/entry/data"])
    assert said is not None and "raw.h5" in said and "destroy what is read" in said
    assert conflict(f"{tmp_path / 'other.h5'}:/data", [f"{scan}:/entry/data"]) is None
    done = subprocess.run([sys.executable, "-m", "ufo", "run", "-q", f"read path={scan}:/entry/data ! write "
                           f"path={raw}:/data overwrite=true"], capture_output=True, text=True, cwd=str(tmp_path.parent))
    assert done.returncode == 2 and "destroy what is read" in done.stderr
    with h5py.File(raw, "r") as f:
        np.testing.assert_array_equal(f["data"][...], frames)


@pytest.mark.parametrize("folder", ["br{}", "p%04i", "50%"])
def test_a_pattern_like_folder_name_is_a_folder_not_a_frame_number(tmp_path, folder):
    """'{}' or '%04i' in a folder's name made the output a frame pattern: frames went to another
    folder ('br{}/one.tif' -> 'br0/one.tif') or failed at frame 1."""
    import ufo

    stack = tmp_path / folder / "one.tif"
    ufo.Writer(path=str(stack))(np.ones((3, 8, 8), np.float32)).run().wait(timeout=20)
    assert len(tifffile.TiffFile(stack).pages) == 3 and sorted(os.listdir(tmp_path)) == [folder]
    sequence = tmp_path / folder / "f-%03i.tif"
    ufo.Writer(path=str(sequence))(np.ones((3, 8, 8), np.float32)).run().wait(timeout=20)
    assert sorted(os.listdir(tmp_path / folder)) == ["f-000.tif", "f-001.tif", "f-002.tif", "one.tif"]
