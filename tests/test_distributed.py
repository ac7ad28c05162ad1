"""Reconstruction on a Dask cluster: a LocalCluster of 2 worker processes on 127.0.0.1, real files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

import h5py
import numpy as np
import pytest
import tifffile

distributed = pytest.importorskip("distributed")

from ufo import distributed as ufo_distributed  # noqa: E402
from ufo.core.errors import UsageError  # noqa: E402
from ufo.storage import open_writer  # noqa: E402
from ufo import reco  # noqa: E402
from ufo.tomo.phantom import Phantom  # noqa: E402

from .reference import assert_matches, line_integrals  # noqa: E402

WIDTH, ROWS, ANGLES = 64, 40, 96
AXIS = WIDTH / 2 + 2.7


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    """An NXtomo scan of the phantom: darks, flats, projections with noise."""
    path = str(tmp_path_factory.mktemp("scan") / "scan.nx")
    phantom = Phantom(WIDTH, height=ROWS)
    rng = np.random.default_rng(0)
    writer = open_writer(path)
    for _ in range(3):
        writer.write(np.full((ROWS, WIDTH), 100, np.uint16), {"image_key": 2})
    for _ in range(3):
        writer.write(np.full((ROWS, WIDTH), 3100, np.uint16), {"image_key": 1})
    for i in range(ANGLES):
        angle = i * np.pi / ANGLES
        counts = 100 + 3000 * np.exp(-0.01 * phantom.projection(angle, AXIS)) + rng.normal(0, 5, (ROWS, WIDTH))
        writer.write(np.clip(np.rint(counts), 0, 65535).astype(np.uint16), {"image_key": 0, "angle": angle})
    writer.close()
    return path


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as dask_client:
        yield dask_client


def single_process(scan, tmp_path, **options):
    out = str(tmp_path / "single.h5:/data")
    reco.run(reco.plan(reco.RecoOptions(projections=scan, axis="auto", output=out, replicas=1, **options)))
    with h5py.File(tmp_path / "single.h5", "r") as f:
        return f["data"][()]


def assert_slice_right(scan, image, row, axis):
    """Row `row` of the phantom, as close as scikit-image's FBP of the stored frames at `axis`; a
    mirrored, shifted, scaled or constant slice fails the same tolerance (tests/reference.py)."""
    with h5py.File(scan, "r") as f:
        keys = f["/entry/instrument/detector/image_key"][()]
        data = f["/entry/instrument/detector/data"][:, row]
        angles = np.radians(f["/entry/sample/rotation_angle"][()][keys == 0])
    sino = line_integrals(data[keys == 0], data[keys == 2], data[keys == 1])
    truth = 0.01 * Phantom(WIDTH, height=ROWS).slice(z=row - ROWS / 2, size=WIDTH)
    assert_matches(image, truth, sino, angles, axis)


def read_tiffs(folder):
    return np.stack([tifffile.imread(os.path.join(folder, n)) for n in sorted(os.listdir(folder))])


def test_two_workers_give_the_single_process_slices_in_every_output_kind(scan, client, tmp_path):
    import zarr

    expected = single_process(scan, tmp_path)
    assert expected.shape == (ROWS, WIDTH, WIDTH)
    seen = []
    for output in ("tiffs/slice-%05i.tif", "volume.h5:/slices", "volume.zarr", "volume.nx"):
        options = reco.RecoOptions(projections=scan, axis="auto", output=str(tmp_path / output))
        result = ufo_distributed.reconstruct(options, client, rows_per_task=7,
                                             on_progress=lambda done, total: seen.append((done, total)))
        assert result.slices == ROWS and result.parts == 6 and result.workers == 2
        assert abs(result.axis - AXIS) < 0.3
    assert seen[-1] == (ROWS, ROWS) and len(seen) == 24  # progress per range, aggregated on the client
    for row in (12, ROWS // 2):  # the right values, not only the same ones
        assert_slice_right(scan, expected[row], row, result.axis)
    np.testing.assert_array_equal(read_tiffs(tmp_path / "tiffs"), expected)
    with h5py.File(tmp_path / "volume.h5", "r") as f:
        assert f["slices"].is_virtual and f["slices"].shape == (ROWS, WIDTH, WIDTH)
        np.testing.assert_array_equal(f["slices"][()], expected)
        # the run's options, not the first part's range as its region (it said 0:7:1)
        assert json.loads(f["slices"].attrs["configuration"])["values"]["region"] is None
    np.testing.assert_array_equal(zarr.open_group(str(tmp_path / "volume.zarr"))["data"][:], expected)
    from silx.io.nxdata import get_default

    with h5py.File(tmp_path / "volume.nx", "r") as f:  # NeXus as a single process writes it
        nxdata = get_default(f)
        assert nxdata is not None and nxdata.signal.name == "/entry/data/data" and nxdata.signal.is_virtual
        assert f["entry/reconstruction"].attrs["NX_class"] == "NXprocess"
        assert f["entry/reconstruction/parameters/raw_file"][()].decode() == scan
        np.testing.assert_array_equal(nxdata.signal[()], expected)

    moved = tmp_path / "moved"  # the virtual dataset names its parts relative to itself
    os.makedirs(moved)
    os.rename(tmp_path / "volume.h5", moved / "volume.h5")
    os.rename(tmp_path / "volume.h5.parts", moved / "volume.h5.parts")
    with h5py.File(moved / "volume.h5", "r") as f:
        np.testing.assert_array_equal(f["slices"][5], expected[5])


def test_region_and_roi_through_the_cluster(scan, client, tmp_path):
    options = dict(region="3:37:2", roi=(8, 4, 40, 48))
    expected = single_process(scan, tmp_path, **options)
    out = tmp_path / "part.h5"
    ufo_distributed.reconstruct(reco.RecoOptions(projections=scan, axis="auto", output=f"{out}:/data", **options),
                                client, rows_per_task=4)
    with h5py.File(out, "r") as f:
        assert f["data"].shape == (17, 48, 40)
        np.testing.assert_array_equal(f["data"][()], expected)


def test_a_worker_killed_mid_run_is_survived(scan, client, tmp_path):
    expected = single_process(scan, tmp_path)
    pids = client.run(os.getpid)
    killed = threading.Event()

    def kill_one(done, total):
        if not killed.is_set():
            killed.set()
            os.kill(next(iter(pids.values())), signal.SIGKILL)  # the nanny starts a new worker; Dask re-runs its tasks

    options = reco.RecoOptions(projections=scan, axis="auto", output=str(tmp_path / "after-kill/s-%05i.tif"))
    result = ufo_distributed.reconstruct(options, client, rows_per_task=2, on_progress=kill_one)
    assert killed.is_set() and result.slices == ROWS
    np.testing.assert_array_equal(read_tiffs(tmp_path / "after-kill"), expected)
    client.wait_for_workers(2, timeout=60)


def test_outputs_a_cluster_cannot_share_and_existing_outputs_are_refused(scan, client, tmp_path):
    with pytest.raises(UsageError, match="BigTIFF"):
        ufo_distributed.reconstruct(reco.RecoOptions(projections=scan, output=str(tmp_path / "stack.tif")), client)
    (tmp_path / "v.h5").write_bytes(b"")
    with pytest.raises(UsageError, match="overwrite"):
        ufo_distributed.reconstruct(reco.RecoOptions(projections=scan, output=str(tmp_path / "v.h5:/d")), client)


def test_ufo_reco_cluster_command(scan, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "ufo", "reco", "--projections", scan, "--axis", "auto", "--output",
                           str(tmp_path / "cli/s-%05i.tif"), "--cluster", "local:2"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "on a cluster" in proc.stdout and "2 " in proc.stdout
    assert "Warning:" not in proc.stderr  # the workers' warnings said once each, as 'warning: ...' (not
    # raw Python warnings naming dask's and threading's lines, once a worker)
    np.testing.assert_array_equal(read_tiffs(tmp_path / "cli"), single_process(scan, tmp_path))
    bad = subprocess.run([sys.executable, "-m", "ufo", "reco", "--projections", scan, "--output",
                          str(tmp_path / "x/s-%05i.tif"), "--cluster", "tcp://127.0.0.1:9"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "no Dask scheduler" in bad.stderr


def test_streamed_frames_are_reconstructed_by_row_bands_on_the_workers(scan, client, tmp_path):
    """A sender streams the whole scan (darks, flats, projections with image keys and angles);
    each worker reconstructs its band while frames arrive; the slices equal one in-process
    online reconstruction of the full frames."""
    from ufo.core.registry import create
    from ufo.tomo.streaming import StreamingReconstructor

    port = ufo_distributed.free_ports("127.0.0.1", 1)[0]
    source = f"tcp://127.0.0.1:{port}"
    sender = create("zmq-send", address=source, bind=True, timeout=60)(create("read", path=scan)()).run()
    result = ufo_distributed.stream(source, client, str(tmp_path / "online.h5:/slices"), (ROWS, WIDTH), axis=AXIS)
    sender.wait()
    assert result.frames == ANGLES + 6 and result.slices == ROWS and result.workers == 2

    engine = StreamingReconstructor(axis=AXIS)
    for frame in create("read", path=scan)():
        engine.add(np.asarray(frame), dict(frame.meta))
    expected = engine.finish()
    with h5py.File(tmp_path / "online.h5", "r") as f:
        np.testing.assert_allclose(f["slices"][()], expected, atol=1e-6)
    assert_slice_right(scan, expected[ROWS // 2], ROWS // 2, AXIS)


def test_ranges_are_sized_by_worker_memory_and_gpus(scan):
    plan = reco.plan(reco.RecoOptions(projections=scan))
    per_row = ANGLES * WIDTH * 4 * 3
    roomy = {"a": {"memory_limit": 2**34}, "b": {"memory_limit": 2**34}}
    assert ufo_distributed.rows_per_part(plan, roomy) == 5  # 40 rows, 2 workers x 4 ranges
    tight = {"a": {"memory_limit": 2**34}, "b": {"memory_limit": 6 * per_row}}  # the smallest worker decides
    assert ufo_distributed.rows_per_part(plan, tight) == 3
    gpu_row = ANGLES * WIDTH * 8 + WIDTH * WIDTH * 4
    assert ufo_distributed.rows_per_part(plan, roomy, gpu_memory={"a": [2**34, 4 * gpu_row], "b": []}) == 2
    parts = ufo_distributed.split(40, 16)
    assert [(p.first, p.stop) for p in parts] == [(0, 16), (16, 32), (32, 40)]


def test_workers_report_their_gpus(client):
    from ufo.gpu import available

    report = ufo_distributed.gpu_memory_of_workers(client)
    assert set(report) == set(client.scheduler_info(n_workers=-1)["workers"])
    for free in report.values():
        assert len(free) == available() and all(f > 0 for f in free)
