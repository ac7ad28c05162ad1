"""Errors keep their root cause (`raise ... from err`): the command still prints one clear line,
`--debug` shows the whole chain, and Python callers find the library's own exception in
`__cause__`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import tifffile

import ufo
from ufo.camera import CameraError, open_camera
from ufo.core import InputError, UsageError
from ufo.core.serialize import loads
from ufo.storage import open_source


def run_ufo(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "ufo", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def error_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("error:")]


@pytest.fixture
def not_a_tiff(tmp_path):
    path = tmp_path / "scan.tif"
    path.write_bytes(b"hello, this is no TIFF at all")
    return path


@pytest.mark.parametrize("command,top", [
    (["run", "read path={} ! null"], "InputError"),  # the graph names the node; storage's error is its cause
    (["camera", "info", "replay", "-p", "path={}"], "CameraError"),
])
def test_a_bad_input_file_is_one_line_and_debug_shows_the_cause_chain(not_a_tiff, command, top):
    args = [a.format(not_a_tiff) for a in command]
    plain = run_ufo(*args)
    assert plain.returncode == 1, plain.stderr
    lines = error_lines(plain.stderr)
    assert len(lines) == 1 and "scan.tif" in lines[0] and "not a TIFF file" in lines[0]
    assert "Traceback" not in plain.stderr and "direct cause" not in plain.stderr
    assert "TiffFileError" not in plain.stderr  # the cause's type is for --debug
    debug = run_ufo("--debug", *args)
    assert debug.returncode == 1
    assert "TiffFileError" in debug.stderr  # tifffile's own exception, at the root of the chain
    assert "The above exception was the direct cause of the following exception" in debug.stderr
    assert debug.stderr.index("TiffFileError") < debug.stderr.rindex(top)  # root first, as Python prints
    assert len(error_lines(debug.stderr)) == 1


def test_a_bad_json_graph_is_a_usage_error_with_its_cause_under_debug(tmp_path):
    (tmp_path / "graph.json").write_text('{"nodes": ')
    plain = run_ufo("run", "--json", "graph.json", cwd=tmp_path)
    assert plain.returncode == 2, plain.stderr
    assert len(error_lines(plain.stderr)) == 1 and "not valid JSON" in plain.stderr
    assert "Traceback" not in plain.stderr and "JSONDecodeError" not in plain.stderr
    debug = run_ufo("--debug", "run", "--json", "graph.json", cwd=tmp_path)
    assert debug.returncode == 2
    assert "json.decoder.JSONDecodeError" in debug.stderr and "direct cause" in debug.stderr


def test_python_callers_find_the_root_cause(not_a_tiff):
    with pytest.raises(InputError) as info:
        open_source(str(not_a_tiff))
    assert isinstance(info.value.__cause__, tifffile.TiffFileError)

    with pytest.raises(CameraError) as info:  # two layers: camera -> storage -> tifffile
        open_camera("replay", path=str(not_a_tiff))
    assert isinstance(info.value.__cause__, InputError)
    assert isinstance(info.value.__cause__.__cause__, tifffile.TiffFileError)

    with pytest.raises(UsageError) as info:
        loads('{"nodes": ')
    assert isinstance(info.value.__cause__, json.JSONDecodeError)

    with pytest.raises(UsageError) as info:
        ufo.DummyData(number="many")
    assert isinstance(info.value.__cause__, ValueError)


def test_empty_streams_are_said_and_fail_as_run_time_errors(tmp_path):
    """A writer fed no frames wrote nothing without a word; a reduction fed none exited 2 (usage)."""
    run = run_ufo("run", "-q", f"dummy-data number=0 ! write path={tmp_path}/o.tif")  # -q: warnings stay
    assert run.returncode == 0 and not (tmp_path / "o.tif").exists()
    assert "write: received no frames (its input stream was empty): nothing was written" in " ".join(run.stderr.split())
    run = run_ufo("run", f"dummy-data number=0 ! average ! write path={tmp_path}/a.tif")
    assert run.returncode == 1 and error_lines(run.stderr) == [
        "error: task 'average' failed: InputError: task 'average' received no frames: its input stream was empty"]


def test_task_properties_are_given_by_name():
    """ufo.Crop(3) set replicas=3 without a word."""
    with pytest.raises(UsageError, match=r"task 'crop' takes its properties by name, e.g. Crop\(x=...\); got 3"):
        ufo.Crop(3)
    assert ufo.Crop(width=3, replicas=2).replicas == 2


def test_a_bad_value_of_a_name_ufo_and_UFO_share_is_said_once():
    """'rotate angle=5foo' said its complaint twice: '... (read as UFO's: <the same words>)'."""
    run = run_ufo("run", "dummy-data shape=8,8 number=1 ! rotate angle=5foo ! null")
    assert run.returncode == 2 and "read as UFO's" not in run.stderr
    assert error_lines(run.stderr) == ["error: task 'rotate': property 'angle' takes a value in rad: cannot read "
                                       "'5foo' as a quantity in rad"]


def test_a_generator_feeds_tasks_of_fixed_shapes_and_its_frames_keep_one_shape():
    """`Crop(width=32)(g for g in frames)` was refused ('needs frames of a fixed shape'), though the
    README says arrays or any iterable go in; a frame of another shape is one clear error."""
    import numpy as np

    frames = [np.arange(64 * 64, dtype=np.float32).reshape(64, 64) + i for i in range(3)]
    out = ufo.Crop(width=32)(f for f in frames).collect()
    np.testing.assert_array_equal(out, np.stack(frames)[:, :, :32])
    with pytest.raises(ufo.core.TaskError, match=r"frame 1 of the iterable has shape \(32, 48\) float32, its first \(64, 64\)"):
        ufo.Crop(width=32)(f for f in [frames[0], np.ones((32, 48), np.float32)]).collect()
    # a type change: a writer cast 0.75 into uint16 0 without a word
    changed = (f for f in [np.full((64, 64), 1000, np.uint16), np.full((64, 64), 0.75, np.float32)])
    with pytest.raises(ufo.core.TaskError, match=r"frame 1 of the iterable has shape \(64, 64\) float32, its first "
                                                  r"\(64, 64\) uint16: .* one shape and type"):
        ufo.Crop(width=32)(changed).collect()


def test_a_task_of_fixed_shapes_on_an_empty_iterable_says_it_is_empty():
    """It said only "needs frames of a fixed shape", which sent the user looking at the frames."""
    with pytest.raises(ufo.core.GraphError, match="its input gives no frames"):
        ufo.Crop(width=2)(iter([])).collect()


def test_a_generator_used_up_by_a_run_is_refused_by_the_next_and_an_iterable_streams_again():
    """The second `collect()` of a stream fed by a generator gave 0 frames (shape lost) without a
    word; an iterable that makes a new iterator each time (not a list) streams its frames again."""
    import numpy as np

    stream = ufo.Calculate(expression="x + 1")(np.full((8, 8), i, np.float32) for i in range(5))
    np.testing.assert_array_equal(stream.collect()[:, 0, 0], [1, 2, 3, 4, 5])
    with pytest.raises(ufo.core.GraphError, match="an earlier run used this one up; pass a list or an array"):
        stream.collect()

    class Frames:
        def __iter__(self):
            return (np.full((8, 8), i, np.float32) for i in range(3))

    stream = ufo.Calculate(expression="x * 2")(Frames())
    np.testing.assert_array_equal(stream.collect()[:, 0, 0], [0, 2, 4])
    np.testing.assert_array_equal(stream.collect()[:, 0, 0], [0, 2, 4])
