"""A cluster's outputs beside other data (a probe of `ufo reco --cluster`, 2026-12-06): a Zarr
output with --overwrite removed the whole store (the projections being read from another array
of it), an HDF5 output removed the whole file (its raw data) and a folder OUT.h5.parts of the
user's (the projections, notes) with everything in it; a stepped --region was recorded with a
step of 1. Now only the output's own array or data set is replaced."""

from __future__ import annotations

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest

from ufo.core.errors import UsageError
from ufo.distributed.outputs import join_hdf5, prepare_output
from ufo.distributed.ranges import Part


def test_a_zarr_output_replaces_its_array_alone(tmp_path):
    zarr = pytest.importorskip("zarr")
    store = str(tmp_path / "st.zarr")
    group = zarr.open_group(store, mode="w")
    group.create_array("proj", data=np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    prepare_output(f"{store}:/recon", 5, (4, 4), overwrite=False)
    with pytest.raises(UsageError, match="recon' exists; pass --overwrite"):
        prepare_output(f"{store}:/recon", 5, (4, 4), overwrite=False)
    prepare_output(f"{store}:/recon", 5, (4, 4), overwrite=True)
    again = zarr.open_group(store, mode="r")
    assert sorted(again.array_keys()) == ["proj", "recon"] and again["proj"][1, 2, 3] == 23


def _part(path: str, first_row: int, slices: int, step: int) -> None:
    with h5py.File(path, "w") as f:
        f["data"] = np.full((slices, 4, 4), first_row, np.float32)
        f["data"].attrs.update(first_row=first_row, row_step=step if slices > 1 else 1,
                               rows=json.dumps({"first": first_row, "last": first_row + step * (slices - 1),
                                                "step": step if slices > 1 else 1}))


def test_an_hdf5_output_keeps_the_file_s_other_data_sets_and_records_the_row_step(tmp_path):
    path = tmp_path / "v.h5"
    with h5py.File(path, "w") as f:
        f["raw"] = np.arange(10)
        f["recon"] = np.zeros(3)
    with pytest.raises(UsageError, match="v.h5:/recon' exists; pass --overwrite"):
        prepare_output(f"{path}:/recon", 4, (4, 4), overwrite=False)
    target = prepare_output(f"{path}:/recon", 4, (4, 4), overwrite=True)
    parts = [Part(0, 1), Part(1, 4)]  # --region 1:8:2: rows 1, then 3, 5, 7
    _part(target["part_path"].format(first=0).split(":")[0], 1, 1, 2)
    _part(target["part_path"].format(first=1).split(":")[0], 3, 3, 2)
    join_hdf5(target, parts)
    with h5py.File(path, "r") as f:
        assert sorted(f) == ["raw", "recon"] and list(f["raw"][()]) == list(range(10))
        assert [float(v) for v in f["recon"][:, 0, 0]] == [1, 3, 3, 3]
        assert f["recon"].attrs["row_step"] == 2 and json.loads(f["recon"].attrs["rows"])["step"] == 2


def test_a_parts_folder_holding_other_files_is_refused_not_removed(tmp_path):
    parts = tmp_path / "v.h5.parts"
    parts.mkdir()
    (parts / "proj.tif").write_bytes(b"II*\x00")
    with pytest.raises(UsageError, match="holds files that are not a cluster run's parts"):
        prepare_output(str(tmp_path / "v.h5:/data"), 4, (4, 4), overwrite=True)
    assert (parts / "proj.tif").exists()


def test_ctrl_c_to_a_local_cluster_run_says_interrupted_and_no_worker_traceback(tmp_path):
    """The terminal's Ctrl-C goes to the whole process group: every local worker printed two tracebacks of
    its KeyboardInterrupt (and Dask its "ended with CancelledError" lines) under the client's "interrupted"."""
    import os
    import signal
    import time

    import tifffile

    from ufo.tomo.phantom import Phantom

    phantom = Phantom(256, height=48)
    frames = [100 + 3000 * np.exp(-0.01 * phantom.projection(a, 128.0)) for a in np.arange(400) * np.pi / 400]
    tifffile.imwrite(tmp_path / "proj.tif", np.stack(frames).astype(np.float32))
    out = tmp_path / "out.h5"
    proc = subprocess.Popen([sys.executable, "-m", "ufo", "reco", "--projections", str(tmp_path / "proj.tif"),
                             "--axis", "128", "--cluster", "local:2", "-o", f"{out}:/d", "--pass-height", "4"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while not (tmp_path / "out.h5.parts").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)  # the workers run parts
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert "CancelledError" not in err, err
