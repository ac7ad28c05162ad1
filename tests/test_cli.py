"""The `ufo` command as a user runs it: real processes, real files, real signals."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
import tifffile

from ufo.gpu import available


def ufo(*args, cwd=None, timeout=60):
    return subprocess.run([sys.executable, "-m", "ufo", *args], capture_output=True, text=True, cwd=cwd, timeout=timeout)


def test_run_writes_files_and_prints_a_summary(tmp_path):
    result = ufo("run", "dummy-data shape=32,32 number=20 init=ramp value=1 ! calculate expression='x * 2' "
                 "! write path=out/frame-%03i.tif", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "calculate" in result.stdout and "frames" in result.stdout
    files = sorted((tmp_path / "out").iterdir())
    assert len(files) == 20
    expected = (np.arange(32 * 32, dtype=np.float64).reshape(32, 32) + 19) * 2
    np.testing.assert_allclose(tifffile.imread(files[-1]), expected)


@pytest.mark.parametrize("args,message", [
    (["run", "dummy-data ! calculat"], "Did you mean 'calculate'"),
    (["run", "dummy-data numbr=3 ! null"], "Valid properties"),
    (["run", "dummy-data number=-3 ! null"], ">= 0"),
    (["run", "dummy-data ! rotate angle=2mm ! null"], "rad"),
    (["run", "[dummy-data ! null"], "never closed"),
    (["run", "dummy-data shape=4,4 ! crop x=9 ! null"], "does not fit"),
    (["tasks", "nosuch"], "unknown task"),
    (["run"], "give a pipeline"),
])
def test_usage_errors_exit_2_without_traceback(args, message):
    result = ufo(*args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["run", "reco"])
def test_a_data_set_that_is_not_in_the_file_is_a_path_to_fix(tmp_path, command):
    """A missing file was exit 2 and a missing data set in an existing file exit 1 (a probe)."""
    with h5py.File(tmp_path / "scan.h5", "w") as f:
        f["data"] = np.zeros((3, 4, 4), np.uint16)
    args = ["run", "read path=scan.h5:/nope ! null"] if command == "run" else \
        ["reco", "--projections", "scan.h5:/nope", "--axis", "2", "--dry-run"]
    result = ufo(*args, cwd=tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "has no dataset '/nope'; it holds /data" in result.stderr and "Traceback" not in result.stderr


def test_failure_while_running_exits_1_and_debug_shows_traceback(tmp_path):
    (tmp_path / "bad.tif").write_bytes(b"II*\0garbage")
    result = ufo("run", f"read path={tmp_path / 'bad.tif'} ! null")
    assert result.returncode == 1 and "bad.tif" in result.stderr and "Traceback" not in result.stderr
    result = ufo("--debug", "run", f"read path={tmp_path / 'bad.tif'} ! null")
    assert result.returncode == 1 and "Traceback" in result.stderr


def test_refusing_to_overwrite_is_a_usage_error_that_says_how(tmp_path):
    """Exit 1 here and 2 from `ufo reco` for the same refusal; `ufo run` suggested --overwrite, which it has not."""
    ufo("run", "dummy-data shape=4,4 number=2 ! write path=o.tif", cwd=tmp_path)
    result = ufo("run", "dummy-data shape=4,4 number=2 ! write path=o.tif", cwd=tmp_path)
    assert result.returncode == 2 and "refusing to overwrite it (add overwrite=true to the write task)" in result.stderr
    result = ufo("camera", "grab", "mock", "-n", "2", "-o", "o.tif", "-p", "sensor-width=4", "-p", "sensor-height=4",
                 cwd=tmp_path)
    assert result.returncode == 2 and "refusing to overwrite it (use --overwrite)" in result.stderr
    from ufo.bench.stream import render_scan

    render_scan(str(tmp_path / "scan.nx"), 32, 4, 32)  # `ufo reco` into a NeXus file it made before: refused
    for _ in range(2):  # up front, as every other output (it was after the run, exit 1, "overwrite=true")
        result = ufo("reco", "--projections", "scan.nx", "--axis", "16", "-o", "o.nx", "-q", cwd=tmp_path)
    assert result.returncode == 2 and "'o.nx:/entry/data/data' exists; refusing to overwrite it (use --overwrite)" \
        in result.stderr, result.stderr


def test_dump_json_and_trace(tmp_path):
    graph = tmp_path / "g.json"
    result = ufo("run", "dummy-data shape=8,8 number=5 ! flip ! null", "--dump", str(graph), "--dry-run")
    assert result.returncode == 0 and "flip: map <- dummy-data" in result.stdout
    data = json.loads(graph.read_text())
    assert [n["plugin"] for n in data["nodes"]] == ["dummy-data", "flip", "null"]
    trace = tmp_path / "t.json"
    result = ufo("run", "--json", str(graph), "--trace", str(trace), "-q")
    assert result.returncode == 0, result.stderr
    events = json.loads(trace.read_text())["traceEvents"]
    assert sum(1 for e in events if e.get("name") == "flip" and e["ph"] == "X") == 5


def test_tasks_lists_and_describes():
    result = ufo("tasks")
    assert result.returncode == 0 and "calculate" in result.stdout and "dummy-data" in result.stdout
    result = ufo("tasks", "read", "--json")
    info = json.loads(result.stdout)
    assert info["kind"] == "source"
    assert {p["name"] for p in info["properties"]} >= {"path", "start", "number", "y-step", "raw-width"}
    result = ufo("tasks", "rotate")
    assert "rad" in result.stdout and "interpolation" in result.stdout


def test_every_command_has_help_with_examples():
    for args in (["--help"], ["run", "--help"], ["tasks", "--help"]):
        result = ufo(*args)
        assert result.returncode == 0 and "Examples" in result.stdout


#: `python -m ufo ARGS` with SIGINT at its default, as in a terminal: a test runner started in the
#: background (`bash -c 'pytest' &`) hands its children SIGINT ignored, and ufo, like every Unix
#: program, leaves an ignored SIGINT ignored
TERMINAL = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
            "os.execv(sys.executable, [sys.executable, '-m', 'ufo', *sys.argv[1:]])")


@pytest.mark.parametrize("target", ["scan.h5:/data", "stack.tif"])
def test_ctrl_c_stops_cleanly_and_leaves_readable_files(tmp_path, target):
    proc = subprocess.Popen(
        [sys.executable, "-c", TERMINAL, "run", "-q",
         f"dummy-data shape=64,64 number=100000000 init=ramp value=1 ! calculate expression='x' ! write path={target}"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    path = tmp_path / target.split(":")[0]
    deadline = time.time() + 30
    while not path.exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=30)
    finally:  # a command that went on after the signal is not left writing 1.6 TB
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "stopped after" in err and "Traceback" not in err
    said = re.search(r"'write': (\d+)", " ".join(err.split()))  # the frames on their way were written (drained)
    assert said is not None, err
    if target.endswith(".tif"):
        with tifffile.TiffFile(path) as tif:
            n = len(tif.pages)
            last = tif.pages[n - 1].asarray()
    else:
        with h5py.File(path) as f:
            n = f["data"].shape[0]
            last = f["data"][n - 1]
    assert n > 10 and n == int(said[1])
    np.testing.assert_allclose(last, np.arange(64 * 64, dtype=np.float32).reshape(64, 64) + (n - 1))


def test_task_reference_in_docs_is_current_and_names_python_classes():
    import importlib
    from pathlib import Path

    from ufo.cli.tasks import reference_markdown
    from ufo.core import registry

    package = importlib.import_module("ufo")
    text = reference_markdown()
    docs = Path(__file__).resolve().parent.parent / "docs" / "tasks.md"
    assert docs.read_text() == text, "docs/tasks.md is stale: run 'ufo tasks --markdown > docs/tasks.md'"
    for name in registry.names():
        cls = registry.get(name)
        assert f"\n## {name}\n" in text and getattr(package, registry.camel(name)) is cls
        assert f"Python: `ufo.{registry.camel(name)}`" in text
        for prop in cls.properties().values():
            assert f"| `{prop.cli_name}` |" in text
    assert ufo("tasks", "--markdown").stdout == text


def test_ufo_bench_prints_one_table_with_ratios_against_peers(tmp_path):
    proc = ufo("bench", "--only", "runtime,storage,gpu", "--scale", "0.05", "--dir", str(tmp_path), "--json",
               str(tmp_path / "bench.json"), timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "ufo bench" in proc.stdout and "queue.Queue" in proc.stdout and "os.write" in proc.stdout
    figures = json.loads((tmp_path / "bench.json").read_text())
    areas = {f["area"] for f in figures}
    assert areas == {"runtime", "storage", "gpu"}
    for f in figures:
        if f["peer_value"]:
            assert f["ufo"] > 0 and f["ratio"] == pytest.approx(f["ufo"] / f["peer_value"])
        else:
            assert f["ratio"] is None and f["note"]  # a missing peer says why
    assert list(tmp_path.iterdir()) == [tmp_path / "bench.json"]  # the storage files are gone
    bad = ufo("bench", "--only", "runtime,disks")
    assert bad.returncode == 2 and "disks" in bad.stderr


def test_bench_stream_replays_a_scan_into_the_writer_and_the_engine(tmp_path):
    """`ufo bench stream` end to end on a small scan: figures in the JSON, and where no frame was
    dropped the engine's slices equal `ufo reco`'s on the same scan."""
    import json

    from click.testing import CliRunner

    from ufo.cli.main import cli

    out = tmp_path / "stream.json"
    result = CliRunner().invoke(cli, ["bench", "stream", "--width", "128", "--height", "16", "--projections", "120",
                                      "--darks", "2", "--flats", "2", "--rate", "100", "--rows", "4", "--device", "cpu",
                                      "--dir", str(tmp_path), "--json", str(out)])
    assert result.exit_code == 0, result.output
    run = json.loads(out.read_text())["runs"][0]
    assert run["received"] + run["dropped"] == 124 and run["slices"] == 4 and run["lag"] >= 0
    if run["dropped"] == 0:
        assert run["deviation"] < 1e-5
    assert "ufo bench stream" in result.output


def test_gpu_streams_is_an_option_checked_before_running():
    assert ufo("run", "-q", "--gpu-streams", "3", "dummy-data number=5 ! null").returncode == 0
    bad = ufo("run", "-q", "--gpu-streams", "0", "dummy-data number=5 ! null")
    assert bad.returncode == 2 and "--gpu-streams" in bad.stderr


@pytest.mark.skipif(available() > 0, reason="a GPU is there: no fallback")
def test_reco_without_a_gpu_says_so_once(tmp_path):
    """Two graphs (axis search, reconstruction) each fall back to the CPU; the user reads it once."""
    from ufo.bench.stream import render_scan

    render_scan(str(tmp_path / "scan.nx"), 64, 32, 16)
    result = ufo("reco", "--projections", str(tmp_path / "scan.nx"), "--output", str(tmp_path / "o.h5:/data"),
                 "--axis", "auto", "-q")
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("no GPU found") == 1, result.stderr
    with h5py.File(tmp_path / "o.h5") as f:
        assert f["data"].shape == (32, 64, 64) and np.isfinite(f["data"][:]).all() and f["data"][:].std() > 0


@pytest.mark.parametrize("given, answer", [
    (["--center-position-x", "31.5"], "--axis X-0.5"),
    (["--y=2", "--height", "4"], "--region Y:Y+HEIGHT:STEP"),
    (["--output-bitdepth", "16"], "--output-bits 8|16|32"),
    (["--absorptivity"], "--absorption"),
    (["--projection-filter-cutoff", "0.5"], "--filter-cutoff 2*C"),  # the same cutoff: twice the number here
    (["--regularization-rate", "2"], "--delta-beta 10**R"),  # R is log10(delta/beta): not the ratio
    (["--frequency-cutoff", "0.5"], "nothing: ufo's Paganin filter has no frequency cutoff"),  # not the FBP's --filter-cutoff click suggested
    (["--x-region", "0,512,1"], "--roi X,Y,WIDTH,HEIGHT"),
    (["--overall-angle", "180"], "--angle STEP"),
    (["--reduction-mode", "median"], "nothing: darks are averaged and flats median-combined here (tofu's default"),
])
def test_tofu_options_are_answered_with_their_ufo_spelling(tmp_path, given, answer):
    """A `tofu tomo` command line moved to `ufo reco`: each option named or counted differently
    gets one line saying what to write here; exit status 2 as any unknown option; nothing runs."""
    result = ufo("reco", "--projections", str(tmp_path), *given, "-o", str(tmp_path / "o.tif"))
    assert result.returncode == 2
    assert f"{given[0].split('=')[0]} is tofu's option; here: {answer}" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr and not (tmp_path / "o.tif").exists()
    other = ufo("reco", "--bogus-option")
    assert other.returncode == 2 and "No such option" in other.stderr and "tofu" not in other.stderr


def test_a_reco_dry_run_prints_its_plan_when_the_output_exists(tmp_path):
    """`ufo reco --config reco.toml --dry-run` after one real run: exit 2, "exists; refusing to
    overwrite it", and no plan. Now the plan, and the refusal the run would meet as a warning."""
    import numpy as np
    import tifffile

    tifffile.imwrite(tmp_path / "s.tif", np.ones((4, 16, 16), np.float32), photometric="minisblack")
    (tmp_path / "out.tif").write_bytes(b"earlier slices")
    args = ("reco", "--sinograms", str(tmp_path / "s.tif"), "--axis", "8", "--gpus", "cpu", "-o", str(tmp_path / "out.tif"))
    result = ufo(*args, "--dry-run")
    assert result.returncode == 0 and "graph of the first pass" in result.stdout, result.stderr
    assert "the run would stop here" in result.stderr and "refusing to overwrite" in result.stderr
    result = ufo(*args)
    assert result.returncode == 2 and (tmp_path / "out.tif").read_bytes() == b"earlier slices"
