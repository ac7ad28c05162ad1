"""Progress as an API: real graphs, real files, a real reconstruction, experiment and GUI server."""

from __future__ import annotations

import asyncio
import math
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import tifffile

from ufo import reco
from ufo.control.experiment import Acquisition, Experiment
from ufo.core import Cancelled, TaskError
from ufo.core.bluesky import bluesky_callback
from ufo.core.memory import Feed
from ufo.core.pipeline import parse
from ufo.core.progress import JobProgress, Progress, RateEstimator
from ufo.core.registry import create

N = 60


def tiff_graph(tmp_path, count: int = N):
    """read of real TIFF files -> calculate -> write: a graph whose frame count is known."""
    (tmp_path / "in").mkdir(exist_ok=True)
    for i in range(count):
        tifffile.imwrite(tmp_path / "in" / f"f-{i:03d}.tif", np.full((16, 16), i, np.float32))
    return parse(f"read path={tmp_path}/in/*.tif ! calculate expression='x * 2' "
                 f"! write path={tmp_path}/out/o-%03i.tif")


def assert_monotone(updates: list[Progress]) -> None:
    currents = [u.current for u in updates]
    assert currents == sorted(currents), currents
    elapsed = [u.time_elapsed for u in updates]
    assert elapsed == sorted(elapsed)
    assert [u.final for u in updates].count(True) == 1 and updates[-1].final


def test_a_graph_of_real_files_reports_monotone_progress_ending_done(tmp_path):
    handle = tiff_graph(tmp_path).run()
    seen: list[Progress] = []
    watcher = handle.watch(seen.append)
    iterated = list(handle.updates(interval=0.1))
    handle.wait()
    assert not watcher.is_alive()  # wait() joined it: the final update is delivered
    for updates in (seen, iterated):
        assert_monotone(updates)
        last = updates[-1]
        assert (last.current, last.target, last.stage, last.error) == (N, N, "done", None)
        assert last.name == "write" and last.unit == "frames" and last.percent == 100.0
        assert last.nodes == {"read": N, "calculate": N, "write": N}
        assert last.time_remaining == 0.0 and last.rate == pytest.approx(N / last.time_elapsed)
    # at most one call per 0.1 s, plus the final one
    assert len(seen) <= handle.elapsed / 0.1 + 2
    assert handle.progress().as_dict()["final"] is True
    assert len(list((tmp_path / "out").iterdir())) == N


def test_the_estimator_gives_a_steady_rate_and_a_decreasing_eta():
    estimator = RateEstimator(window=1.0)
    etas = []
    for step in range(1, 60):
        t, count = step * 0.05, step * 5  # 100 frames/s
        estimator.update(t, count)
        etas.append(estimator.eta(count, 300))
    assert estimator.rate == pytest.approx(100.0)
    finite = [e for e in etas if e is not None and math.isfinite(e)]
    assert len(finite) >= 50 and finite == sorted(finite, reverse=True)
    assert finite[-1] == pytest.approx((300 - 59 * 5) / 100.0)
    assert estimator.eta(10, None) is None


def test_a_steady_stream_gets_a_finite_decreasing_eta():
    count = 40
    feed = Feed(shape=(8, 8), count=count)
    handle = create("null")(create("calculate", expression="x + 1")(feed())).run()

    def produce() -> None:
        for i in range(count):
            feed.put(np.full((8, 8), i, np.float32))
            time.sleep(0.025)
        feed.close()

    threading.Thread(target=produce, daemon=True).start()
    updates = list(handle.updates(interval=0.1))
    handle.wait()
    assert_monotone(updates)
    assert updates[-1].current == updates[-1].target == count and updates[-1].stage == "done"
    running = [u for u in updates if not u.final and u.time_remaining is not None]
    assert len(running) >= 3, updates
    etas = [u.time_remaining for u in running]
    assert all(math.isfinite(e) for e in etas)
    assert etas[-1] < etas[0]
    assert all(b <= a + 0.2 for a, b in zip(etas, etas[1:])), etas  # decreasing, up to timer jitter
    assert 5 < running[-1].rate < 60  # about 40 frames/s (less on a loaded machine)


def test_a_cancelled_run_ends_cancelled():
    handle = parse("dummy-data shape=32,32 number=100000000 ! calculate expression='x' ! null").run()
    seen: list[Progress] = []
    handle.watch(seen.append)
    while handle.progress().current < 20:
        time.sleep(0.01)
    handle.cancel()
    with pytest.raises(Cancelled):
        handle.wait()
    final = seen[-1]
    assert final.stage == "cancelled" and final.final and final.target == 100000000
    assert 20 <= final.current < final.target and final.error is None and final.time_remaining is None
    assert [u.stage for u in seen[:-1]] and all(u.stage in ("running", "cancelling") for u in seen[:-1])


