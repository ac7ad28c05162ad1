"""Pipeline text and JSON graphs."""

from __future__ import annotations

import numpy as np
import pytest

from ufo.core import PipelineSyntaxError
from ufo.core.pipeline import parse, tokenize
from ufo.core.serialize import dumps, loads


def kinds(text):
    return [(t.kind, t.text) for t in tokenize(text)]


def test_tokens_quotes_lists_and_branches():
    assert kinds("calculate expression='x * 2' shape=4,4") == [
        ("word", "calculate"), ("word", "expression=x * 2"), ("word", "shape=4,4")]
    assert kinds("[a p=1,2, b] ! c") == [
        ("[", "["), ("word", "a"), ("word", "p=1,2"), (",", ","), ("word", "b"), ("]", "]"), ("!", "!"), ("word", "c")]


def test_linear_pipeline_runs_with_units():
    graph = parse("dummy-data shape=8,8 number=3 value=1 ! rotate angle=90deg ! calculate expression='x*2'")
    names = [t.name for t in graph.nodes]
    assert names == ["dummy-data", "rotate", "calculate"]
    assert graph.nodes[1].angle == pytest.approx(np.pi / 2)
    graph.run().wait()


def test_branches_feed_several_inputs_in_order():
    graph = parse("[dummy-data shape=2,2 number=2 value=5, dummy-data shape=2,2 number=2 value=3] "
                  "! calculate expression='x0 - x1'")
    calc = graph.nodes[-1]
    ups = [s.task.value for s in calc._upstreams]
    assert ups == [5.0, 3.0]


def test_fan_out_into_branches():
    graph = parse("dummy-data shape=2,2 number=4 ! [flip, transpose ! null]")
    handle = graph.run().wait()
    assert handle.stats["null"].frames_in == 4


@pytest.mark.parametrize("text,where,message", [
    ("dummy-data ! ! null", 13, "expected a task after '!'"),
    ("dummy-data ! calculat", 13, "Did you mean 'calculate'"),
    ("dummy-data number=x", 11, "must be an integer"),
    ("dummy-data ! flip sideways", 18, "expected key=value"),
    ("[dummy-data ! null", 0, "never closed"),
    ("dummy-data ! flip direction='up", 28, "unterminated"),
    ("flip", 0, "needs an input"),
    ("dummy-data ! dummy-data", 13, "is a source"),
])
def test_syntax_errors_point_at_the_place(text, where, message):
    with pytest.raises(PipelineSyntaxError) as info:
        parse(text)
    lines = str(info.value).splitlines()
    assert message in lines[0]
    assert lines[-1].index("^") - 2 == where, str(info.value)


def test_json_round_trip(tmp_path):
    graph = parse("[dummy-data shape=3,3 number=2, dummy-data shape=3,3 number=2 value=1] "
                  "! calculate expression='x0+x1' replicas=2 ! null")
    text = dumps(graph)
    again = loads(text)
    assert dumps(again) == text
    assert again.nodes[2].replicas == 2
    again.run().wait()


def test_bad_json_is_reported():
    from ufo.core import UsageError

    with pytest.raises(UsageError, match="not valid JSON"):
        loads("{nodes: [")
    with pytest.raises(UsageError, match="unknown node 'x'"):
        loads('{"nodes": [{"plugin": "null", "name": "n"}], "edges": [{"from": {"name": "x"}, "to": {"name": "n"}}]}')


@pytest.mark.parametrize("text", ["dummy-data shape=8,8 shape=9,9 ! null", "dummy-data shape=8,8 number=2 ! crop "
                                  "width=4 width=2 ! null", "read path=a.tif raw_width=4 raw-width=8 ! null"])
def test_a_property_given_twice_is_refused(text):
    """`shape=8,8 shape=9,9` silently took the last one."""
    with pytest.raises(PipelineSyntaxError, match="is given twice"):
        parse(text)
