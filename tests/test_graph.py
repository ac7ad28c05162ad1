"""Graph building and validation: wrong graphs fail before any frame flows, naming the node."""

from __future__ import annotations

import numpy as np
import pytest

import ufo
from ufo.core import GraphError, Input, Kind, Spec, Task, UnknownTaskError, registry
from ufo.core.serialize import from_dict


def test_unknown_task_suggests_close_names():
    with pytest.raises(UnknownTaskError, match="Did you mean 'calculate'"):
        registry.get("calculat")


def test_shape_mismatch_between_inputs_names_the_node():
    a = ufo.DummyData(shape=[4, 4], number=2)()
    b = ufo.DummyData(shape=[4, 5], number=2)()
    with pytest.raises(GraphError, match="node 'calculate'.*different shapes"):
        ufo.Calculate(expression="x0 + x1")(a, b).run()


def test_wrong_number_of_inputs():
    with pytest.raises(GraphError, match="takes 1 input"):
        ufo.Flip()(np.zeros((2, 3, 3)), np.zeros((2, 3, 3)))
    with pytest.raises(GraphError, match="source and takes no inputs"):
        ufo.DummyData()(np.zeros((2, 3, 3)))


def test_sink_cannot_feed_a_task():
    sink = ufo.Null()(ufo.DummyData(number=1)())
    with pytest.raises(GraphError, match="sink"):
        ufo.Flip()(sink)


def test_task_used_twice_with_other_inputs():
    flip = ufo.Flip()
    flip(np.zeros((1, 2, 2)))
    with pytest.raises(GraphError, match="already connected"):
        flip(np.ones((1, 2, 2)))


def test_crop_outside_frame_fails_at_build_time():
    with pytest.raises(GraphError, match="node 'crop'.*does not fit"):
        ufo.Crop(x=10, width=10)(ufo.DummyData(shape=[8, 8])()).run()


def test_cycle_in_json_graph():
    data = {"nodes": [{"plugin": "flip", "name": "a"}, {"plugin": "flip", "name": "b"}, {"plugin": "null", "name": "n"}],
            "edges": [{"from": {"name": "a"}, "to": {"name": "b"}}, {"from": {"name": "b"}, "to": {"name": "a"}},
                      {"from": {"name": "b"}, "to": {"name": "n"}}]}
    with pytest.raises(GraphError, match="cycle"):
        from_dict(data)


def test_output_specs_propagate():
    s = ufo.Bin(size=2)(ufo.Crop(width=6, height=4)(ufo.DummyData(shape=[10, 10], number=7, dtype="uint16")()))
    specs = s.graph().validate()
    spec = specs[id(s.task)]
    assert spec == Spec((2, 3), np.float32, 7)


def test_plugin_task_defined_outside_ufo_runs():
    class Scale(Task):
        name = "scale-by-two"
        kind = Kind.MAP
        inputs = (Input("input"),)

        def process(self, frame, out):
            np.multiply(frame, 2, out=out)
            return out

    result = Scale()(np.ones((3, 2, 2), np.float32)).collect()
    assert np.all(result == 2)


def test_streams_of_core_tasks_run_too():
    """The core's own tasks (memory-in, null, memory-out) give streams that run, like every task's."""
    data = np.arange(12, dtype=np.float32).reshape(3, 2, 2)
    assert np.array_equal(ufo.MemoryIn(data=data)().collect(), data)
    out: list[np.ndarray] = []
    ufo.MemoryOut(out=out)(data).run().wait(timeout=10)
    assert len(out) == 3
    ufo.Null()(ufo.MemoryIn(data=data)()).run().wait(timeout=10)
    assert isinstance(ufo.Flip()(data), ufo.Stream)
