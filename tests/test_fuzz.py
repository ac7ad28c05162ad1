"""Property-based fuzzing: whatever text, values or JSON a user gives, the outcome is success or one UfoError.

The pipeline parser (and the shape inference after it), every task property and the JSON
graph loader are fed generated input; so is `ufo run` (exit 0, 1 or 2, never a traceback).
Tasks that talk to cameras or sockets or load Python code are left out of the generated
pipelines; everything runs in a temporary directory and nothing runs frames.
"""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ufo.core import registry
from ufo.core.errors import UfoError
from ufo.core.pipeline import parse
from ufo.core.serialize import from_dict, loads

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                             HealthCheck.too_slow])
SKIP = {"camera", "zmq-receive", "zmq-send", "jit", "memory-in", "memory-out", "feed"}
TASKS = [name for name in registry.names() if name not in SKIP]
PROPS = {name: [p.cli_name for p in registry.get(name).properties().values()] for name in TASKS}

NASTY = ["nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e999", "-1e999", "1e-400", "0", "-0", "-1", "1", "2",
         "3.5", "0x10", "0b1", "1_000", "100000", "99999999999999999999", "9" * 5000, "true", "false", "", " ",
         "4,4", "8,8", "1,2,3", ",", ",,", "a,b", "90deg", "10ms", "1e6", "2mm", "nan deg", "inf rad", "µs", "'",
         '"', "'a b'", "\\", "x", "x*2", "x0 + x1", "%s%n", "\x00", "é", "☃", "../..", "/", "data.h5:/g", "a.raw",
         "out.tif", "frame-%05i.tif", "mean", "median", "ramp", "linear", "constant"]

value = st.one_of(st.sampled_from(NASTY), st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8),
                  st.floats(allow_nan=True, allow_infinity=True).map(repr), st.integers().map(str))


@st.composite
def stage(draw):
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from(["[", "]", ",", "!", "x=1", "nosuch", "=", "replicas=2", "'", "[!]"]))
    name = draw(st.sampled_from(TASKS))
    keys = PROPS[name] + ["replicas", "bogus"]
    props = draw(st.lists(st.tuples(st.sampled_from(keys), value), max_size=3))
    return " ".join([name] + [f"{k}={v}" if " " not in v else f"{k}='{v}'" for k, v in props])


@st.composite
def pipeline_text(draw):
    stages = draw(st.lists(stage(), min_size=1, max_size=5))
    joins = draw(st.lists(st.sampled_from([" ! ", " ! ", " , ", " ", " ! [", "] ! ", " !! "]),
                          min_size=len(stages) - 1, max_size=len(stages) - 1))
    text = stages[0]
    for join, part in zip(joins, stages[1:]):
        text += join + part
    shape = draw(st.integers(0, 19))
    if shape == 0:  # very long: the parser must refuse it, not recurse to death
        return "dummy-data shape=4,4 number=1 ! " + " ! ".join([draw(st.sampled_from(["rotate", "flip", "bin size=1"]))]
                                                                * draw(st.integers(300, 2500))) + " ! null"
    if shape == 1:  # deeply nested
        depth = draw(st.integers(20, 600))
        return "dummy-data shape=4,4 number=1 ! " + "[" * depth + text + "]" * depth
    return text


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _outcome(call):
    try:
        call()
    except UfoError:
        return "error"
    return "ok"


@SETTINGS
@given(text=pipeline_text())
def test_pipeline_text_parses_or_raises_one_ufo_error(in_tmp, text):
    _outcome(lambda: parse(text).describe())


@SETTINGS
@given(text=st.lists(st.sampled_from(list("![],='\" \\abcdeflmnoprstuwxy0123456789.-+")
                                     + ["nan", "inf", "dummy-data ", "null", "rotate ", " ! "]), max_size=40).map("".join))
def test_arbitrary_text_parses_or_raises_one_ufo_error(in_tmp, text):
    _outcome(lambda: parse(text).describe())


python_values = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(NASTY),
    st.text(max_size=10), st.lists(st.one_of(st.integers(-5, 5), st.floats(), st.text(max_size=3)), max_size=4),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2), st.just(object()))


@SETTINGS
@given(task=st.sampled_from(TASKS), data=st.data())
def test_task_properties_take_any_value_or_raise_one_ufo_error(task, data):
    cls = registry.get(task)
    props = list(cls.properties().values())
    if not props:
        return
    prop = data.draw(st.sampled_from(props))
    raw = data.draw(python_values)
    instance = cls()
    try:
        setattr(instance, prop.name, raw)
    except UfoError:
        return
    stored = getattr(instance, prop.name)
    if prop.type is float and getattr(prop, "finite", True) and stored is not None:  # a float property never holds NaN or infinity
        for item in stored if prop.array else [stored]:
            assert math.isfinite(item), (task, prop.cli_name, raw, stored)
    if prop.range is not None and stored is not None:
        lo, hi = prop.range
        for item in stored if prop.array else [stored]:
            assert (lo is None or item >= lo) and (hi is None or item <= hi)


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-3, 10**6), st.floats(allow_nan=True, allow_infinity=True),
                      st.sampled_from(TASKS + ["a", "b", "input", "from", "to", "name", "nosuch"] + NASTY[:20]))
json_value = st.recursive(json_leaf, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                             st.dictionaries(st.sampled_from(
                                                                 ["nodes", "edges", "plugin", "name", "properties",
                                                                  "replicas", "from", "to", "input", "shape", "value",
                                                                  "number", "x"]), inner, max_size=4)), max_leaves=12)


@st.composite
def json_graph(draw):
    """Mostly well-formed graphs with a few things wrong: the loader's interesting cases."""
    names = draw(st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=4))
    nodes = []
    for name in names:
        task = draw(st.sampled_from(TASKS))
        node = {"plugin": task, "name": name}
        if draw(st.booleans()):
            keys = PROPS[task] + ["bogus", "replicas"]
            node["properties"] = draw(st.dictionaries(st.sampled_from(keys), json_leaf, max_size=3))
        if draw(st.integers(0, 4)) == 0:
            node["replicas"] = draw(json_leaf)
        if draw(st.integers(0, 6)) == 0:
            node[draw(st.sampled_from(["plugin", "name", "properties"]))] = draw(json_value)
        nodes.append(node)
    edges = draw(st.lists(st.fixed_dictionaries({
        "from": st.one_of(st.sampled_from(names + ["zz"]), st.fixed_dictionaries({"name": st.sampled_from(names)}), json_leaf),
        "to": st.one_of(st.sampled_from(names), st.fixed_dictionaries({"name": st.sampled_from(names),
                                                                       "input": st.one_of(st.integers(-1, 4), json_leaf)}))}),
        max_size=5))
    return {"nodes": nodes, "edges": edges}


@SETTINGS
@given(document=st.one_of(json_graph(), json_value))
def test_json_graphs_load_or_raise_one_ufo_error(in_tmp, document):
    def load():
        from_dict(document, "fuzz.json").describe()
        loads(json.dumps(document), "fuzz.json").describe()
    _outcome(load)


@SETTINGS
@given(text=st.text(max_size=40))
def test_json_text_loads_or_raises_one_ufo_error(text):
    _outcome(lambda: loads(text, "fuzz.json"))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=pipeline_text())
def test_ufo_run_exits_0_1_or_2_and_never_shows_a_traceback(in_tmp, text):
    from ufo.cli.main import cli

    result = CliRunner().invoke(cli, ["run", "--dry-run", text])
    assert result.exit_code in (0, 1, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
