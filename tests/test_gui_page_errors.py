"""The GUI's page in a real browser where it went wrong: refused paths shown by their field
(they were swallowed: no message, the status stayed 'ready'), the 0/180 overlay vanishing at the
true axis (it vanished half a pixel off), a GPU text refused before the run."""

from __future__ import annotations

import pytest

from .test_gui import CHROMIUM, FORM, TRUE_AXIS, Server, root  # noqa: F401 - root is a fixture
from .test_gui_runs import page_of

# the overlay's mean distance from mid-grey (the difference image is 0 at mid-grey)
FLATNESS = """() => { const c = document.getElementById('axis-overlay');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let s = 0; for (let i = 0; i < d.length; i += 4) s += Math.abs(d[i] - 127.5); return s / (d.length / 4); }"""


@pytest.fixture(scope="module")
def server(root):  # noqa: F811
    server = Server(root)
    yield server
    server.stop()


def test_gpus_are_checked_by_validation(server):
    for text in ("banana", "7"):
        errors = server.post(f"{server.url}/api/validate", json={**FORM, "gpus": text}).json()["errors"]
        assert list(errors) == ["gpus"], errors
    assert server.get(f"{server.url}/api/runs").json() == {"runs": []}


@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (apt-get install chromium; .ci/run installs it)")
def test_refused_paths_and_the_axis_overlay_in_a_real_browser(server):
    with page_of(server) as page:
        for name in ("projections", "darks", "flats", "output"):
            page.fill(f"#field-{name}", FORM[name])
        page.dispatch_event("#field-output", "change")
        page.wait_for_selector("#form-status:has-text('ready')")
        for value in ("/etc/passwd", "../"):  # refused with 403: the message belongs to the field
            page.fill("#field-projections", value)
            page.dispatch_event("#field-projections", "change")
            page.wait_for_selector("#error-projections:has-text('outside the GUI')", timeout=10000)
            assert page.text_content("#form-status") == "fix the marked fields"
        page.fill("#field-projections", FORM["projections"])
        page.dispatch_event("#field-projections", "change")
        page.wait_for_selector("#form-status:has-text('ready')")

        page.click("#tab-axis")
        page.click("#axis-compute")
        page.wait_for_selector("#axis-view:not([hidden])", timeout=60000)
        flatness = {}
        for tenth in range(round(10 * TRUE_AXIS) - 15, round(10 * TRUE_AXIS) + 16):
            page.fill("#axis-slider", f"{tenth / 10:.1f}")
            page.dispatch_event("#axis-slider", "input")
            flatness[tenth / 10] = page.evaluate(FLATNESS)
        flattest = min(flatness, key=flatness.get)
        assert abs(flattest - TRUE_AXIS) <= 0.2, (flattest, TRUE_AXIS)


def test_a_folder_named_as_markup_stays_text_in_the_file_browser(server, root):  # noqa: F811
    """The browser wrote the listed folder's path into the page as HTML: a folder named
    <img src=x onerror=...> on shared storage ran its script in the GUI (which holds the token)."""
    playwright = pytest.importorskip("playwright.sync_api")
    name = "<img src=x onerror=\"document.title='PWNED'\">"
    (root / name).mkdir(exist_ok=True)
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            try:
                page = browser.new_page()
                page.goto(server.page_url)
                title = page.title()
                page.click("#browse-projections")
                page.locator("#file-browser .dir", has_text="onerror").click()
                page.wait_for_selector("#file-browser .where")
                page.wait_for_timeout(300)
                assert page.title() == title != "PWNED"
                assert page.text_content("#file-browser .where") == name
            finally:
                browser.close()
    finally:
        (root / name).rmdir()


def test_a_path_too_long_for_the_file_system_is_a_400(server):
    """Errno 36 from the file system was a 500 with a traceback in the server's log."""
    long = "a" * 5000
    response = server.get(f"{server.url}/api/files", params={"path": long})
    assert response.status_code == 400 and "File name too long" in response.json()["detail"]
    for endpoint, body in (("/api/validate", {**FORM, "projections": long}), ("/api/runs", {**FORM, "output": long}),
                           ("/api/config/save", {"path": long + ".toml", "values": {}})):
        response = server.post(f"{server.url}{endpoint}", json=body)
        assert 400 <= response.status_code < 500, (endpoint, response.status_code, response.text[:200])


def test_the_viewer_shows_the_slices_this_run_wrote(server, root):  # noqa: F811
    """The viewer read every file the sequence pattern matched: a one-slice preview among an earlier
    run's slices showed "ROWS slices" and that run's first row; a stray file made a real slice a 400."""
    import time

    import numpy as np
    import tifffile

    from .test_gui import ROWS, decode

    folder = root / "viewer"
    folder.mkdir(exist_ok=True)
    for row in range(ROWS):  # an earlier run's slices, all zeros
        tifffile.imwrite(folder / f"s-{row:03d}.tif", np.zeros((8, 8), np.float32))
    tifffile.imwrite(folder / "s-0-old.tif", np.zeros((3, 3), np.float32))  # a stray file
    form = {**FORM, "output": "viewer/s-%03i.tif", "overwrite": True, "region": "2:3"}
    run = server.post(f"{server.url}/api/runs", json=form, timeout=60).json()
    deadline = time.monotonic() + 60
    while (state := server.get(f"{server.url}/api/runs/{run['id']}").json())["state"] not in ("done", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert state["state"] == "done", state
    image = server.get(f"{server.url}/api/runs/{run['id']}/slices/0").json()
    written = tifffile.imread(folder / "s-002.tif")
    assert image["count"] == 1 and np.array_equal(decode(image), written) and np.abs(written).max() > 0
    assert server.get(f"{server.url}/api/runs/{run['id']}/slices/1").status_code == 400
