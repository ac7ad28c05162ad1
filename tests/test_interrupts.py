"""Ctrl-C everywhere ends the same way: the graph, devices and servers stop, files are closed and
readable, and the command exits 130 (a Python script: KeyboardInterrupt, promptly, no hang).

Every test runs a real process and sends it a real SIGINT.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time

import h5py
import numpy as np
import pytest
import tifffile

ROWS, WIDTH, ANGLES = 64, 128, 600


def _start(args, cwd=None, **kw):
    env = dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="120")
    return subprocess.Popen(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **kw)


def _ufo(*args, cwd=None):
    return _start([sys.executable, "-m", "ufo", *args], cwd=cwd)


def _wait_for(predicate, proc, timeout=60.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the process ended early with {proc.returncode}:\n{out}\n{err}")
        time.sleep(0.05)
    proc.kill()
    out, err = proc.communicate()
    pytest.fail(f"the process never got going:\n{out}\n{err}")


def _interrupt(proc, timeout=30.0):
    """SIGINT; returns (exit code, seconds to exit, stdout, stderr). A hang is killed and fails."""
    t0 = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"the process still ran {timeout} s after SIGINT:\n{out}\n{err}")
    return proc.returncode, time.perf_counter() - t0, out, err


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    """Projections in HDF5 and darks and flats as BigTIFF, all written by ufo's own writers; a
    reconstruction of it takes several seconds in many passes, so SIGINT lands mid-run."""
    from ufo.storage import open_writer

    root = tmp_path_factory.mktemp("scan")
    rng = np.random.default_rng(0)
    with open_writer(str(root / "proj.h5:/data")) as w:
        for i in range(ANGLES):
            w.write((1000 + 100 * rng.random((ROWS, WIDTH))).astype(np.float32), {"index": i})
    for name, level in (("darks.tif", 10), ("flats.tif", 1200)):
        with open_writer(str(root / name)) as w:
            for _ in range(2):
                w.write(np.full((ROWS, WIDTH), level, np.float32), {})
    return root


# -- ufo reco -------------------------------------------------------------------------------

@pytest.mark.parametrize("output", ["slices.h5:/slices", "slices.tif", "seq/slice-%04i.tif"])
def test_ctrl_c_on_reco_exits_130_and_leaves_files_that_open(scan, tmp_path, output):
    proc = _ufo("reco", "--projections", str(scan / "proj.h5:/data"), "--darks", str(scan / "darks.tif"),
                "--flats", str(scan / "flats.tif"), "--axis", "64", "--output", str(tmp_path / output),
                "--pass-height", "2", "--threads", "1", cwd=tmp_path)
    first = tmp_path / output.split(":")[0]
    if output.startswith("seq/"):
        first, third = tmp_path / "seq" / "slice-0000.tif", tmp_path / "seq" / "slice-0002.tif"
        _wait_for(third.exists, proc)  # mid-run, some slices written
    else:
        _wait_for(lambda: first.exists() and first.stat().st_size > 2 * WIDTH * WIDTH * 4, proc)
    time.sleep(0.2)
    code, _seconds, out, err = _interrupt(proc)
    assert code == 130, f"exit {code}\n{out}\n{err}"
    assert "Traceback" not in err and "Aborted" not in err
    assert "complete and readable" not in err and "slices/s" not in out  # no claim that the slices are complete
    assert "interrupted" in err
    if output.endswith(".h5:/slices"):
        with h5py.File(first, "r") as f:  # a clean stop: no swmr=True needed
            if "slices" in f:
                data = f["slices"]
                n = data.shape[0]
                assert 0 < n < ROWS
                assert np.isfinite(data[n - 1]).all()
    elif output == "slices.tif":
        with tifffile.TiffFile(first) as tif:
            n = len(tif.pages)
            assert 0 < n < ROWS
            assert np.isfinite(tif.pages[n - 1].asarray()).all()
    else:
        files = sorted(os.listdir(tmp_path / "seq"))
        assert files and all(f.endswith(".tif") for f in files), files  # no '.part' left behind
        assert len(files) < ROWS
        assert np.isfinite(tifffile.imread(tmp_path / "seq" / files[-1])).all()


def test_ctrl_c_before_the_first_slice_leaves_no_empty_hdf5_file(scan, tmp_path):
    """One pass: the file is made at the start, the first slice comes after the last projection.
    Stopped between, the empty file stayed; now it is removed, and said (else it holds slices)."""
    path = tmp_path / "s.h5"
    proc = _ufo("reco", "--projections", str(scan / "proj.h5:/data"), "--darks", str(scan / "darks.tif"), "--flats",
                str(scan / "flats.tif"), "--axis", "64", "--output", f"{path}:/slices", "--threads", "1", cwd=tmp_path)
    _wait_for(path.exists, proc)
    code, _seconds, out, err = _interrupt(proc)
    assert code == 130, f"exit {code}\n{out}\n{err}"
    if path.exists():
        with h5py.File(path, "r") as f:
            assert f["slices"].shape[0] > 0 and "slices were written" in err, err
    else:
        assert "interrupted before the first of 64 slices was written: the empty output file was removed" in \
            " ".join(err.split()), err


def test_a_second_ctrl_c_does_not_cut_the_closing_short(scan, tmp_path):
    proc = _ufo("reco", "--projections", str(scan / "proj.h5:/data"), "--darks", str(scan / "darks.tif"),
                "--flats", str(scan / "flats.tif"), "--axis", "64", "--output", str(tmp_path / "s.h5:/slices"),
                "--pass-height", "2", "--threads", "1", cwd=tmp_path)
    path = tmp_path / "s.h5"
    _wait_for(lambda: path.exists() and path.stat().st_size > 2 * WIDTH * WIDTH * 4, proc)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.1)  # the first one is being handled (signals sent at once would merge into one)
    code, _seconds, _out, err = _interrupt(proc)  # while closing, or while the interpreter winds down
    assert code == 130, f"exit {code}\n{err}"
    assert "Traceback" not in err and "Aborted" not in err
    assert "interrupted" in err and "complete and readable" not in err
    with h5py.File(path, "r") as f:
        assert 0 < f["slices"].shape[0] < ROWS


# -- Python: KeyboardInterrupt in wait() ----------------------------------------------------

ENDLESS = """
import sys, time
import ufo
from ufo.core import Kind, Spec, Task
from ufo.core.registry import create

