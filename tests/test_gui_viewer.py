"""The slice viewer in a real browser: each slice's own contrast window (0.5-99.5 % percentiles,
not min/max, not the first slice's), kept only where the user set it; the detector row in the
label; an output named with a glob character read as the file the run wrote; a headerless .raw
output's slices (all refused before for want of raw-width and raw-height) and an output removed
after its run (said to be "not written yet")."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from tests.test_gui import CHROMIUM, FORM, ROWS, TRUE_AXIS, Server, assert_slice_right, decode, root  # noqa: E402,F401 - root is a fixture
from tests.test_gui_runs import fill, page_of, wait_ended  # noqa: E402


@pytest.fixture(scope="module")
def server(root):  # noqa: F811
    server = Server(root)
    yield server
    server.stop()


def window(page) -> tuple[float, float]:
    return float(page.input_value("#slice-min")), float(page.input_value("#slice-max"))


def percentiles(path) -> tuple[float, float]:
    image = tifffile.imread(path)
    return tuple(float(v) for v in np.percentile(image[np.isfinite(image)], (0.5, 99.5)))


def assert_window(page, path) -> None:
    low, high = percentiles(path)
    shown = window(page)
    assert shown == pytest.approx((low, high), rel=1e-3, abs=1e-6), (shown, (low, high), path)


def show(page, index: int, label: str) -> None:
    page.fill("#slice-index", str(index))
    page.dispatch_event("#slice-index", "input")
    page.wait_for_selector(f"#slice-label:text-is('{label}')")
    page.wait_for_timeout(200)


def run_in_page(page, output: str, region: str = "", first: str = "row 0 (1 / 8)") -> None:
    fill(page, output=output, region=region)
    page.wait_for_selector("#form-status:has-text('ready')")
    page.click("#tab-run")
    page.click("#run-start")
    page.wait_for_selector("#run-state:has-text('done')", timeout=60000)
    page.wait_for_selector("#viewer:not([hidden])")
    page.wait_for_selector(f"#slice-label:text-is('{first}')")
    page.wait_for_timeout(200)
    page.click("#tab-form")


@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (apt-get install chromium)")
def test_each_slice_opens_with_its_own_percentile_window(server, root):  # noqa: F811
    """The viewer kept slice 0's window for every later slice and run, and Auto contrast took min
    and max, which a zinger or an edge streak sets (the sample then a flat grey)."""
    with page_of(server) as page:
        fill(page, projections="proj.tif", darks="darks.tif", flats="flats.tif", axis="51.4")
        run_in_page(page, "contrast1/s-%03i.tif")
        page.click("#tab-run")
        first = root / "contrast1"
        assert_window(page, first / "s-000.tif")
        show(page, 4, "row 4 (5 / 8)")  # the detector row, then the place among the run's slices
        assert_window(page, first / "s-004.tif")
        assert window(page) != pytest.approx(percentiles(first / "s-000.tif"), rel=1e-3)
        page.fill("#slice-min", "-0.5")  # set by hand: kept for the next slices
        page.fill("#slice-max", "0.5")
        page.dispatch_event("#slice-max", "change")
        show(page, 5, "row 5 (6 / 8)")
        assert window(page) == (-0.5, 0.5)
        page.click("#slice-auto")
        assert_window(page, first / "s-005.tif")
        page.fill("#slice-min", "-0.5")
        page.dispatch_event("#slice-min", "change")
        page.click("#tab-form")
        run_in_page(page, "contrast2/s-%03i.tif", "3:8", "row 3 (1 / 5)")  # a new run: its own window again
        page.click("#tab-run")
        assert_window(page, root / "contrast2" / "s-003.tif")


def test_an_output_named_with_a_glob_character_is_read_as_its_file(server, root):  # noqa: F811
    """`globby/*.tif` is written as one file of that name; the viewer read it as a pattern and
    showed every TIFF of the folder as one stack."""
    folder = root / "globby"
    folder.mkdir()
    tifffile.imwrite(folder / "other.tif", np.ones((3, 96, 96), np.float32), photometric="minisblack")
    form = {**FORM, "axis": "51.4", "region": "2:4", "output": "globby/*.tif"}
    assert server.post(f"{server.url}/api/validate", json=form).json()["errors"] == {}
    run = server.post(f"{server.url}/api/runs", json=form, timeout=60).json()
    assert wait_ended(server, run["id"])["state"] == "done"
    with open(folder / "*.tif", "rb") as f:  # a file object: tifffile takes a name with '*' as a pattern too
        written = tifffile.imread(f)
    assert written.shape[0] == 2
    for index in range(2):
        image = server.get(f"{server.url}/api/runs/{run['id']}/slices/{index}").json()
        assert image["count"] == 2 and image["row"] == 2 + index
        np.testing.assert_array_equal(decode(image), written[index])
    assert server.get(f"{server.url}/api/runs/{run['id']}/slices/2").status_code == 400


def run_to_end(server, form):
    run = server.post(f"{server.url}/api/runs", json=form, timeout=60).json()
    state = wait_ended(server, run["id"])
    assert state["state"] == "done", state
    return run


@pytest.mark.parametrize("bits", [None, 16])
def test_the_slices_of_a_raw_output_are_shown(server, root, bits):  # noqa: F811
    form = {**FORM, "axis": f"{TRUE_AXIS:.2f}", "output": f"raw{bits}/v.raw", "overwrite": True}
    if bits:
        form.update(output_bits=bits, output_min=-0.01, output_max=0.05)
    run = run_to_end(server, form)
    image = server.get(f"{server.url}/api/runs/{run['id']}/slices/4").json()
    assert image["count"] == ROWS, image
    if bits is None:
        assert_slice_right(decode(image), root, 4, float(f"{TRUE_AXIS:.2f}"))
    else:
        assert image["shape"] == [96, 96] and image["high"] > image["low"]


def test_an_output_removed_after_its_run_is_said_to_be_gone(server, root):  # noqa: F811
    run = run_to_end(server, {**FORM, "axis": f"{TRUE_AXIS:.2f}", "output": "gone.h5:/s", "overwrite": True})
    (root / "gone.h5").unlink()
    answer = server.get(f"{server.url}/api/runs/{run['id']}/slices/0")
    assert answer.status_code == 400 and "removed since" in answer.json()["detail"], answer.text


@pytest.mark.parametrize("output", ["b16.h5:/s", "b16.tif", "b16/s-%03i.tif"])
def test_the_slices_of_an_integer_output_show_the_values_they_stand_for(server, root, output):  # noqa: F811
    """The viewer showed a 16-bit run's stored integers (14680..63470 for -0.001..0.029): its
    contrast fields, histogram and values were in them."""
    common = {**FORM, "axis": f"{TRUE_AXIS:.2f}", "overwrite": True}
    floats = run_to_end(server, {**common, "output": "f32-" + output.replace("/", "-")})
    ints = run_to_end(server, {**common, "output": output, "output_bits": 16, "output_min": -0.01, "output_max": 0.05})
    want = decode(server.get(f"{server.url}/api/runs/{floats['id']}/slices/4").json())
    shown = decode(server.get(f"{server.url}/api/runs/{ints['id']}/slices/4").json())
    np.testing.assert_allclose(shown, want, atol=0.06 / 65535 + 1e-7)


def test_a_runs_output_written_again_by_a_later_run_is_not_shown_as_its_own(server, root):  # noqa: F811
    """Run B overwrote run A's output; A's slice 0 showed B's slice under A's label."""
    first = run_to_end(server, {**FORM, "axis": f"{TRUE_AXIS:.2f}", "output": "again.h5:/s", "overwrite": True})
    run_to_end(server, {**FORM, "axis": f"{TRUE_AXIS + 2:.2f}", "output": "again.h5:/s", "overwrite": True})
    answer = server.get(f"{server.url}/api/runs/{first['id']}/slices/0")
    assert answer.status_code == 400 and "was written again since this run ended" in answer.json()["detail"], answer.text
