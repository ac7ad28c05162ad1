"""Stream-structure tasks (UFO's slice, merge, buffer, loop, monitor, sliding-stack,
interpolate-stream, flatten, flatten-inplace) through real graphs, against numpy written
from UFO's documented rules. Exact where the task only moves data; float32 rounding
(rtol 1e-6) where it computes."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import tifffile

import ufo
from ufo.core import GraphError
from ufo.tasks.streams import stream_weights

RNG = np.random.default_rng(22)
FRAMES = RNG.random((5, 6, 7)).astype(np.float32)


def run(task, *inputs):
    return task(*inputs).collect()


def declared(stream):
    """The spec the graph declares for a stream when it is validated, before anything runs."""
    return stream.graph().validate()[id(stream.task)]


def test_slice_splits_volumes_into_frames_in_order():
    volumes = RNG.random((3, 4, 6, 7)).astype(np.float32)
    out = run(ufo.task("slice"), volumes)
    np.testing.assert_array_equal(out, volumes.reshape(12, 6, 7))


def test_slice_undoes_stack_and_numbers_the_frames():
    out = list(ufo.task("slice")(ufo.task("stack", number=2)(FRAMES[:4])))
    np.testing.assert_array_equal(np.stack(out), FRAMES[:4])
    assert [o.meta["index"] for o in out] == [0, 1, 2, 3]


def test_slice_refuses_2d_frames():
    with pytest.raises(GraphError, match="slice"):
        run(ufo.task("slice"), FRAMES)


def test_merge_concatenates_inputs_vertically():
    other = RNG.random((5, 2, 7)).astype(np.float64)
    out = run(ufo.task("merge"), FRAMES, other)
    np.testing.assert_array_equal(out, np.concatenate([FRAMES, other], axis=1))
    assert out.dtype == np.float64
    three = run(ufo.task("merge", number=3), FRAMES, other, FRAMES)
    np.testing.assert_array_equal(three, np.concatenate([FRAMES, other, FRAMES], axis=1))


@pytest.mark.parametrize("kwargs,inputs,message", [
    ({}, (FRAMES, FRAMES[:, :, :3]), "one width"),
    ({"number": 3}, (FRAMES, FRAMES), "number=3"),
])
def test_merge_refuses_what_it_cannot_join(kwargs, inputs, message):
    with pytest.raises(GraphError, match=message):
        run(ufo.task("merge", **kwargs), *inputs)


@pytest.mark.parametrize("loop,order", [(False, [0, 0, 0, 1, 1, 1, 2, 2, 2]), (True, [0, 1, 2, 0, 1, 2, 0, 1, 2])])
def test_buffer_emits_every_frame_dup_count_times(loop, order):
    out = run(ufo.task("buffer", dup_count=3, loop=loop), FRAMES[:3])
    np.testing.assert_array_equal(out, FRAMES[order])


def test_loop_repeats_each_frame():
    np.testing.assert_array_equal(run(ufo.task("loop", number=2), FRAMES[:3]), FRAMES[[0, 0, 1, 1, 2, 2]])
    assert len(run(ufo.task("loop", number=0), FRAMES[:3])) == 0


def test_buffer_refuses_a_stream_larger_than_memory(monkeypatch):
    import ufo.tasks.streams as streams

    monkeypatch.setattr(streams, "available_memory", lambda: 1000)
    with pytest.raises(GraphError, match="buffer.*GiB"):
        run(ufo.task("buffer"), FRAMES)


def test_monitor_passes_frames_and_prints_one_line_each(capsys):
    out = run(ufo.task("monitor", print=2), FRAMES)
    np.testing.assert_array_equal(out, FRAMES)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("monitor")]
    assert len(lines) == 5 and "6x7 float32" in lines[0] and f"{FRAMES[0, 0, 0]:g}" in lines[0]


@pytest.mark.parametrize("ordered", [False, True])
def test_sliding_stack_windows_follow_ufo(ordered):
    frames = np.arange(7, dtype=np.float32)[:, None, None] * np.ones((7, 2, 3), np.float32)
    out = run(ufo.task("sliding-stack", number=3, ordered=ordered), frames)
    assert out.shape == (7, 3, 2, 3)
    got = out[:, :, 0, 0].astype(int).tolist()
    if ordered:  # oldest first; the first frame fills the window
        expected = [[0, 0, 0], [0, 0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5], [4, 5, 6]]
    else:  # UFO's documentation: (0,0,0), (0,1,0), (0,1,2), (3,1,2), (3,4,2), (3,4,5), ...
        expected = [[0, 0, 0], [0, 1, 0], [0, 1, 2], [3, 1, 2], [3, 4, 2], [3, 4, 5], [6, 4, 5]]
    assert got == expected


def _ufo_interpolate_stream(frames, number):
    """UFO's generate() loop, transcribed from ufo-interpolate-stream-task.c (C rounding)."""
    n_in = len(frames)
    out = []
    for current in range(number):
        lower = int(np.floor((n_in - 1) * np.float32(current) / number))
        per = int(np.floor(number / np.float32(n_in - 1) + 0.5))
        pos = current - per * lower
        per = min((lower + 1) * per, number) - lower * per
        alpha = np.float32(pos / np.float32(per))
        out.append((1 - alpha) * frames[lower] + alpha * frames[lower + 1])
    return np.stack(out)


