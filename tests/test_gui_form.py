"""The form's checks in a real browser and over HTTP: values the run's graph refuses are marked at
their field before Run (the form said "ready" and the run failed within a second), messages sit
at the field they are about, and huge numbers are printed short."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from tests.test_gui import CHROMIUM, FORM, Server, root  # noqa: E402,F401 - root is a fixture
from tests.test_gui_runs import fill, page_of  # noqa: E402

#: field, value, words of the graph's refusal (ufo reco refuses them at once too, exit 2)
REFUSED_BY_THE_GRAPH = [("angle", "1e-300", "angle-step"), ("offset", "1e300", "angle-offset"),
                        ("roi", "0,0,1e9,1e9", "GB and the disk"), ("remove_stripes", "1e9", "remove-stripes")]


@pytest.fixture(scope="module")
def server(root):  # noqa: F811
    server = Server(root)
    yield server
    server.stop()


@pytest.mark.parametrize(("name", "value", "words"), REFUSED_BY_THE_GRAPH)
def test_values_the_run_refuses_are_refused_at_their_field(server, name, value, words):
    form = {**FORM, "output": "graph/s-%03i.tif", name: value}
    errors = server.post(f"{server.url}/api/validate", json=form).json()["errors"]
    assert list(errors) == [name] and words in errors[name], errors
    started = server.post(f"{server.url}/api/runs", json=form)
    assert started.status_code == 400 and words in started.json()["detail"]
    runs = server.get(f"{server.url}/api/runs").json()["runs"]
    assert not any(r["output"].endswith("graph/s-%03i.tif") for r in runs)


def test_messages_sit_at_their_field_and_numbers_are_short(server):
    """'--number 400 asks for more projections than the 180 in '.../proj.tif'' names the
    projections' file, and was shown under *projections*; 1e308 was printed with 309 digits."""
    errors = server.post(f"{server.url}/api/validate", json={**FORM, "number": "400"}).json()["errors"]
    assert list(errors) == ["number"] and "400" in errors["number"], errors
    errors = server.post(f"{server.url}/api/validate", json={**FORM, "number": "1e308"}).json()["errors"]
    assert list(errors) == ["number"] and "1e+308" in errors["number"], errors
    assert not re.search(r"\d{16}", errors["number"]), errors


@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (apt-get install chromium)")
def test_the_page_marks_what_the_graph_refuses_before_run(server):
    with page_of(server) as page:
        fill(page, projections="proj.tif", darks="darks.tif", flats="flats.tif", output="page-graph/s-%03i.tif")
        page.wait_for_selector("#form-status:has-text('ready')")
        for name, value, words in REFUSED_BY_THE_GRAPH:
            fill(page, **{name: value})
            page.wait_for_selector(f"#error-{name}:has-text('{words}')", timeout=10000)
            assert page.text_content("#form-status") == "fix the marked fields"
            fill(page, **{name: ""})
            page.wait_for_selector("#form-status:has-text('ready')")
        fill(page, number="1e308")
        page.wait_for_selector("#error-number:has-text('1e+308')", timeout=10000)
        assert page.text_content("#error-projections") == ""
