"""The GPU backend's planning, which runs anywhere: which nodes fuse into GPU segments, and the
CPU fallback. (The GPU code itself is checked on a GPU by benchmarks/gpu_check.py.)"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import ufo
from ufo.core import UsageError
from ufo.core.backends import prepare
from ufo.gpu import select
from ufo.gpu.segment import rewrite


def reco_graph():
    proj = ufo.DummyData(shape=[8, 32], number=20, value=2)()
    dark = ufo.DummyData(shape=[8, 32], number=2, value=1)()
    flat = ufo.DummyData(shape=[8, 32], number=2, value=3)()
    corrected = ufo.FlatFieldCorrect(absorption=True)(proj, dark, flat)
    sinos = ufo.TransposeProjections()(corrected)
    slices = ufo.Backproject()(ufo.RemoveStripes(size=5)(sinos))
    return ufo.Null()(slices).graph()


def test_chains_of_gpu_capable_maps_become_segments():
    graph = reco_graph()
    new = rewrite(graph, [0, 1])
    names = [t.name for t in new.nodes]
    assert "gpu:flat-field-correct" in names and "gpu:remove-stripes+backproject" in names
    assert "transpose-projections" in names and "backproject" not in names
    segment = next(t for t in new.nodes if t.name == "gpu:remove-stripes+backproject")
    assert segment.replicas == 4  # 2 devices x 2 streams
    flat = next(t for t in new.nodes if t.name == "gpu:flat-field-correct")
    assert len(new.inputs_of(flat)) == 3  # projections, darks and flats still feed it
    specs = new.validate()
    assert specs[id(segment)].shape == (32, 32)
    assert graph.nodes[-1].name == "null" and len(graph.nodes) == 8  # the user's graph is untouched


def test_fan_out_ends_a_chain():
    source = ufo.DummyData(shape=[8, 8], number=3)()
    cropped = ufo.Crop(width=4)(source)
    a = ufo.Null()(ufo.Bin()(cropped))
    b = ufo.Null()(ufo.Pad(width=10, height=10)(cropped))
    new = rewrite(ufo.Graph([a, b]), [0])
    assert sorted(t.name for t in new.nodes if t.name.startswith("gpu:")) == ["gpu:bin", "gpu:crop", "gpu:pad"]


def test_cpu_only_graphs_are_not_touched():
    graph = ufo.Null()(ufo.Flip()(ufo.DummyData(number=1)())).graph()
    assert prepare(graph, "all") is graph


def test_device_selection():
    assert select("cpu") == []
    with pytest.raises(UsageError, match="numbers like"):
        select("first")


@pytest.mark.skipif(select("all"), reason="this machine has a GPU")
def test_without_a_gpu_everything_runs_on_the_cpu_with_one_info_line():
    code = (
        "import numpy as np, ufo\n"
        "x = np.random.default_rng(0).random((3, 16, 16)).astype(np.float32)\n"
        "a = ufo.Crop(width=8)(x).collect(); b = ufo.Bin()(x).collect()\n"
        "c = ufo.Crop(width=8)(x).run(device='cpu').wait()\n"
        "assert np.array_equal(a, x[:, :, :8]) and b.shape == (3, 8, 8)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("running on the CPU") == 1


def test_results_are_the_same_with_device_cpu():
    x = np.random.default_rng(1).random((2, 12, 12)).astype(np.float32)
    np.testing.assert_array_equal(ufo.Crop(width=5)(x).collect(), ufo.Crop(width=5)(x).collect(device="cpu"))


def _segment(graph):
    return next(t for t in graph.nodes if t.name == "gpu:remove-stripes+backproject")


def test_streams_per_gpu_are_an_argument_and_the_variable_only_a_default(monkeypatch):
    monkeypatch.delenv("UFO_GPU_STREAMS", raising=False)
    assert _segment(rewrite(reco_graph(), [0, 1], streams=3)).replicas == 6
    monkeypatch.setenv("UFO_GPU_STREAMS", "3")
    assert _segment(rewrite(reco_graph(), [0])).replicas == 3
    assert _segment(rewrite(reco_graph(), [0], streams=1)).replicas == 1  # the run's own setting wins
    with pytest.raises(UsageError, match="gpu_streams"):
        rewrite(reco_graph(), [0], streams=0)


def test_gpu_streams_travel_from_run_to_the_gpu_backend(monkeypatch):
    import ufo.core.backends as backends
    import ufo.gpu.backend as gpu_backend
    import ufo.gpu.segment as segment

    monkeypatch.setattr(gpu_backend, "select", lambda device: [0, 1])  # two pretend GPUs: planning only
    assert _segment(backends.prepare(reco_graph(), "0,1", gpu_streams=3)).replicas == 6
    seen = []
    # the planner sees the run's setting; it leaves the graph as it is, so the CPU runs it here
    monkeypatch.setattr(segment, "rewrite", lambda graph, gpus, streams: seen.append((gpus, streams)) or graph)
    x = np.ones((2, 4, 4), np.float32)
    assert ufo.Crop(width=2)(x).collect(device="0,1", gpu_streams=3).shape == (2, 4, 2)
    assert seen == [([0, 1], 3)]


def test_a_bad_gpu_streams_is_a_usage_error_on_any_machine():
    x = np.ones((2, 4, 4), np.float32)
    for bad in (0, -1, 1.5, "2", True):
        with pytest.raises(UsageError, match="gpu_streams"):
            ufo.Crop(width=2)(x).collect(device="cpu", gpu_streams=bad)