def test_a_failing_task_ends_failed(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    handle = parse(f"dummy-data shape=8,8 number=5 ! write path={tmp_path}/file/o-%03i.tif").run()
    updates = list(handle.updates())
    with pytest.raises(TaskError):
        handle.wait()
    assert updates[-1].stage == "failed" and updates[-1].final
    assert "write" in updates[-1].error and updates[-1].current < 5


def test_a_callback_that_raises_is_reported_and_the_run_completes(tmp_path):
    handle = tiff_graph(tmp_path).run()
    calls: list[Progress] = []

    def broken(update: Progress) -> None:
        calls.append(update)
        raise RuntimeError("the display is gone")

    good: list[Progress] = []
    handle.watch(broken)
    handle.watch(good.append)
    handle.wait()
    assert good[-1].stage == "done" and good[-1].current == N
    assert calls[-1].final  # it was called again after raising, up to the final update
    reports = [w for w in handle.warnings if "progress callback" in w]
    assert len(reports) == 1 and "broken" in reports[0] and "RuntimeError: the display is gone" in reports[0]


def test_watch_async_iterates_without_blocking_the_loop(tmp_path):
    handle = tiff_graph(tmp_path).run()

    async def follow() -> tuple[list[Progress], int]:
        ticks = [0]

        async def tick() -> None:
            while True:
                ticks[0] += 1
                await asyncio.sleep(0.01)

        ticker = asyncio.ensure_future(tick())
        updates = [u async for u in handle.watch_async()]
        await handle
        ticker.cancel()
        return updates, ticks[0]

    updates, ticks = asyncio.run(follow())
    assert_monotone(updates)
    assert (updates[-1].current, updates[-1].stage) == (N, "done") and ticks >= 1


def test_bluesky_style_callbacks_get_start_events_and_stop(tmp_path):
    handle = tiff_graph(tmp_path).run()
    docs: list[tuple[str, dict]] = []
    handle.watch(bluesky_callback(lambda name, doc: docs.append((name, doc))))
    handle.wait()
    names = [n for n, _ in docs]
    assert names[:2] == ["start", "descriptor"] and names[-1] == "stop" and set(names[2:-1]) == {"event"}
    start, descriptor, stop = docs[0][1], docs[1][1], docs[-1][1]
    events = [d for n, d in docs if n == "event"]
    assert descriptor["run_start"] == start["uid"] and stop["run_start"] == start["uid"]
    assert all(e["descriptor"] == descriptor["uid"] for e in events)
    assert [e["seq_num"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["data"]["current"] == N and events[-1]["data"]["stage"] == "done"
    assert stop["exit_status"] == "success" and stop["num_events"] == {"primary": len(events)}
    assert start["target"] == N and descriptor["data_keys"]["current"]["units"] == "frames"


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    from ufo.tomo.phantom import Phantom

    root = tmp_path_factory.mktemp("scan")
    rows, width, angles = 6, 32, 40
    phantom = Phantom(width, height=rows)
    frames = [1000 * np.exp(-0.02 * phantom.projection(a, axis=width / 2)) for a in np.arange(angles) * np.pi / angles]
    tifffile.imwrite(root / "proj.tif", np.stack(frames).astype(np.float32), photometric="minisblack")
    tifffile.imwrite(root / "darks.tif", np.zeros((2, rows, width), np.float32), photometric="minisblack")
    tifffile.imwrite(root / "flats.tif", np.full((2, rows, width), 1000, np.float32), photometric="minisblack")
    return root


def test_a_multi_pass_reconstruction_counts_slices_across_passes(scan, tmp_path):
    options = reco.RecoOptions(projections=str(scan / "proj.tif"), darks=str(scan / "darks.tif"),
                               flats=str(scan / "flats.tif"), axis=16.0, output=str(tmp_path / "s-%03i.tif"),
                               pass_height=2)
    plan = reco.plan(options)
    assert len(plan.passes) == 3 and plan.slices == 6
    job = JobProgress("reco", unit="slices", target=plan.slices)
    seen: list[Progress] = []
    job.watch(seen.append)
    reco.run(plan, progress=job)
    job._join_watchers()
    assert_monotone(seen)
    assert (seen[-1].current, seen[-1].target, seen[-1].stage, seen[-1].unit) == (6, 6, "done", "slices")
    assert all(u.target == 6 for u in seen)
    assert {u.stage for u in seen} <= {"starting", "reconstructing", "done"}  # passes pipelined: one stage
    assert len(list(tmp_path.glob("s-*.tif"))) == 6


def test_an_experiment_reports_frames_of_expected_with_the_step_as_stage():
    seen: list[Progress] = []

    def frames(n: int, delay: float, stage: str | None = None):
        async def produce():
            for i in range(n):
                await asyncio.sleep(delay)
                for _ in range(500):  # the last frame waits (up to 5 s) for the watcher to see the stage: a
                    if stage is None or i < n - 1 or any(u.stage == stage for u in seen):  # loaded machine
                        break  # ran the 5 darks before the watcher's first look (CI, once)
                    await asyncio.sleep(0.01)
                yield np.full((4, 4), i, np.float32)
        return produce

    experiment = Experiment([Acquisition("darks", frames(5, 0.02, "darks"), expected=5),
                             Acquisition("projections", frames(20, 0.02), expected=20)])

    async def main() -> None:
        watching = asyncio.ensure_future(_collect(experiment.progress, seen))
        await asyncio.sleep(0)
        await experiment.run()
        await watching

    asyncio.run(main())
    assert_monotone(seen)
    assert (seen[-1].current, seen[-1].target, seen[-1].stage) == (25, 25, "done")
    stages = [u.stage for u in seen]
    assert "darks" in stages and "projections" in stages
    assert stages.index("darks") < stages.index("projections")
    assert max(u.current for u in seen if u.stage == "darks") <= 5


async def _collect(job: JobProgress, out: list[Progress]) -> None:
    async for update in job.watch_async():
        out.append(update)


def test_the_gui_event_stream_sends_progress_of_a_real_run(scan):
    httpx = pytest.importorskip("httpx")
    uvicorn = pytest.importorskip("uvicorn")
    from ufo.gui.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(str(scan))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    url, auth = f"http://127.0.0.1:{port}", {"Authorization": f"token {app.state.token}"}
    try:
        form = {"projections": "proj.tif", "darks": "darks.tif", "flats": "flats.tif", "axis": "16",
                "output": "gui-out/slice-%03i.tif", "overwrite": True}
        run = httpx.post(f"{url}/api/runs", json=form, headers=auth, timeout=60).json()
        assert httpx.get(f"{url}/api/runs/{run['id']}/events", timeout=10).status_code == 403  # no token
        events = []
        with httpx.stream("GET", f"{url}/api/runs/{run['id']}/events", headers=auth, timeout=60) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                if line.startswith("data: "):
                    events.append(__import__("json").loads(line[6:]))
        last = events[-1]
        assert last["state"] == "done" and last["done"] == last["total"] == 6
        assert last["progress"]["final"] and last["progress"]["stage"] == "done"
        assert last["progress"]["current"] == 6 and last["progress"]["unit"] == "slices"
        done = [e["progress"]["current"] for e in events]
        assert done == sorted(done)
    finally:
        server.should_exit = True
        thread.join(10)


def test_ufo_run_shows_the_progress_of_the_api(tmp_path):
    result = subprocess.run([sys.executable, "-m", "ufo", "run", "dummy-data shape=16,16 number=25 ! calculate "
                             "expression='x' ! write path=out/f-%03i.tif"], capture_output=True, text=True,
                            cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "25/25" in result.stderr and "done" in result.stderr
    assert len(list((tmp_path / "out").iterdir())) == 25


def test_a_tomography_knows_its_target_before_the_first_frame():
    """darks + flats + projections (+ flats after) is the experiment's target from the start."""
    import asyncio

    from ufo.control import SimulatedBeamline, Tomography

    async def scan() -> tuple[int | None, object]:
        async with SimulatedBeamline() as beamline:
            experiment = Tomography(beamline, projections=12, darks=2, flats=3, flats_after=True)
            seen: list[int | None] = []
            task = asyncio.ensure_future(experiment.run())
            while not task.done():
                seen.append(experiment.progress.progress().target)
                await asyncio.sleep(0.01)
            await task
            return next((t for t in seen if t is not None), None), experiment.progress.progress()

    first_target, final = asyncio.run(scan())
    assert first_target == 2 + 3 + 12 + 3
    assert final.current == final.target == 20 and final.stage == "done"
