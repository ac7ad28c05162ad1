"""Bad values and resource limits: refused with one clear error naming the thing at fault.

NaN and infinity in float properties and options, replicas and pipeline size, malformed
JSON graphs, unknown GPUs, flats of another shape, raw files smaller than a frame, HDF5
paths that name no image dataset, session files that are not Python.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

import ufo
from ufo.core import registry
from ufo.core.errors import GraphError, PipelineSyntaxError, PropertyError, UsageError
from ufo.core.pipeline import MAX_NESTING, MAX_TASKS, parse
from ufo.core.properties import Property
from ufo.core.serialize import loads
from ufo.core.replicas import max_replicas
from ufo.core.units import to_unit

# -- NaN and infinity ---------------------------------------------------------------------


@pytest.mark.parametrize("text,prop", [
    ("dummy-data shape=8,8 number=1 ! rotate angle=nan ! null", "angle"),
    ("dummy-data shape=8,8 number=1 ! rotate angle=-inf ! null", "angle"),
    ("dummy-data shape=8,8 number=1 ! rescale factor=inf ! null", "factor"),
    ("dummy-data shape=8,8 number=1 ! rescale x-factor=1e999 ! null", "x-factor"),
    ("dummy-data shape=8,8 number=1 ! write path=out.tif bits=8 minimum=nan", "minimum"),
    ("dummy-data shape=8,8 number=1 ! write path=out.tif bits=8 maximum=inf", "maximum"),
    ("dummy-data shape=8,8 number=1 value=nan ! null", "value"),
    ("dummy-data shape=8,8 number=1 ! remove-outliers threshold=nan ! null", "threshold"),
])
def test_nan_and_infinity_are_refused_naming_the_property(text, prop):
    with pytest.raises(PipelineSyntaxError) as info:
        parse(text)
    message = str(info.value)
    assert f"property '{prop}'" in message and "finite" in message


def test_nan_is_refused_by_every_float_property_of_every_task_unless_it_says_so():
    checked = 0
    for name in registry.names():
        for prop in registry.get(name).properties().values():
            if prop.type is not float:
                continue
            for bad in ("nan", "inf", "-inf", float("nan"), float("inf"), np.float32("nan")):
                if prop.finite:
                    with pytest.raises(PropertyError, match=f"'{prop.cli_name}' must be a finite number"):
                        prop.convert(bad, name)
                else:  # allowed explicitly (fill values)
                    assert not math.isfinite(prop.convert(bad, name))
            checked += 1
    assert checked > 30


def test_python_api_and_quantities_refuse_nan_too():
    q = ufo.q if hasattr(ufo, "q") else None
    with pytest.raises(PropertyError, match="'angle' must be a finite number"):
        ufo.Rotate(angle=float("nan"))
    with pytest.raises(PropertyError, match="'angle'"):
        ufo.Rotate(angle="nan deg")
    with pytest.raises(PropertyError, match="'angle'"):
        ufo.Rotate(angle="1e999 deg")
    if q is not None:
        with pytest.raises(PropertyError, match="'angle'"):
            ufo.Rotate(angle=float("inf") * q.deg)
    rotate = ufo.Rotate(angle=0.5)
    with pytest.raises(PropertyError):
        rotate.angle = float("nan")
    assert rotate.angle == 0.5


def test_fill_values_may_be_nan_where_the_property_says_so():
    assert math.isnan(ufo.Rotate(value="nan").value)
    assert math.isnan(parse("dummy-data shape=8,8 number=1 ! pad width=10 height=10 value=nan ! null").nodes[1].value)
    frames = ufo.Rotate(angle=math.pi / 4, value=float("nan"))(np.ones((1, 16, 16), np.float32)).collect()
    assert np.isnan(frames[0, 0, 0]) and frames[0, 8, 8] == pytest.approx(1)


def test_a_range_never_accepts_nan_even_where_nan_is_allowed():
    prop = Property(float, 0.5, doc="x", range=(0, 1), finite=False)
    with pytest.raises(PropertyError):
        prop.convert(float("nan"))
    assert math.isinf(Property(float, 0.5, doc="x", finite=False).convert("inf"))


def test_units_refuse_values_that_are_not_finite():
    for text in ("nan deg", "inf ms", "1e999 m"):
        with pytest.raises(ValueError, match="not a finite number"):
            to_unit(text, {"deg": "rad", "ms": "s", "m": "mm"}[text.split()[1]])
    assert to_unit("90 deg", "rad") == pytest.approx(math.pi / 2)


@pytest.mark.parametrize("value, dtype", [(-5, "uint16"), (70000, "uint16"), (2.7, "uint8"), (1e30, "int32")])
def test_a_constant_the_integer_type_cannot_hold_is_refused_not_wrapped(value, dtype):
    """-5 became 65531, 70000 4464, 1e30 0 and 2.7 2, exit 0: wrong synthetic data passes a test."""
    with pytest.raises((PropertyError, GraphError), match=re.escape(f"value={value:g} is not a {dtype}")):
        parse(f"dummy-data shape=4,4 value={value} dtype={dtype} ! null").describe()
    assert int(ufo.Crop()(ufo.DummyData(shape=(4, 4), value=65535, dtype="uint16")).collect()[0, 0, 0]) == 65535


def test_rescale_to_an_absurd_size_is_refused_at_build_time():
    with pytest.raises(GraphError, match="rescale factor"):
        parse("dummy-data shape=512,512 number=1 ! rescale factor=1e6 ! null").describe()


# -- resource limits --------------------------------------------------------------------


def test_replicas_are_bounded_with_a_clear_message():
    limit = max_replicas()
    assert 64 <= limit <= 1024
    with pytest.raises(PipelineSyntaxError, match=f"replicas=100000 is too many; at most {limit}"):
        parse("dummy-data shape=8,8 number=1 ! rotate replicas=100000 ! null")
    with pytest.raises(PropertyError, match="too many"):
        ufo.Rotate(replicas=100_000)
    with pytest.raises(PropertyError, match="too many"):
        ufo.Rotate()(np.zeros((1, 4, 4), np.float32), replicas=10**6)
    with pytest.raises(PropertyError, match="integer >= 1"):
        ufo.Rotate(replicas=True)
    with pytest.raises(UsageError, match="too many"):
        loads(json.dumps({"nodes": [{"plugin": "dummy-data", "name": "a"},
                                    {"plugin": "rotate", "name": "r", "replicas": 5000}],
                          "edges": [{"from": "a", "to": "r"}]}))
    assert parse(f"dummy-data shape=8,8 number=1 ! rotate replicas={min(limit, 8)} ! null").nodes[1].replicas == min(limit, 8)


def test_the_replica_limit_can_be_changed_but_not_past_1024(monkeypatch):
    monkeypatch.setenv("UFO_MAX_REPLICAS", "2")
    with pytest.raises(PropertyError, match="at most 2"):
        ufo.Rotate(replicas=3)
    monkeypatch.setenv("UFO_MAX_REPLICAS", "99999")
    assert max_replicas() == 1024


def test_a_2000_stage_pipeline_is_a_clear_error_not_a_recursion_error():
    text = "dummy-data shape=4,4 number=1 ! " + " ! ".join(["calculate expression=x"] * 2000) + " ! null"
    with pytest.raises(PipelineSyntaxError, match=f"at most {MAX_TASKS} tasks"):
        parse(text)
    deep = "dummy-data shape=4,4 number=1 ! " + "[" * 200 + "null" + "]" * 200
    with pytest.raises(PipelineSyntaxError, match=f"nested more than {MAX_NESTING} deep"):
        parse(deep)
    ok = "dummy-data shape=4,4 number=2 ! " + " ! ".join(["calculate expression=x+1"] * 50) + " ! memory-out"
    graph = parse(ok.replace(" ! memory-out", " ! null"))
    assert len(graph.nodes) == 52


def test_a_2000_stage_pipeline_on_the_command_line_exits_2_without_traceback():
    from ufo.cli.main import cli

    text = "dummy-data shape=4,4 number=1 ! " + " ! ".join(["calculate expression=x"] * 2000) + " ! null"
    result = CliRunner().invoke(cli, ["run", "--dry-run", text])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output


# -- JSON graphs ------------------------------------------------------------------------

GOOD = {"nodes": [{"plugin": "dummy-data", "name": "a", "properties": {"shape": [4, 4], "number": 2}},
                  {"plugin": "null", "name": "b"}],
        "edges": [{"from": {"name": "a"}, "to": {"name": "b", "input": 0}}]}


@pytest.mark.parametrize("document", [
    "[]", "1", "null", '"nodes"', '{"nodes": 3}', '{"nodes": {}}', '{"nodes": [1]}', '{"nodes": [null]}',
    '{"nodes": [[]]}', '{"nodes": [{}]}', '{"nodes": [{"plugin": 5}]}', '{"nodes": [{"plugin": ["read"]}]}',
    '{"nodes": [{"plugin": "dummy-data", "name": {"a": 1}}]}',
    '{"nodes": [{"plugin": "dummy-data", "properties": [1, 2]}]}',
    '{"nodes": [{"plugin": "dummy-data", "properties": {"number": "many"}}]}',
    '{"nodes": [{"plugin": "dummy-data", "properties": {"value": NaN}}]}',
    '{"nodes": [{"plugin": "dummy-data", "properties": {"value": Infinity}}]}',
    '{"nodes": [{"plugin": "dummy-data", "properties": {"self": 1}}]}',
    '{"nodes": [{"plugin": "dummy-data", "properties": {"replicas": 2}}]}',
    '{"nodes": [{"plugin": "rotate", "replicas": "x"}]}',
    '{"nodes": [{"plugin": "rotate", "replicas": 2.5}]}',
    '{"nodes": [{"plugin": "rotate", "replicas": [2]}]}',
    '{"nodes": [{"plugin": "nosuch"}]}',
    '{"nodes": [{"plugin": "dummy-data"}], "edges": 5}',
    '{"nodes": [{"plugin": "dummy-data"}], "edges": [1]}',
    '{"nodes": [{"plugin": "dummy-data"}], "edges": [{"from": "dummy-data"}]}',
    '{"nodes": [{"plugin": "dummy-data"}], "edges": [{"from": 1, "to": 2}]}',
    '{"nodes": [{"plugin": "dummy-data"}], "edges": [{"from": {"x": 1}, "to": "dummy-data"}]}',
    '{"nodes": [{"plugin": "dummy-data"}, {"plugin": "null"}], "edges": [{"from": "dummy-data", "to": {"name": "null", "input": "x"}}]}',
    '{"nodes": [{"plugin": "dummy-data"}, {"plugin": "null"}], "edges": [{"from": "dummy-data", "to": {"name": "null", "input": 7}}]}',
    '{"nodes": [{"plugin": "dummy-data"}, {"plugin": "null"}], "edges": [{"from": "dummy-data", "to": {"name": "null", "input": -1}}]}',
    '{"nodes": [{"plugin": "dummy-data"}, {"plugin": "null"}], "edges": [{"from": "null", "to": "dummy-data"}]}',
    '{"nodes": [{"plugin": "dummy-data", "name": "a"}, {"plugin": "rotate", "name": "r"}, {"plugin": "rotate", "name": "s"}], '
    '"edges": [{"from": "r", "to": "s"}, {"from": "s", "to": "r"}, {"from": "a", "to": "r"}]}',
    '{"nodes": [{"plugin": "rotate", "name": "r"}, {"plugin": "rotate", "name": "s"}], '
    '"edges": [{"from": "r", "to": "s"}, {"from": "s", "to": "r"}]}',
    '{"nodes": [{"plugin": "dummy-data", "name": "a"}, {"plugin": "dummy-data", "name": "b"}, {"plugin": "calculate", '
    '"name": "c", "properties": {"expression": "x0"}}], "edges": [{"from": "a", "to": {"name": "c", "input": 0}}, '
    '{"from": "b", "to": {"name": "c", "input": 0}}]}',
    '{"nodes": [{"plugin": "dummy-data", "name": "a"}, {"plugin": "dummy-data", "name": "b"}, {"plugin": "calculate", '
    '"name": "c", "properties": {"expression": "x0"}}], "edges": [{"from": "a", "to": {"name": "c", "input": 0}}, '
    '{"from": "b", "to": {"name": "c", "input": 2}}]}',
    "[" * 100_000 + "]" * 100_000,
    "{",
    "",
])
def test_malformed_json_graphs_are_one_usage_error(document):
    with pytest.raises(UsageError) as info:
        loads(document, "g.json")
    assert str(info.value).startswith("g.json")


def test_a_json_graph_with_too_many_nodes_is_refused():
    nodes = [{"plugin": "dummy-data", "name": "a"}] + [{"plugin": "rotate", "name": f"r{i}"} for i in range(3000)]
    edges = [{"from": "a", "to": "r0"}] + [{"from": f"r{i}", "to": f"r{i + 1}"} for i in range(2999)]
    with pytest.raises(UsageError, match="at most"):
        loads(json.dumps({"nodes": nodes, "edges": edges}))


def test_a_good_json_graph_still_loads_and_runs():
    graph = loads(json.dumps(GOOD))
    assert [t.name for t in graph.nodes] == ["dummy-data", "null"]
    handle = graph.run()
    handle.wait()
    assert handle.stats["null"].frames_in == 2  # the "number" property arrived: two frames ran through


def test_a_malformed_json_graph_on_the_command_line_exits_2(tmp_path):
    from ufo.cli.main import cli

    path = tmp_path / "g.json"
    for document in ('{"nodes": [1]}', '{"nodes": [{"plugin": "dummy-data"}], "edges": [{"from": 1, "to": 2}]}'):
        path.write_text(document)
        result = CliRunner().invoke(cli, ["run", "--json", str(path), "--dry-run"])
        assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output


# -- GPUs --------------------------------------------------------------------------------


def test_gpu_selection_refuses_text_and_missing_devices():
    from ufo.gpu import available, parse_spec, select

    with pytest.raises(UsageError, match="numbers like"):
        select("foo")
    with pytest.raises(UsageError, match="numbers like"):
        select("-1")
    missing = max(7, available())
    with pytest.raises(UsageError, match=f"GPU {missing}"):
        select(str(missing))
    assert parse_spec("0, 1,1") == [0, 1]
    assert parse_spec("cpu") == "cpu" and parse_spec("ALL") == "all"


def test_gpus_7_or_foo_on_the_command_line_exit_2():
    from ufo.cli.main import cli
    from ufo.gpu import available

    missing = str(max(7, available()))
    for pipeline in ("dummy-data shape=8,8 number=1 ! crop width=4 ! null", "dummy-data shape=8,8 number=1 ! null"):
        for gpus in ("foo", missing):  # also where no task could use a GPU (the second pipeline)
            result = CliRunner().invoke(cli, ["run", "-q", pipeline, "--gpus", gpus])
            assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output


# -- flats --------------------------------------------------------------------------------


def test_flats_of_another_shape_are_a_graph_error():
    projections = np.ones((3, 8, 8), np.float32)
    darks = np.zeros((2, 8, 8), np.float32)
    with pytest.raises(GraphError, match="one shape"):
        ufo.FlatFieldCorrect()(projections, darks, np.ones((2, 8, 6), np.float32)).collect()
    from ufo.tasks.correction import _references

    with pytest.raises(GraphError, match=r"flats frame 1 has shape \(8, 6\)"):
        _references([np.ones((8, 8)), np.ones((8, 6))], "median", "flats", (8, 8))


def test_flats_paired_each_with_flats_after_the_scan_is_refused():
    frames = np.ones((3, 8, 8), np.float32)
    with pytest.raises(GraphError, match="flat-reduction=each pairs flats"):
        ufo.FlatFieldCorrect(flat_reduction="each")(frames, frames * 0, frames * 2, frames * 2).collect()


def test_each_pairs_projection_i_with_dark_i_and_flat_i_and_repeats_the_last():
    projections = np.arange(1, 5, dtype=np.float32)[:, None, None] * np.full((4, 4, 4), 10, np.float32)
    darks = np.array([1, 2], np.float32)[:, None, None] * np.ones((2, 4, 4), np.float32)
    flats = np.array([100, 50, 25], np.float32)[:, None, None] * np.ones((3, 4, 4), np.float32)
    out = ufo.FlatFieldCorrect(dark_reduction="each", flat_reduction="each")(projections, darks, flats).collect()
    d, f = [1, 2, 2, 2], [100, 50, 25, 25]
    expected = [(10 * (i + 1) - d[i]) / (f[i] - d[i]) for i in range(4)]
    np.testing.assert_allclose([o[0, 0] for o in out], expected, rtol=1e-6)


@pytest.mark.parametrize("absorption, fix", [(False, False), (True, False), (True, True)])
def test_small_frames_corrected_by_numpy_equal_the_one_pass_kernel(absorption, fix):
    """Frames under NUMBA_FROM_PIXELS skip numba (start-up); both give the same values, NaN and 0 included."""
    from ufo.kernels.flat import flat_correct as one_pass
    from ufo.tasks.correction import NUMBA_FROM_PIXELS, flat_correct

    rng = np.random.default_rng(3)
    proj = rng.integers(0, 3000, (16, 512)).astype(np.uint16)
    dark = rng.uniform(90, 110, (16, 512)).astype(np.float32)
    flat = rng.uniform(1900, 2100, (16, 512)).astype(np.float32)
    proj[0, :3], dark[0, 1], flat[0, 2] = (0, 100, 7), 100, dark[0, 2]  # negative, zero, division by zero
    assert proj.size < NUMBA_FROM_PIXELS
    small, ref = np.empty_like(dark), np.empty_like(dark)
    flat_correct(proj, dark, flat, absorption, fix, small)
    one_pass(proj, dark, flat, absorption, fix, ref)
    np.testing.assert_allclose(small, ref, rtol=1e-6, atol=1e-6)  # float32 rounding; NaN where the kernel has NaN
    assert np.isnan(small).any() == (absorption and not fix)


# -- the command line ---------------------------------------------------------------------


@pytest.mark.parametrize("pipeline,message", [
    ("dummy-data shape=8,8 number=1 ! rotate angle=nan ! null", "'angle' must be a finite number"),
    ("dummy-data shape=8,8 number=1 ! rescale factor=inf ! null", "'factor' must be a finite number"),
    ("dummy-data shape=8,8 number=1 ! rotate replicas=100000 ! null", "too many"),
])
def test_bad_values_on_the_command_line_exit_2_without_traceback(pipeline, message):
    result = subprocess.run([sys.executable, "-m", "ufo", "run", "-q", pipeline], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert message in " ".join(result.stderr.split()) and "Traceback" not in result.stderr


@pytest.mark.parametrize("option,value,prop", [
    ("--angle", "nan", "angle-step"),
    ("--offset", "inf", "angle-offset"),
    ("--output-min", "nan", "minimum"),
    ("--remove-outliers", "nan", "threshold"),
])
def test_reco_options_that_are_not_finite_exit_2_and_write_nothing(tmp_path, option, value, prop):
    import tifffile

    from ufo.cli.main import cli

    tifffile.imwrite(tmp_path / "p.tif", np.random.default_rng(0).random((8, 4, 16), np.float32) + 1)
    out = tmp_path / "slices.tif"
    extra = ["--output-bits", "8"] if option == "--output-min" else []
    result = CliRunner().invoke(cli, ["reco", "--projections", str(tmp_path / "p.tif"), "--axis", "8", "--gpus", "cpu",
                                      "-o", str(out), option, value, *extra])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    text = " ".join(result.output.split())  # refused while the option is read, or by the property it feeds
    assert f"'{prop}' must be a finite number" in text or f"'{option}': '{value}' is not a finite number" in text
    assert not out.exists() or tifffile.imread(out).size == 0


# -- frame sizes -------------------------------------------------------------------------


def test_a_frame_larger_than_memory_or_with_negative_sizes_is_refused_at_build_time():
    from ufo.core.spec import Spec, memory_bytes

    if memory_bytes():
        with pytest.raises(GraphError, match="more than this machine's"):
            parse("dummy-data shape=1000000,1000000 number=1 ! null").describe()
        with pytest.raises(GraphError, match="more than this machine's"):
            parse("dummy-data shape=8,8 number=1 ! stack number=100000000000 ! null").describe()
    with pytest.raises(GraphError, match="pad width=100000000 height=100000: 10000000000000 pixels a frame"):
        parse("dummy-data shape=8,8 number=1 ! pad width=100000000 height=100000 ! null").describe()
    with pytest.raises(GraphError, match="negative"):
        Spec((-1, 4), np.float32)
    big = Spec((2**40, 2**40, 2**40), None)  # no dtype: no size, no check; the size does not overflow int64
    assert big.with_(dtype=None).nbytes is None


def test_a_second_run_of_the_same_tasks_while_the_first_runs_is_refused():
    from ufo.core.errors import GraphError
    from ufo.core.registry import create

    source = create("dummy-data", shape=[8, 8], number=100000)()
    sink = create("null")
    graph = sink(source)
    first = graph.run()
    try:
        with pytest.raises(GraphError, match="is part of a run that has not ended"):
            graph.run()
    finally:
        first.cancel()
        try:
            first.wait()
        except Exception:  # noqa: BLE001 - cancelled
            pass
    small = create("null")(create("dummy-data", shape=[8, 8], number=3)())
    small.run().wait()
    small.run().wait()  # one after the other is fine
