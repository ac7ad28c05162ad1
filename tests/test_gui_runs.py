"""GUI runs in a real browser against a live server, on a scan wide enough that the axis search
and the reading take seconds: Cancel during `--axis auto`, a second run into an output being
written, the stage a run is in, and the warnings and hints of the command line in the run log."""

from __future__ import annotations

import contextlib
import time

import numpy as np
import pytest
import tifffile

pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from tests.test_gui import CHROMIUM, Server  # noqa: E402
from ufo.tomo.phantom import Phantom  # noqa: E402

WIDTH, ROWS, ANGLES = 640, 16, 360
AXIS = WIDTH / 2 + 7.3
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (apt-get install chromium)")


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    """A 640-pixel scan (the axis scan of `--axis auto --axis-method scan` takes seconds on two cores)
    with zingers and a dead column, so the command line would hint at both corrections."""
    root = tmp_path_factory.mktemp("guiruns")
    rng = np.random.default_rng(5)
    phantom = Phantom(WIDTH, height=ROWS)
    dark = 100 + 5 * rng.random((ROWS, WIDTH))
    gain = 2000 + 200 * rng.random((ROWS, WIDTH))
    frames = np.stack([dark + gain * np.exp(-0.01 * phantom.projection(a, axis=AXIS))
                       for a in np.arange(ANGLES) * np.pi / ANGLES])
    frames += rng.normal(0, 3, frames.shape)
    hits = rng.integers(0, frames.size, 400)
    frames.flat[hits] = 60000  # zingers
    frames[:, :, 200] *= 0.7  # a column of weaker gain than its flat says: a stripe
    tifffile.imwrite(root / "proj.tif", frames.astype(np.float32), photometric="minisblack")
    tifffile.imwrite(root / "darks.tif", np.stack([dark] * 2).astype(np.float32), photometric="minisblack")
    tifffile.imwrite(root / "flats.tif", np.stack([dark + gain] * 2).astype(np.float32), photometric="minisblack")
    return root


@pytest.fixture(scope="module")
def server(wide):
    server = Server(wide)
    yield server
    server.stop()


FORM = {"projections": "proj.tif", "darks": "darks.tif", "flats": "flats.tif"}


@contextlib.contextmanager
def page_of(server):
    """The GUI's page in headless chromium, opened with the token as `ufo gui` prints it."""
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(server.page_url)
            page.wait_for_selector("#field-projections")
            yield page
        finally:
            browser.close()


def fill(page, **values) -> None:
    for name, value in values.items():
        field = page.locator(f"#field-{name}")
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
        field.dispatch_event("change")


def wait_ended(server, run_id: str, limit: float = 120) -> dict:
    deadline = time.monotonic() + limit
    while (state := server.get(f"{server.url}/api/runs/{run_id}").json())["state"] in ("starting", "running"):
        assert time.monotonic() < deadline, state
        time.sleep(0.1)
    return state


@needs_chromium
def test_cancel_during_the_axis_search_ends_the_run_at_once(server, wide):
    """Cancel while `--axis auto` searched the axis did nothing: the search inside reco.run polls no
    cancel event, so the page said "running" until it ended (and then "the slices written so far
    are complete", with none written)."""
    with page_of(server) as page:
        fill(page, **FORM, axis="auto", axis_method="scan", slice="middle", output="cancelled/s-%03i.tif")
        page.wait_for_selector("#form-status:has-text('ready')")
        page.click("#tab-run")
        page.click("#run-start")
        page.wait_for_selector("#run-stage:has-text('finding the axis')", timeout=30000)
        page.wait_for_timeout(300)
        clicked = time.monotonic()
        page.click("#run-cancel")
        page.wait_for_selector("#run-state:has-text('cancelled')", timeout=60000)
        took = time.monotonic() - clicked
        log = page.text_content("#run-log")
        assert page.is_disabled("#run-cancel")
    assert took < 1.5, f"the page said cancelled {took:.1f} s after Cancel"
    assert "cancelled before any slice was written" in log, log
    assert not (wide / "cancelled").exists() or not any((wide / "cancelled").iterdir())