class Stuck(Task):
    name = "stuck"
    kind = Kind.SOURCE
    inputs = ()
    def output_spec(self):
        return Spec((4, 4), "float32", None)
    def generate(self):
        yield __import__("numpy").zeros((4, 4), "float32")
        time.sleep(1000)  # a source that never polls cancellation

source = {source}
handle = create("null")(source).run()
print("running", flush=True)
handle.wait()
"""


@pytest.mark.parametrize("source", ["create('dummy-data', shape=(64, 64), number=10**9)()", "Stuck()()"],
                         ids=["endless", "blocking"])
def test_ctrl_c_in_wait_cancels_the_graph_and_the_process_ends_within_a_second(tmp_path, source):
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(ENDLESS.format(source=source)))
    proc = _start([sys.executable, str(script)])
    assert proc.stdout.readline().strip() == "running", proc.communicate()
    time.sleep(0.3)
    code, seconds, _out, err = _interrupt(proc, timeout=10)
    assert code != 0
    assert "KeyboardInterrupt" in err
    assert seconds < 1.0, f"{seconds:.2f} s from SIGINT to exit"


def test_ctrl_c_in_wait_closes_the_output(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent("""
        from ufo.core.registry import create
        handle = create("write", path="out.h5:/data")(create("dummy-data", shape=(64, 64), number=10**9)()).run()
        print("running", flush=True)
        try:
            handle.wait()
        except KeyboardInterrupt:
            print("interrupted", handle.done, flush=True)
            raise SystemExit(130)
    """))
    proc = _start([sys.executable, str(script)], cwd=tmp_path)
    assert proc.stdout.readline().strip() == "running", proc.communicate()
    time.sleep(0.5)
    code, _seconds, out, err = _interrupt(proc, timeout=10)
    assert code == 130, err
    assert "interrupted True" in out  # the graph had ended (and its writer closed) when wait() raised
    with h5py.File(tmp_path / "out.h5", "r") as f:
        n = f["data"].shape[0]
        assert n > 0 and np.isfinite(f["data"][n - 1]).all()


def test_a_blocking_source_is_woken_by_its_on_cancel_hook_and_the_run_ends_cancelled(no_leftover_threads):
    """The scheduler's hook for sources that block in a call of their own (a receive with a long
    timeout): `on_cancel()` is called when the run is cancelled; the error the woken call raises
    is part of the cancel, not a failure."""
    import threading

    from ufo.core import Cancelled, InputError, Kind, Spec, Task
    from ufo.core.registry import create

    class Blocking(Task):
        name = "blocking"
        kind = Kind.SOURCE
        inputs = ()

        def output_spec(self):
            return Spec((4, 4), np.dtype("float32"), None)

        def setup(self, ctx):
            super().setup(ctx)
            self._wake = threading.Event()

        def generate(self):
            yield np.zeros((4, 4), np.float32)
            if self._wake.wait(30):  # a receive with a 30 s timeout
                raise InputError("blocking: stopped")

        def on_cancel(self):
            self._wake.set()

    handle = create("null")(Blocking()()).run()
    time.sleep(0.2)
    t0 = time.perf_counter()
    handle.cancel()
    with pytest.raises(Cancelled):
        handle.wait(timeout=5)
    assert time.perf_counter() - t0 < 1.0
    assert any("stopped by the cancel" in w for w in handle.warnings)



# -- the other commands exit 130 ------------------------------------------------------------

def test_ctrl_c_on_camera_grab_exits_130_and_closes_the_file(tmp_path):
    proc = _ufo("camera", "grab", "mock", "-n", "1000000", "-o", "frames.h5:/data", "-p", "frames-per-second=200",
                "-p", "sensor-width=64", "-p", "sensor-height=64", cwd=tmp_path)
    _wait_for((tmp_path / "frames.h5").exists, proc)
    time.sleep(0.5)
    code, _seconds, _out, err = _interrupt(proc)
    assert code == 130, f"exit {code}\n{err}"
    assert "Aborted" not in err and "Traceback" not in err
    with h5py.File(tmp_path / "frames.h5", "r") as f:
        assert f["data"].shape[0] > 0
        said = re.search(r"interrupted: (\d+) of 1000000 frames written to frames.h5:/data, (\d+) dropped", err)
        assert said and int(said.group(1)) == f["data"].shape[0], err  # it said only "interrupted; stopped"


def test_ctrl_c_on_camera_bench_exits_130(tmp_path):
    # bench prints nothing until it ends: import first and say so, then run the command as `ufo` does
    args = ["camera", "bench", "mock", "-n", "100000000", "-p", "frames-per-second=100", "-p", "sensor-width=64",
            "-p", "sensor-height=64"]
    code = f"import sys, ufo.cli.main as m; print('ready', flush=True); sys.argv = ['ufo', *{args!r}]; m.main()"
    proc = _start([sys.executable, "-c", code], cwd=tmp_path)
    assert proc.stdout.readline().strip() == "ready", proc.communicate()
    time.sleep(1.5)
    assert proc.poll() is None, proc.communicate()
    code, _seconds, _out, err = _interrupt(proc)
    assert code == 130, f"exit {code}\n{err}"
    assert "Aborted" not in err and "Traceback" not in err


def test_ctrl_c_on_demo_exits_130(tmp_path):
    proc = _ufo("demo", "--size", "64", "--projections", "20000", "--frame-rate", "200", "--rows", "30:34",
                "--axis", "32", "-o", str(tmp_path / "demo"), cwd=tmp_path)
    _wait_for(lambda: (tmp_path / "demo" / "scan_0000" / "scan.nx").exists(), proc, timeout=120)
    time.sleep(1.0)
    code, _seconds, out, err = _interrupt(proc, timeout=60)
    assert code == 130, f"exit {code}\n{out}\n{err}"
    assert "Aborted" not in err and "Traceback" not in err
    with h5py.File(tmp_path / "demo" / "scan_0000" / "scan.nx", "r") as f:
        assert f["/entry/instrument/detector/data"].shape[0] > 0


def test_ctrl_c_on_camera_serve_exits_130(tmp_path):
    port = _free_port()
    proc = _ufo("camera", "serve", "mock", "--port", str(port), "--stream-port", str(_free_port()), cwd=tmp_path)
    line = ""
    deadline = time.time() + 60
    while "serving" not in line and time.time() < deadline:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            break
    assert "serving" in line, proc.communicate()
    time.sleep(0.3)
    code, _seconds, _out, err = _interrupt(proc)
    assert code == 130, f"exit {code}\n{err}"


def test_ctrl_c_on_gui_exits_130(tmp_path):
    pytest.importorskip("uvicorn")
    pytest.importorskip("fastapi")
    port = _free_port()
    proc = _ufo("gui", "--port", str(port), "--root", str(tmp_path), cwd=tmp_path)

    def listening():
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    _wait_for(listening, proc)
    code, _seconds, _out, err = _interrupt(proc)
    assert code == 130, f"exit {code}\n{err}"
    assert "Traceback" not in err


@pytest.mark.parametrize("command", ["run", "reco", "grab"])
def test_sigterm_stops_as_ctrl_c_does_and_exits_143(scan, tmp_path, command):
    """`kill PID` (a batch system's or systemd's stop) killed every command at once, as SIGKILL: the
    HDF5 output of a plain writer then opened nowhere without h5clear. Now the work stops, the file
    is closed whole and the status is 143 (128 + SIGTERM)."""
    out = tmp_path / "out.h5"  # past 1 MiB once it holds frames (a frame's room is taken before it is written)
    if command == "run":  # 20000 frames (5 GB) at most: a command that ignored the signal ends anyway
        proc = _ufo("run", "dummy-data shape=256,256 number=20000 ! write path=out.h5:/data", cwd=tmp_path)
    elif command == "reco":
        proc = _ufo("reco", "--projections", str(scan / "proj.h5"), "--darks", str(scan / "darks.tif"), "--flats",
                    str(scan / "flats.tif"), "--axis", str(WIDTH / 2), "--gpus", "cpu", "--pass-height", "1",
                    "--threads", "1", "-o", "out.h5:/data", cwd=tmp_path)
    else:
        proc = _ufo("camera", "grab", "mock", "-n", "1000000", "-o", "out.h5:/data", "-p", "frames-per-second=200",
                    "-p", "sensor-width=64", "-p", "sensor-height=64", cwd=tmp_path)
    try:
        _wait_for(lambda: out.exists() and out.stat().st_size > (1 << 16 if command == "reco" else 1 << 20), proc)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    finally:  # a command that went on after the signal is not left writing (it filled a CI disk once)
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 143, f"exit {proc.returncode}\n{err}"
    assert "Traceback" not in err and "interrupted; stopped" not in err  # said as a SIGTERM, not as Ctrl-C
    with h5py.File(out, "r") as f:  # plain h5py: closed whole, not as a killed writer leaves it
        assert f["data"].shape[0] > 0


def test_a_stop_is_seen_inside_a_long_back_projection():
    """Ctrl-C on `ufo reco` at 2048^2 on two cores waited 15-22 s for the stacked back-projection
    it landed in; bands of about a second of work each now look at the run's stop in between."""
    import threading

    from ufo.core.errors import Cancelled
    from ufo.tomo.fbp import backproject

    backproject(np.ones((2, 8, 16), np.float32), threads=1)  # compiled before the clock starts
    sinograms = np.ones((64, 1024, 1024), np.float32)  # 69 G voxel updates: half a minute on a core
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    t0 = time.perf_counter()
    with pytest.raises(Cancelled, match="back-projection was stopped"):
        backproject(sinograms, threads=1, stop=stop)
    assert time.perf_counter() - t0 < 8  # a band or two, not the whole stack


def test_ctrl_c_in_a_finalizer_is_delivered_again():
    """A SIGINT handled while a weakref callback or `__del__` runs raised KeyboardInterrupt there,
    where Python prints it and drops it: `ufo camera grab` ran on after Ctrl-C (CI, once). The
    handler now sends the signal again a moment later; in the command's own code it raises."""
    code = textwrap.dedent("""
        import signal, sys, time
        from ufo.cli import errors
        signal.signal(signal.SIGINT, errors._on_sigint)
        class Finalized:
            def __del__(self):
                errors._on_sigint(signal.SIGINT, sys._getframe())  # as if Ctrl-C came right here
        Finalized()
        try:
            time.sleep(5)
        except KeyboardInterrupt:
            print("interrupted after the finalizer")
            sys.exit(0)
        sys.exit(1)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "interrupted after the finalizer" in done.stdout, done.stderr
    assert "Exception ignored" not in done.stderr
