"""Hostile input to the `ufo` command: real processes, real files; one clear error, inputs kept."""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
import sys

import numpy as np
import pytest
import tifffile


def ufo(*args, cwd=None, timeout=60):
    return subprocess.run([sys.executable, "-m", "ufo", *args], capture_output=True, text=True, cwd=cwd, timeout=timeout)


def _md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_dump_and_trace_never_replace_an_input_or_a_file_that_is_not_json(tmp_path):
    tifffile.imwrite(tmp_path / "in.tif", np.arange(16, dtype=np.uint16).reshape(4, 4))
    (tmp_path / "data.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))  # any file that is not JSON
    (tmp_path / "k.py").write_text("def f(x):\n    return x\n")
    kept = {name: _md5(tmp_path / name) for name in ("in.tif", "data.h5", "k.py")}
    for args in (["read path=in.tif ! null", "--trace", "in.tif"],  # used to replace the input by the trace
                 ["read path=in.tif ! null", "--dump", "./in.tif"],  # used to replace it before reading it
                 ["dummy-data number=1 shape=4,4 ! null", "--dump", "data.h5"],
                 ["dummy-data number=1 shape=4,4 ! jit file=k.py function=f ! null", "--trace", "k.py"],
                 ["dummy-data number=1 shape=4,4 ! write path=out.h5:/d", "--trace", "out.h5"]):
        result = ufo("run", "--gpus", "cpu", *args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert args[1] in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert {name: _md5(tmp_path / name) for name in kept} == kept
    assert not (tmp_path / "out.h5").exists()
    # an earlier --dump / --trace is still replaced, as the README's examples do run after run
    for _ in range(2):
        result = ufo("run", "--gpus", "cpu", "-q", "dummy-data number=1 shape=4,4 ! null", "--trace", "t.json",
                     "--dump", "g.json", cwd=tmp_path)
        assert result.returncode == 0, result.stderr


def test_a_region_past_any_detector_is_no_traceback(tmp_path):
    """The page-cache prefetch weighed --region 0:1e20 rows with len(range(...)): OverflowError traceback."""
    import os

    tifffile.imwrite(tmp_path / "sino.tif", np.ones((4, 16, 16), np.float32), photometric="minisblack")  # 4 sinograms of 16 angles
    env = {**os.environ, "UFO_PREFETCH": "1"}
    result = subprocess.run([sys.executable, "-m", "ufo", "reco", "--sinograms", "sino.tif", "--axis", "8",
                             "--gpus", "cpu", "-q", "-o", "out.tif", "--region", "0:99999999999999999999"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=120, env=env)
    assert "Traceback" not in result.stderr and result.returncode == 0, result.stderr
    assert tifffile.imread(tmp_path / "out.tif").shape == (4, 16, 16)


def test_angles_that_overflow_and_a_scale_of_one_value_are_usage_errors(tmp_path):
    """--angle 1e308 made every angle inf (exit 0, garbage slices, numpy warnings); minimum == maximum stored
    every pixel of 8/16-bit output as one value (exit 0)."""
    tifffile.imwrite(tmp_path / "sino.tif", np.ones((4, 16, 16), np.float32), photometric="minisblack")
    for method in ("fbp", "dfi"):
        result = ufo("reco", "--sinograms", "sino.tif", "--axis", "8", "--gpus", "cpu", "-q", "-o", f"{method}.tif",
                     "--angle", "1e308", "--method", method, cwd=tmp_path, timeout=120)
        assert result.returncode == 2 and "angle-step" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and not (tmp_path / f"{method}.tif").exists()
    result = ufo("reco", "--sinograms", "sino.tif", "--axis", "8", "--gpus", "cpu", "-q", "-o", "s.tif",
                 "--output-bits", "16", "--output-min", "0", "--output-max", "0", cwd=tmp_path, timeout=120)
    assert result.returncode == 2 and "--output-min 0 is not below --output-max 0" in result.stderr, result.stderr
    for low, high in ((5, 5), (60000, 1000)):  # an inverted range squeezed or zeroed every value (exit 0)
        result = ufo("run", f"dummy-data shape=4,4 number=2 ! write path=w.tif bits=8 minimum={low} maximum={high}",
                     cwd=tmp_path)
        assert result.returncode == 2 and f"minimum {low} is not below maximum {high}" in result.stderr, result.stderr
    result = ufo("reco", "--sinograms", "sino.tif", "--axis", "8", "--gpus", "cpu", "-q", "-o", "s.tif",
                 "--output-bits", "16", "--output-min", "5", "--output-max", "1", cwd=tmp_path, timeout=120)
    assert result.returncode == 2 and "--output-min 5 is not below --output-max 1" in result.stderr, result.stderr
    result = ufo("reco", "--sinograms", "sino.tif", "--axis", "8", "--gpus", "cpu", "-q", "-o", "s.tif",
                 "--angle", "1e-300", cwd=tmp_path, timeout=120)  # every slice was 0.0 (exit 0)
    assert result.returncode == 2 and "angle-step 1e-300 rad spans" in result.stderr, result.stderr
    result = ufo("reco", "--sinograms", "sino.tif", "--axis", "8", "--gpus", "cpu", "-q", "-o", "s.tif",
                 "--offset", "1e300", cwd=tmp_path, timeout=120)  # every angle the same: a garbage slice (exit 0)
    assert result.returncode == 2 and "angle-offset 1e+300 rad is too large" in result.stderr, result.stderr
    result = ufo("reco", "--sinograms", "sino.tif", "--axis", "8", "--gpus", "cpu", "-q", "-o", "s.tif",
                 "--output-bits", "16", "--output-min", "-1e308", "--output-max", "1e308", cwd=tmp_path, timeout=120)
    assert result.returncode == 2 and "cannot be stored in 16 bits" in result.stderr, result.stderr  # all zeros
    assert not (tmp_path / "s.tif").exists() and not (tmp_path / "w.tif").exists()


def test_nan_and_huge_floats_on_the_command_line_are_usage_errors():
    """click's FloatRange let NaN through: exit 1 'cannot convert float NaN to integer', and
    `camera stop --timeout inf` (or 1e308) ended in an OverflowError traceback."""
    for args in (["camera", "stop", "--port", "1", "--timeout", "nan"], ["camera", "stop", "--port", "1", "--timeout", "inf"],
                 ["camera", "stop", "--port", "1", "--timeout", "1e308"], ["bench", "--scale", "nan"],
                 ["bench", "stream", "--span", "nan"]):
        result = ufo(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert args[-2] in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_nan_in_projections_without_references_is_reported_not_hidden(tmp_path):
    """A NaN or inf pixel in corrected projections makes its slice NaN: the command said nothing."""
    import h5py

    rng = np.random.default_rng(1)
    projections = rng.random((48, 3, 32), dtype=np.float32)
    projections[7, 2, 11] = np.inf  # row 2 only
    tifffile.imwrite(tmp_path / "p.tif", projections, photometric="minisblack")
    result = ufo("reco", "--projections", "p.tif", "--axis", "16", "--gpus", "cpu", "-q", "-o", "s.h5:/data",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    said = " ".join(result.stderr.split())
    assert "1 of the 3 frames written to s.h5:/data hold NaN or infinite values (the first: frame 2)" in said, said
    with h5py.File(tmp_path / "s.h5") as f:
        slices = f["/data"][()]
    assert np.isfinite(slices[:2]).all() and not np.isfinite(slices[2]).all()


def test_the_writers_nan_check_sees_a_nan_slice_and_every_pixel_of_a_small_frame():
    """The write task's check (`_finite_sample`): a slice that a NaN in its sinogram filled, at any
    size; one bad pixel of a small frame (all its pixels are checked); finite frames pass."""
    from ufo.tasks.io import _finite_sample

    rng = np.random.default_rng(3)
    large = rng.random((1024, 1024), dtype=np.float32)
    small = rng.random((64, 48), dtype=np.float32)
    assert _finite_sample(large) and _finite_sample(small) and _finite_sample(large.reshape(-1))
    assert not _finite_sample(np.full_like(large, np.nan))
    small[37, 5] = np.inf
    assert not _finite_sample(small)


def test_an_unexpected_error_is_one_line_and_local_zero_workers_a_usage_error(tmp_path):
    """An HDF5 soft link to itself (h5py's RuntimeError) and `--cluster local:0` (ZeroDivisionError)
    came as tracebacks: only UfoError, OSError and ValueError were turned into one line."""
    import h5py

    with h5py.File(tmp_path / "self.h5", "w") as f:
        f["a"] = h5py.SoftLink("/a")
    result = ufo("run", f"read path={tmp_path / 'self.h5'}:/a ! null", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr and "self.h5:/a'" in result.stderr and \
        "too many links" in result.stderr, result.stderr  # one line naming the dataset and HDF5's reason
    for row in range(4):  # 4 sinograms of 6 angles
        tifffile.imwrite(tmp_path / "sino.tif", np.ones((6, 16), np.float32), append=True)
    result = ufo("reco", "--sinograms", "sino.tif", "--axis", "8", "-q", "-o", "c/s-%03i.tif", "--cluster", "local:0",
                 cwd=tmp_path, timeout=120)
    assert result.returncode == 2 and "at least 1 worker" in result.stderr and "Traceback" not in result.stderr, \
        result.stderr


@pytest.mark.parametrize("option,value", [("--noise", "-5"), ("--frame-rate", "-1"), ("--noise", "nan"),
                                          ("--axis-offset", "inf")])
def test_demo_refuses_bad_values_before_its_beamline_starts(tmp_path, option, value):
    """They were refused by the mock camera once the simulated beamline had started: a banner, empty
    bars, five emergency-stop lines and an empty output folder (probe of a base install)."""
    result = ufo("demo", "--size", "64", "--projections", "32", option, value, "-o", str(tmp_path / "d"))
    assert result.returncode == 2 and option in result.stderr, result.stderr
    assert "stop" not in result.stdout.lower() and not (tmp_path / "d").exists()


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="CuPy is installed")
def test_a_gpu_asked_for_without_cupy_names_the_extra():
    result = ufo("run", "--gpus", "0", "dummy-data number=1 ! bin size=2 ! null")
    assert result.returncode == 2 and "pip install 'ufo[gpu]'" in result.stderr, result.stderr


def test_cluster_without_dask_is_refused_before_the_plan(tmp_path):
    """Without the cluster extra the plan was printed (and a bar shown) before the error; Dask is
    made unimportable here as a base install lacks it: a finder that knows no `distributed`."""
    tifffile.imwrite(tmp_path / "p.tif", np.ones((32, 4, 32), np.float32))
    code = ("import sys, importlib.abc\n"
            "class NoDask(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path, target=None):\n"
            "        if name.split('.')[0] in ('distributed', 'dask'):\n"
            "            raise ModuleNotFoundError(name)\n"
            "sys.meta_path.insert(0, NoDask())\n"
            "from ufo.cli.main import entry\n"
            "sys.argv = ['ufo'] + sys.argv[1:]\n"
            "entry()\n")
    result = subprocess.run([sys.executable, "-c", code, "reco", "--projections", str(tmp_path / "p.tif"), "--axis",
                             "16", "--output", str(tmp_path / "o.tif"), "--cluster", "local:2"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "pip install 'ufo[cluster]'" in result.stderr, result.stderr
    assert "input:" not in result.stdout + result.stderr and not (tmp_path / "o.tif").exists()


def test_a_zarr_output_without_zarr_is_refused_before_the_graph_runs(tmp_path):
    """It failed once the graph ran ('failed 0/10', then the writer's error): now at validation."""
    code = ("import sys, importlib.abc\n"
            "class NoZarr(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path, target=None):\n"
            "        if name.split('.')[0] == 'zarr':\n"
            "            raise ModuleNotFoundError(name)\n"
            "sys.meta_path.insert(0, NoZarr())\n"
            "from ufo.cli.main import entry\n"
            "sys.argv = ['ufo'] + sys.argv[1:]\n"
            "entry()\n")
    result = subprocess.run([sys.executable, "-c", code, "run", "dummy-data number=10 ! write path=x.zarr"],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 2 and "pip install 'ufo[zarr]'" in result.stderr, result.stderr
    assert "failed" not in result.stderr and not (tmp_path / "x.zarr").exists()