@needs_chromium
def test_a_second_run_into_an_output_being_written_is_refused_at_once(server, wide):
    """Both were accepted, and the second failed after its whole reconstruction ("... exists;
    refusing to overwrite it"). Now the form marks the output and Run is refused, naming the run."""
    form = {**FORM, "axis": "auto", "axis_method": "scan", "output": "race/s-%03i.tif"}  # seconds: still going below
    with page_of(server) as page:
        fill(page, **{k: v for k, v in form.items() if k != "output"})
        page.wait_for_selector("#form-status:has-text('ready')")
        first = server.post(f"{server.url}/api/runs", json=form, timeout=60).json()
        try:
            fill(page, output=form["output"])
            page.wait_for_selector(f"#error-output:has-text('{first['id']}')", timeout=10000)
            assert page.text_content("#form-status") == "fix the marked fields"
            page.click("#tab-run")
            page.click("#run-start")
            page.wait_for_selector("#run-state:has-text('fix the form first')")
            second = server.post(f"{server.url}/api/runs", json=form, timeout=60)
            assert second.status_code == 400
            message = second.json()["detail"]
            assert first["id"] in message and "race/s-%03i.tif" in message, message
            other_name = server.post(f"{server.url}/api/runs", json={**form, "output": "race/../race/s-%03i.tif"})
            assert other_name.status_code == 400 and first["id"] in other_name.json()["detail"]
            runs = server.get(f"{server.url}/api/runs").json()["runs"]
            running = [r for r in runs if r["output"].endswith("race/s-%03i.tif")]
            assert [(r["id"], r["state"]) for r in running] == [(first["id"], "running")]
        finally:
            server.post(f"{server.url}/api/runs/{first['id']}/cancel", json={})
            wait_ended(server, first["id"])


@needs_chromium
def test_the_page_shows_the_stage_of_a_run_and_its_count(server):
    """The page showed "running 0 %" until the first slice was written (the pass reads every
    projection and back-projects first); now the stage and the graph's count within it."""
    with page_of(server) as page:
        fill(page, **FORM, axis=f"{AXIS}", output="stages/s-%03i.tif")
        page.wait_for_selector("#form-status:has-text('ready')")
        page.click("#tab-run")
        page.evaluate("""() => { window.seen = []; const watch = () => window.seen.push(
            [document.getElementById('run-stage').textContent, document.getElementById('run-percent').textContent]);
            new MutationObserver(watch).observe(document.getElementById('run-stage'),
                                                {childList: true, characterData: true, subtree: true}); }""")
        page.click("#run-start")
        page.wait_for_selector("#run-state:has-text('done')", timeout=120000)
        seen = page.evaluate("window.seen")
    counted = [(stage, percent) for stage, percent in seen if stage.startswith(("reading: ", "reconstructing: "))]
    # which stage the page's events catch depends on the machine's speed (CI saw only "reconstructing:
    # 8 / 16" at 50 %): the stage and its count are shown while the run goes, never "running" alone
    assert counted, seen
    assert all(stage.split(": ")[1].split(" / ")[1].startswith(f"{ROWS} ") for stage, _ in counted), seen


@needs_chromium
def test_the_run_log_has_the_warnings_and_hints_of_the_command_line(server):
    """The log had the plan and the result only; `ufo reco` also says the GPU is missing and hints
    at --remove-outliers and --remove-stripes (zingers and a stripe are in this scan)."""
    from ufo.core.resources import available

    with page_of(server) as page:
        fill(page, **FORM, axis=f"{AXIS}", slice="middle", output="hints/s-%03i.tif")
        page.wait_for_selector("#form-status:has-text('ready')")
        page.click("#tab-run")
        page.click("#run-start")
        page.wait_for_selector("#run-state:has-text('done')", timeout=120000)
        log = page.text_content("#run-log")
    assert "hint: outliers (zingers) detected" in log and "--remove-outliers" in log, log
    assert "hint: stripes detected" in log and "--remove-stripes" in log, log
    if not available():
        assert "warning: no GPU found" in log, log
