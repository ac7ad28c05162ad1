"""More hostile input to the `ufo` command (a probe of every subcommand): real processes, real
files, devices and links; one clear error with exit 2 before any work, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .test_hostile_cli import ufo


def test_a_command_started_with_stdout_or_stderr_closed_ends_as_it_would():
    """`ufo tasks >&-`: exit 1 with "'NoneType' object has no attribute 'flush'" at the end."""
    for redirect in ("1>&-", "2>&-"):
        for args in ("tasks", "--version", "run -q 'dummy-data number=3 shape=8,8 ! null'"):
            done = subprocess.run(f"{sys.executable} -m ufo {args} {redirect}", shell=True, timeout=60,
                                  stdout=subprocess.DEVNULL if redirect == "2>&-" else None,
                                  stderr=subprocess.PIPE if redirect == "1>&-" else None, text=True)
            assert done.returncode == 0, (args, redirect, done.stderr)
            assert "Traceback" not in (done.stderr or "")


@pytest.mark.parametrize("args, said", [
    (["run", "--json", "/dev/zero"], "JSON graph '/dev/zero' is a device, a pipe or a socket, not a file"),
    (["reco", "--config", "/dev/zero", "--dry-run"], "config '/dev/zero' is a device, a pipe or a socket"),
    (["reco", "--config", "{fifo}", "--dry-run"], "is a device, a pipe or a socket, not a file"),  # it hung
])
def test_a_settings_file_that_is_a_device_or_a_pipe_is_refused(tmp_path, args, said):
    """`--json /dev/zero` grew to 24 GB before the kernel killed it; `--config` of a FIFO hung."""
    os.mkfifo(tmp_path / "fifo.toml")
    result = ufo(*[a.format(fifo=tmp_path / "fifo.toml") for a in args], timeout=30)
    assert result.returncode == 2 and said in " ".join(result.stderr.split()), result.stderr


@pytest.mark.parametrize("link, pipeline", [
    ("loop.tif", "write path={dir}/loop.tif"),  # a link to itself: "Too many levels" after the work
    ("dangling.tif", "write path={dir}/dangling.tif"),  # its target not there: ENOENT after the work
    ("loopdir", "write path={dir}/loopdir/f-%03i.tif"),  # "cannot create directory: File exists"
])
def test_an_output_through_a_link_that_leads_nowhere_is_refused_before_the_work(tmp_path, link, pipeline):
    os.symlink("/nonexistent/dir/x.tif" if link == "dangling.tif" else link, tmp_path / link)
    result = ufo("run", f"dummy-data shape=8,8 number=2 ! {pipeline.format(dir=tmp_path)}")
    assert result.returncode == 2, result.stderr
    assert "is a symbolic link to" in result.stderr and "cannot be followed" in result.stderr, result.stderr
    assert "write: " not in result.stderr  # refused by the check, not by the writer after the frames


@pytest.mark.parametrize("args, said", [
    (["session", "list"], "the sessions folder '/dev/null/.local/share/ufo/sessions' cannot be made"),
    (["session", "init", "x1"], "set UFO_SESSIONS to a folder you can write"),
    (["session", "log", "nope"], "no session 'nope'"),  # exit 0 before, while show/rm said so
])
def test_a_sessions_folder_that_cannot_be_made_is_named_with_its_variable(tmp_path, args, said):
    env = {**os.environ, "HOME": "/dev/null"} if args[1] != "log" else {**os.environ, "UFO_SESSIONS": str(tmp_path)}
    env.pop("UFO_SESSIONS", None) if args[1] != "log" else None
    result = subprocess.run([sys.executable, "-m", "ufo", *args], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 2 and said in result.stderr and "Traceback" not in result.stderr, result.stderr


@pytest.mark.parametrize("args, said", [
    (["run", "dummy-data shape=, number=3 ! null"], "property 'shape' needs 2 positive sizes"),  # frames of one value
    (["run", "dummy-data shape=8,8,8,8 number=2 ! null"], "got [8, 8, 8, 8]"),
    (["camera", "grab", "replay", "-n", "2", "-o", "{dir}/r.h5"], "camera 'replay' needs a path"),  # "0 x 0 sensor"
    (["camera", "grab", "mock", "-p", "sensor-width=16", "-p", "sensor-width=32", "-n", "1", "-o", "{dir}/m.h5"],
     "-p sensor-width is given twice ('16' and '32')"),
    (["bench", "--only", "runtime", "--json", "{dir}/no/x.json"], "is not there"),
    (["bench", "--only", ""], "name at least one area"),
    (["bench", "--dir", "/dev/null"], "'/dev/null' is not a folder"),
    (["run", "dummy-data shape=8,8 number=2 ! null", "--trace", ""], "--trace '': give a file name"),
    (["demo", "-o", "/dev/null"], "--output '/dev/null' is not a folder"),  # failed once the scan had begun
    (["demo", "--frame-rate", "1e-300"], "--frame-rate 1e-300"),
    (["reco", "--projections", "{dir}/p.tif", "--angles-file", "/dev/null", "--axis", "4", "--dry-run",
      "-o", "{dir}/o.tif"], "--angles-file '/dev/null' is a device"),  # "does not exist"
    (["camera", "serve", "mock", "--host", "256.1.1.1", "--port", "15998"], "give --host an address of this"),
    (["reco", "--projections", "{dir}/p.tif", "--axis", "4", "--cluster", "local:2", "-o", "{dir}/o.tif"],
     "a cluster writes TIFF sequences"),  # after the cluster had started, under a bar of 0 slices
])
def test_values_that_ran_into_garbage_or_failed_after_the_work_are_usage_errors(tmp_path, args, said):
    import numpy as np
    import tifffile

    tifffile.imwrite(tmp_path / "p.tif", np.ones((4, 8, 8), np.float32), photometric="minisblack")
    result = ufo(*[a.format(dir=tmp_path) for a in args], cwd=tmp_path, timeout=60)
    assert result.returncode == 2 and said in " ".join(result.stderr.split()), result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("first, second", [("a.tif", "a.tif"), ("f-%03i.tif", "./f-%03i.tif"),
                                           ("x.h5:/a", "x.h5:/b")])
def test_two_write_nodes_of_one_output_are_refused_before_anything_is_written(tmp_path, first, second):
    """It ran, wrote part of the frames and failed with exit 1 ("exists; refusing to overwrite":
    this very run made it; "being written by another process"; a sequence's renames racing)."""
    result = subprocess.run([sys.executable, "-m", "ufo", "run", f"dummy-data shape=64,64 number=3 ! [write "
                             f"path={first}, calculate expression=x*0 ! write path={second}]"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "nodes 'write' and 'write-2' both write" in result.stderr, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_branches_written_without_a_space_after_the_comma_are_two_tasks():
    """'[dummy-data,dummy-data]' was one task named 'dummy-data,dummy-data' ("did you mean")."""
    from ufo.core.pipeline import parse

    graph = parse("[dummy-data,dummy-data number=2] ! calculate expression=x0+x1 ! null")
    assert [t.name for t in graph.nodes][:2] == ["dummy-data", "dummy-data"]
    assert parse("dummy-data shape=64,32 ! null").nodes[0].shape == [64, 32]  # a value's comma stays


def test_a_usage_error_keeps_exit_2_when_stderr_s_reader_is_gone():
    """`ufo run ... 2>&1 | head -1`: rich exited 1 on the closed pipe."""
    r, w = os.pipe()
    process = subprocess.Popen([sys.executable, "-m", "ufo", "run", "[dummy-data, dummy-data] ! flat-field-correct ! "
                                "null"], stdout=w, stderr=w)
    os.close(w)
    os.read(r, 5)
    os.close(r)
    assert process.wait(timeout=60) == 2


def test_a_session_name_that_starts_with_a_dash_is_refused_at_init(tmp_path):
    """`ufo session init -- -x` made a session that `show -x` and `rm -x` took for an option (exit 2)."""
    env = {**os.environ, "UFO_SESSIONS": str(tmp_path)}
    made = subprocess.run([sys.executable, "-m", "ufo", "session", "init", "--", "-x"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 2 and "not '-' first" in made.stderr, made.stderr
    assert not list(tmp_path.glob("*.py"))


@pytest.mark.parametrize(("args", "said"), [
    (["--output-min", "0", "--output-max", "0.001", "-o", "s.tif"], "--output-min and --output-max set the scale of 8/16-bit"),
    (["--output-bits", "32", "--output-max", "1", "-o", "s.tif"], "--output-max set the scale"),
    (["--output-bits", "16", "-o", "s.raw"], "'s.raw' is a raw file, which keeps no scale"),
    (["--roi", "0,0,0,16", "-o", "s.tif"], "the width and height must be at least 1 pixel"),  # UFO's 'unset':
    (["--roi", "0,0,16,-1", "-o", "s.tif"], "the width and height must be at least 1 pixel"),  # twice as bright
])
def test_a_scale_that_would_go_nowhere_is_refused_before_the_work(tmp_path, args, said):
    """Float output ignored --output-min/--output-max (its configuration said them); a 16-bit raw file
    held integers 4545..61193 for values -0.001..0.018 with the scale stored nowhere (exit 0)."""
    import numpy as np
    import tifffile

    tifffile.imwrite(tmp_path / "sino.tif", np.ones((4, 16, 16), np.float32), photometric="minisblack")
    result = ufo("reco", "--sinograms", "sino.tif", "--axis", "8", "--gpus", "cpu", "-q", *args, cwd=tmp_path,
                 timeout=120)
    assert result.returncode == 2 and said in result.stderr, result.stderr
    assert not any(p.name.startswith("s.") for p in tmp_path.iterdir())


def test_ufo_reco_s_clipping_warning_names_its_own_options(tmp_path):
    """It told a `ufo reco` user to give the write task's minimum= and maximum= ... or bits=32."""
    import numpy as np
    import tifffile

    rng = np.random.default_rng(0)
    tifffile.imwrite(tmp_path / "sino.tif", rng.random((4, 16, 16), np.float32), photometric="minisblack")
    result = ufo("reco", "--sinograms", "sino.tif", "--axis", "8", "--gpus", "cpu", "-q", "--output-bits", "16",
                 "--output-min", "0", "--output-max", "1e-6", "-o", "s.tif", cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "give --output-min and --output-max that hold every frame, or --output-bits 32" in result.stderr, result.stderr


def test_a_bad_ufo_devices_is_named_as_read():
    from ufo.core.errors import UsageError
    from ufo.core.resources import parse_spec

    os.environ["UFO_DEVICES"], before = "bogus", os.environ.get("UFO_DEVICES")
    try:
        with pytest.raises(UsageError, match="got 'bogus'"):  # it said "got 'None'"
            parse_spec(None)
    finally:
        if before is None:
            del os.environ["UFO_DEVICES"]
        else:
            os.environ["UFO_DEVICES"] = before


def test_the_gpu_asked_for_without_one_names_the_extra():
    """device='gpu' without CuPy: a bare "No module named 'cupy'" (OnlineReconstruction, ufo bench stream)."""
    from ufo.core.errors import UsageError
    from ufo.core.resources import available
    from ufo.tomo.backends import backend

    if available():
        pytest.skip("a GPU is usable here")
    with pytest.raises(UsageError, match=r"no GPU is usable here .*pip install 'ufo\[gpu\]'"):
        backend("gpu")
