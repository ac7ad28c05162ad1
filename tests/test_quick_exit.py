"""The `ufo` command's quick exit (ufo.cli.main.entry) and its CUDA warm-up (ufo.gpu.warmup):
exit statuses kept, every output complete and readable, the warm-up harmless without a GPU."""

from __future__ import annotations

import subprocess
import sys

import h5py
import numpy as np
import tifffile

from ufo.gpu.warmup import gpus_asked, start


def ufo(*args, **kw):
    return subprocess.run([sys.executable, "-m", "ufo", *args], capture_output=True, text=True, timeout=120, **kw)


def test_outputs_are_complete_after_the_quick_exit(tmp_path):
    out = tmp_path / "frames.h5"
    done = ufo("run", "-q", f"dummy-data shape=64,48 number=37 init=random ! write path={out}:/data")
    assert done.returncode == 0, done.stderr
    with h5py.File(out) as f:
        data = f["data"][:]
    assert data.shape == (37, 64, 48) and np.ptp(data) > 0
    tif = tmp_path / "stack.tif"
    assert ufo("run", "-q", f"dummy-data shape=16,16 number=5 init=random ! write path={tif}").returncode == 0
    assert tifffile.imread(tif).shape == (5, 16, 16)


def test_exit_statuses_are_kept(tmp_path):
    assert ufo("--version").returncode == 0
    missing = ufo("reco", "--projections", str(tmp_path / "none"), "--output", str(tmp_path / "o.h5"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr
    (tmp_path / "garbage.tif").write_bytes(b"II*\0garbage")  # a failure of the input, not of its path: exit 1
    broken = ufo("reco", "--projections", str(tmp_path / "garbage.tif"), "--output", str(tmp_path / "o.h5"))
    assert broken.returncode == 1 and "garbage.tif" in broken.stderr and "Traceback" not in broken.stderr
    usage = ufo("reco", "--no-such-option")
    assert usage.returncode == 2 and "No such option" in usage.stderr


def test_the_gpus_are_read_from_the_command_line_or_the_environment(monkeypatch):
    monkeypatch.delenv("UFO_DEVICES", raising=False)
    assert gpus_asked(["--projections", "p", "--gpus", "0,1"]) == "0,1"
    assert gpus_asked(["--gpus=cpu"]) == "cpu"
    assert gpus_asked(["--axis", "auto"]) is None
    monkeypatch.setenv("UFO_DEVICES", "1")
    assert gpus_asked([]) == "1"
    assert gpus_asked(["--gpus", "cpu"]) == "cpu"  # the command line wins


def test_no_warm_up_where_no_gpu_is_wanted(monkeypatch):
    monkeypatch.delenv("UFO_DEVICES", raising=False)
    assert start(["--gpus", "cpu"]) is None
    assert start(["--dry-run"]) is None and start(["--help"]) is None
    thread = start(["--gpus", "not-a-gpu"])  # a bad value is the run's error to report, not the warm-up's
    assert thread is not None
    thread.join(60)
    assert not thread.is_alive()
