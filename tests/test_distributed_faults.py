"""Faults of a reconstruction on a Dask cluster (real worker processes on 127.0.0.1): a part file
cut short by a lost worker, an old output over removed parts, an address where no scheduler is."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys

import h5py
import numpy as np
import pytest
import tifffile

pytest.importorskip("distributed")

from ufo import distributed as ufo_distributed  # noqa: E402
from ufo import reco  # noqa: E402
from ufo.distributed.outputs import prepare_output  # noqa: E402

from .test_distributed import ROWS, WIDTH, client, scan, single_process  # noqa: E402,F401


def test_a_part_file_cut_short_by_a_lost_worker_is_replaced_by_the_rerun(scan, client, tmp_path):  # noqa: F811
    """A worker killed while writing its part leaves a truncated file; Dask re-runs the range
    elsewhere, and that run must replace the file (it refused: 'exists and is not an HDF5 file')."""
    expected = single_process(scan, tmp_path)
    options = reco.RecoOptions(projections=scan, axis="auto", output=str(tmp_path / "v.h5:/data"))
    plan = reco.plan(options)
    target = prepare_output(options.output, plan.slices, (WIDTH, WIDTH), False)
    part = ufo_distributed.Part(0, ROWS)
    path = target["part_path"].format(first=0).rsplit(":", 1)[0]
    with open(path, "wb") as f:
        f.write(b"\x89HDF\r\n\x1a\n" + bytes(40))  # what a SIGKILL mid-write leaves
    axis = reco.find_axis(plan)
    future = client.submit(ufo_distributed.reconstruct_part, options, plan.rows, part, axis, target, pure=False)
    assert future.result(timeout=120) == ROWS
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["data"][()], expected)


def test_an_overwritten_hdf5_output_is_gone_until_the_new_one_is_joined(scan, client, tmp_path):  # noqa: F811
    """The old virtual dataset would read zeros over the parts a stopped or failed run removed (the
    data set goes; the file's others stay: tests/test_distributed_outputs.py)."""
    out = str(tmp_path / "v.h5:/data")
    ufo_distributed.reconstruct(reco.RecoOptions(projections=scan, axis=35.0, output=out), client, rows_per_task=10)
    prepare_output(out, ROWS, (WIDTH, WIDTH), True)  # what a second run with --overwrite does first
    with h5py.File(tmp_path / "v.h5", "r") as f:
        assert "data" not in f


def test_tiff_slices_record_the_axis_they_were_made_with(scan, client, tmp_path):  # noqa: F811
    options = reco.RecoOptions(projections=scan, axis="auto", output=str(tmp_path / "t/s-%05i.tif"))
    result = ufo_distributed.reconstruct(options, client, rows_per_task=10)
    with tifffile.TiffFile(tmp_path / "t" / "s-00025.tif") as f:
        described = json.loads(f.pages[0].description)
    assert described["row"] == 25 and described["axis"] == pytest.approx(result.axis)


def test_an_address_where_something_else_listens_is_an_error_not_a_hang(scan, tmp_path):  # noqa: F811
    """The dashboard's HTTP port, say: Dask's handshake waits for an answer that never comes."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)  # accepts (the kernel's backlog) and never answers
    try:
        proc = subprocess.run([sys.executable, "-m", "ufo", "reco", "--projections", scan, "--output",
                               str(tmp_path / "s-%05i.tif"), "--cluster", f"tcp://127.0.0.1:{server.getsockname()[1]}"],
                              capture_output=True, text=True, timeout=90)
    finally:
        server.close()
    assert proc.returncode == 2 and "no Dask scheduler answers" in proc.stderr, proc.stderr
    assert not (tmp_path / "s-00000.tif").exists()


def test_the_joined_hdf5_volume_records_what_a_single_process_records(scan, client, tmp_path):  # noqa: F811
    """8/16 bits: without scale_min/scale_step on the volume its integers cannot be mapped back."""
    options = dict(projections=scan, axis="auto", region="1:40:2", output_bits=8)
    reco.run(reco.plan(reco.RecoOptions(output=str(tmp_path / "one.h5:/data"), **options)))
    ufo_distributed.reconstruct(reco.RecoOptions(output=str(tmp_path / "many.h5:/data"), **options), client,
                                rows_per_task=6)
    with h5py.File(tmp_path / "one.h5", "r") as one, h5py.File(tmp_path / "many.h5", "r") as many:
        np.testing.assert_array_equal(many["data"][()], one["data"][()])
        mine, theirs = dict(one["data"].attrs), dict(many["data"].attrs)
    for key in ("scale_min", "scale_step", "bits", "axis", "first_row", "row_step", "rows", "units"):
        assert str(theirs[key]) == str(mine[key]), key


def test_a_cluster_zarr_volume_is_stored_as_a_single_process_stores_it(scan, client, tmp_path):  # noqa: F811
    """8 bits into Zarr: before, the cluster stored float32 slices without a record of how they
    were made (and --output-bits was ignored); now the integers and attributes of `ufo reco`."""
    import zarr

    options = dict(projections=scan, axis="auto", region="1:40:2", output_bits=8)
    reco.run(reco.plan(reco.RecoOptions(output=str(tmp_path / "one.zarr"), **options)))
    ufo_distributed.reconstruct(reco.RecoOptions(output=str(tmp_path / "many.zarr"), **options), client,
                                rows_per_task=6)
    one, many = zarr.open_group(str(tmp_path / "one.zarr"))["data"], zarr.open_group(str(tmp_path / "many.zarr"))["data"]
    assert many.dtype == one.dtype == np.uint8 and many.shape == one.shape
    np.testing.assert_array_equal(many[:], one[:])
    assert 0 < int(np.asarray(one[:]).max()) <= 255
    mine, theirs = dict(one.attrs), dict(many.attrs)
    for key in ("scale_min", "scale_step", "bits", "axis", "first_row", "row_step", "rows", "units"):
        assert str(theirs[key]) == str(mine[key]), key
    assert "ranges_written" not in theirs  # the record of a run in progress, removed once it is whole


@pytest.mark.parametrize("output", ["out.h5:/data", "out.zarr"])
def test_a_scheduler_lost_mid_run_is_one_clear_error(tmp_path, output):
    """SIGKILL to the scheduler while `ufo reco --cluster` runs: a FutureCancelledError traceback
    before; now exit 1 with how many slices were done and where they are."""
    import os
    import signal
    import time

    from ufo.tomo.phantom import Phantom

    n, rows, angles = 512, 64, 1200  # about 10 s on two 1-thread workers of a 2-core VM
    sino = Phantom(n).sinogram(np.arange(angles) * np.pi / angles)
    with h5py.File(tmp_path / "scan.h5", "w") as f:
        f["/exchange/data"] = (100 + 900 * np.exp(-np.repeat(sino[:, None, :], rows, 1))).astype(np.uint16)
        f["/exchange/data_white"] = np.full((3, rows, n), 1000, np.uint16)
        f["/exchange/data_dark"] = np.full((2, rows, n), 100, np.uint16)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    scheduler = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                  "--port", str(port), "--dashboard-address", ":0"], **quiet)
    workers = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
                                "--nworkers", "2", "--host", "127.0.0.1", "--dashboard-address", ":0"], **quiet)
    try:
        from distributed import Client

        with Client(address, timeout="60s") as watcher:
            watcher.wait_for_workers(2, timeout=120)
        run = subprocess.Popen([sys.executable, "-m", "ufo", "reco", "--projections", str(tmp_path / "scan.h5"),
                                "--axis", str(n / 2), "--gpus", "cpu", "-o", str(tmp_path / output),
                                "--cluster", address], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        begun = tmp_path / ("out.h5.parts" if output.startswith("out.h5") else "out.zarr")
        while not begun.exists():  # the run has begun: its parts folder (HDF5) or its array (Zarr) is made
            assert time.monotonic() < deadline and run.poll() is None, run.communicate()
            time.sleep(0.05)
        time.sleep(2.0)
        os.killpg(scheduler.pid, signal.SIGKILL)
        out, err = run.communicate(timeout=120)
    finally:
        for proc in (scheduler, workers):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
    if run.returncode == 0:
        pytest.skip("the run ended before the scheduler was killed (a fast machine)")
    said = " ".join(err.split())
    assert run.returncode == 1 and "Traceback" not in err, err
    assert "the Dask cluster lost the run" in said and " slices were written to " in said, said
    if output.startswith("out.h5") and (tmp_path / "out.h5").exists():  # the ranges finished, joined
        from ufo.storage import open_source

        with h5py.File(tmp_path / "out.h5", "r") as f:
            ranges = json.loads(f["data"].attrs["ranges_written"])
        source = open_source(str(tmp_path / output))
        try:  # ufo reads the slices whole from the first, never a missing part's zeros
            assert source.count == next((stop for first, stop in ranges if first == 0), 0) < rows
            for first, stop in ranges:
                assert all(np.abs(source.read(i, slice(None), None)).max() > 0 for i in (first, stop - 1)
                           if i < source.count)
        finally:
            source.close()
    if output == "out.zarr":  # the ranges written whole are recorded; ufo reads those, and says so
        import zarr

        from ufo.storage import open_source

        ranges = zarr.open_group(str(begun))["data"].attrs["ranges_written"]
        source = open_source(str(begun))
        try:
            prefix = next((stop for first, stop in ranges if first == 0), 0)
            assert source.count == prefix < rows and any("cluster run that stopped" in w for w in source.warnings)
            for first, stop in ranges:
                assert all(np.abs(source.read(i, slice(None), None)).max() > 0 for i in (first, stop - 1))
        finally:
            source.close()


def test_the_ranges_written_are_merged_in_order_and_removed_when_whole(tmp_path):
    """`record_range` as the client calls it while parts finish out of order."""
    import zarr

    from ufo.distributed.outputs import prepare_output, record_range
    from ufo.distributed.ranges import Part

    target = prepare_output(str(tmp_path / "v.zarr"), 30, (4, 4), overwrite=False)
    array = zarr.open_group(str(tmp_path / "v.zarr"))["data"]
    assert array.attrs["ranges_written"] == []
    done: list[list[int]] = []
    for first, stop in ((10, 20), (0, 10), (25, 30)):
        record_range(target, done, Part(first, stop))
    assert zarr.open_group(str(tmp_path / "v.zarr"))["data"].attrs["ranges_written"] == [[0, 20], [25, 30]]
    record_range(target, done, Part(20, 25))
    assert zarr.open_group(str(tmp_path / "v.zarr"))["data"].attrs["ranges_written"] == [[0, 30]]
    record_range(target, done, None)
    assert "ranges_written" not in zarr.open_group(str(tmp_path / "v.zarr"))["data"].attrs
    record_range({"kind": "tiff"}, done, Part(0, 1))  # other outputs keep no record


def test_a_stopped_run_s_finished_ranges_are_joined_and_read_whole(tmp_path):
    """A cluster run stopped (Ctrl-C) or lost left only its parts' folder; the message named a file
    that did not exist. The ranges finished are joined now, the rest marked missing."""
    from ufo.distributed.outputs import join_hdf5, prepare_output, write_band
    from ufo.distributed.ranges import Part
    from ufo.storage import open_source

    target = prepare_output(str(tmp_path / "v.h5:/data"), 30, (4, 4), overwrite=False)
    finished = [Part(0, 10), Part(20, 30)]  # the middle part never finished
    for part in finished:
        write_band(np.full((part.slices, 4, 4), part.first + 1, np.float32), part, target)
    join_hdf5(target, finished, total=30)
    with h5py.File(tmp_path / "v.h5", "r") as f:
        assert f["data"].shape == (30, 4, 4) and json.loads(f["data"].attrs["ranges_written"]) == [[0, 10], [20, 30]]
    source = open_source(str(tmp_path / "v.h5:/data"))
    try:
        assert source.count == 10 and np.all(source.read(9, slice(None), None) == 1)
        assert any("holds 10 complete frame(s)" in w for w in source.warnings)
    finally:
        source.close()
