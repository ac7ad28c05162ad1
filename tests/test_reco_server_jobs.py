"""What a job on the warm reconstruction server takes from its client, as the command run there
would (a probe, 2026-12-06): the umask, the group's --debug, its own warnings. Real server and
client processes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from tests.test_reco_server import client, server  # noqa: F401 - server is a fixture
from ufo.bench.stream import render_scan
from ufo.gpu import available


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scans")
    render_scan(str(folder / "small.nx"), 64, 8, 64)
    return folder


def test_a_job_makes_its_files_with_the_clients_umask(server, scans, tmp_path):  # noqa: F811
    """The server's umask made them: slices of a client with umask 077 were world-readable."""
    args = ["--projections", str(scans / "small.nx"), "--axis", "31.5", "--gpus", "cpu", "-q"]
    job = client(server, *args, "--output", "new/s-%03i.tif", cwd=tmp_path, preexec_fn=lambda: os.umask(0o077))
    assert job.wait(timeout=120) == 0, job.stderr.read()
    assert stat.S_IMODE(os.stat(tmp_path / "new").st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "new").iterdir()} == {0o600}


@pytest.mark.skipif(available(), reason="a GPU: no CPU fallback to say")
def test_every_job_says_its_own_warnings_and_the_groups_debug_goes_with_it(server, scans, tmp_path):  # noqa: F811
    """The warm-up's "no GPU found" was the only one ever said (a GPU server fallen back to the CPU
    told no job); `ufo --debug reco --on-server` lost --debug and said to use it."""
    args = ["--projections", str(scans / "small.nx"), "--axis", "31.5", "-q"]
    for name in ("a", "b"):
        job = client(server, *args, "--output", f"{name}.h5:/d", cwd=tmp_path)
        _, err = job.communicate(timeout=120)
        assert job.returncode == 0 and err.count("warning: ufo: no GPU found") == 1, err
    (tmp_path / "garbage.h5").write_bytes(b"not an HDF5 file at all" * 10)
    job = subprocess.run([sys.executable, "-m", "ufo", "--debug", "reco", "--on-server", "--projections", "garbage.h5",
                          "--axis", "3", "--output", "g.h5:/d"], env=server.env, cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert job.returncode != 0 and "Traceback" in job.stderr and "run with --debug" not in job.stderr, job.stderr


def test_a_job_s_profile_timeline_counts_from_its_client_s_start(tmp_path):
    """`ufo reco --on-server --profile` printed the timeline from the server's start (hours into a day's
    work); the client sends its age, the job's timeline counts from there."""
    from ufo.cli.reco_client import job_request
    from ufo.cli.reco_jobs import job_context
    from ufo.tomo.timing import COMMAND_STARTED, StageTimes

    request = {**job_request(["--help"], "t"), "cwd": str(tmp_path), "age": 2.5}
    with job_context(request, lambda *parts: None):
        times = StageTimes()
        times.mark("reconstruction started")
        (event, at), = times.timeline()
        assert event == "reconstruction started" and 2.5 <= at < 3.5, at  # the server's age: anything
    assert COMMAND_STARTED.get() is None  # the next job, or the server's own, counts from its own start
    assert isinstance(job_request(["x"], "t")["age"], (float, type(None)))


def test_a_silent_client_is_gone_only_where_its_process_is():
    """A stopped client (Ctrl-Z) keeps its job; a pid that names another process now (reused) is gone."""
    import os
    import signal
    import subprocess
    import time

    from ufo.cli.reco_client import process_start
    from ufo.cli.reco_jobs import Job, client_gone

    silent = time.monotonic() - 60
    stopped = subprocess.Popen(["sleep", "60"])
    try:
        stopped.send_signal(signal.SIGSTOP)
        alive = Job(b"a", {"pid": stopped.pid, "started": process_start(stopped.pid)}, 1, pinged=silent)
        assert not client_gone(alive)
        reused = Job(b"b", {"pid": os.getpid(), "started": (process_start(os.getpid()) or 0) + 1}, 2, pinged=silent)
        assert client_gone(reused)  # the pid is there, but another process has it
        assert not client_gone(Job(b"c", {"pid": 1, "started": 0}, 3))  # pinged just now
    finally:
        stopped.kill()
        stopped.wait()
    assert client_gone(alive)  # killed and reaped