@pytest.mark.parametrize("n_in,number", [(2, 5), (3, 5), (3, 7), (5, 12), (4, 10)])
def test_interpolate_stream_matches_ufos_rule(n_in, number):
    frames = RNG.random((n_in, 4, 5)).astype(np.float32)
    out = run(ufo.task("interpolate-stream", number=number), frames)
    assert out.shape == (number, 4, 5)
    np.testing.assert_allclose(out, _ufo_interpolate_stream(frames, number), rtol=1e-6, atol=1e-7)


def test_interpolate_stream_weights_are_a_linear_ramp_for_two_frames():
    assert stream_weights(2, 4) == [(0, 0.0), (0, 0.25), (0, 0.5), (0, 0.75)]


def test_interpolate_stream_needs_two_frames():
    with pytest.raises(GraphError, match="at least 2"):
        run(ufo.task("interpolate-stream", number=3), FRAMES[:1])


@pytest.mark.parametrize("mode,reference", [("min", np.min), ("max", np.max), ("sum", np.sum), ("median", np.median)])
def test_flatten_reduces_each_volume_along_z(mode, reference):
    volumes = RNG.random((2, 5, 6, 7)).astype(np.float32)
    out = run(ufo.task("flatten", mode=mode), volumes)
    np.testing.assert_allclose(out, reference(volumes.astype(np.float64), axis=1), rtol=1e-6)


@pytest.mark.parametrize("mode,reference", [("min", np.min), ("max", np.max), ("sum", np.sum)])
def test_flatten_inplace_reduces_the_whole_stream(mode, reference):
    out = run(ufo.task("flatten-inplace", mode=mode), FRAMES)
    assert out.shape == (1, 6, 7)
    np.testing.assert_allclose(out[0], reference(FRAMES.astype(np.float64), axis=0), rtol=1e-6)


@pytest.mark.parametrize("name,props,count", [
    ("slice", {}, 10), ("buffer", {"dup_count": 3}, 15), ("loop", {"number": 2}, 10),
    ("sliding-stack", {"number": 4}, 5), ("interpolate-stream", {"number": 9}, 9),
    ("flatten-inplace", {}, 1), ("monitor", {}, 5),
])
def test_declared_counts_are_the_frames_emitted(name, props, count):
    data = RNG.random((5, 2, 3, 4)).astype(np.float32) if name == "slice" else FRAMES
    stream = ufo.task(name, **props)(data)
    assert declared(stream).count == count
    assert len(stream.collect()) == count


def test_cli_pipeline_stack_slice_loop(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "ufo", "run", "-q",
         "dummy-data shape=4,5 number=6 init=ramp value=1 ! stack number=3 ! slice ! loop number=2 ! write path=out/f-%03i.tif"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    files = sorted((tmp_path / "out").iterdir())
    assert len(files) == 12
    ramp = np.arange(20, dtype=np.float32).reshape(4, 5)
    np.testing.assert_array_equal(tifffile.imread(files[2]), tifffile.imread(files[3]))
    np.testing.assert_allclose(tifffile.imread(files[2]) - tifffile.imread(files[0]), 1.0)
    assert tifffile.imread(files[0]).shape == ramp.shape


def test_ufo_json_graph_feeds_merge_by_input_index(tmp_path):
    from ufo.core.serialize import from_dict

    graph = from_dict({
        "nodes": [
            {"plugin": "dummy-data", "name": "top", "properties": {"shape": [2, 5], "number": 3, "init": "ramp"}},
            {"plugin": "dummy-data", "name": "bottom", "properties": {"shape": [3, 5], "number": 3, "value": 7}},
            {"plugin": "merge", "name": "merge", "properties": {"number": 2}},
            {"plugin": "write", "name": "write", "properties": {"path": str(tmp_path / "m-%i.tif")}},
        ],
        "edges": [
            {"from": {"name": "bottom"}, "to": {"name": "merge", "input": 1}},
            {"from": {"name": "top"}, "to": {"name": "merge", "input": 0}},
            {"from": {"name": "merge"}, "to": {"name": "write"}},
        ],
    })
    graph.run().wait()
    files = sorted(tmp_path.glob("m-*.tif"))
    assert len(files) == 3
    expected = np.vstack([np.arange(10, dtype=np.float32).reshape(2, 5), np.full((3, 5), 7, np.float32)])
    np.testing.assert_array_equal(tifffile.imread(files[0]), expected)
