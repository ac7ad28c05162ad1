"""The warm reconstruction server under faults found by a probe (2026-12-05): two servers started at
once, a record whose process id another program now has, a SIGTERM while a job runs. Real server
and client processes, real signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from tests.test_reco_server import UFO, Running, client, started_writing, wait_for
from ufo.bench.stream import render_scan


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scans")
    render_scan(str(folder / "small.nx"), 64, 16, 64)
    render_scan(str(folder / "large.nx"), 512, 256, 1536)
    return folder


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "UFO_RECO_SERVER_FILE"}


def test_two_servers_started_at_once_leave_one(tmp_path):
    """Both warmed up and both said "ready"; the record named the second, the first ran on for
    good, unreachable (holding its memory and a GPU context)."""
    env = {**clean_env(), "UFO_RECO_SERVER_FILE": str(tmp_path / "record.json")}
    log = [open(tmp_path / f"s{k}.log", "w+") for k in range(2)]
    both = [subprocess.Popen(UFO + ["--serve"], env=env, stdout=log[k], stderr=subprocess.STDOUT) for k in range(2)]
    try:
        refused = wait_for(lambda: [p for p in both if p.poll() is not None], 120, "one server to be refused")
        assert len(refused) == 1 and refused[0].returncode == 1
        text = open(log[both.index(refused[0])].name).read()
        assert "a reconstruction server is starting or runs" in text or "already runs" in text, text
        wait_for(lambda: os.path.exists(tmp_path / "record.json"), 120, "the other's record")
        assert json.loads((tmp_path / "record.json").read_text())["pid"] == next(p for p in both if p is not refused[0]).pid
    finally:
        for process in both:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                process.wait(30)
        for f in log:
            f.close()


def test_a_record_whose_pid_another_program_has_now_is_ignored(scans, tmp_path):
    """A server killed, its pid taken by another process: `--on-server` sent its job there and
    waited 10 s for nothing, and `--serve` refused and said to kill that process."""
    killed = Running(tmp_path, clean_env())
    killed.process.kill()
    killed.process.wait()
    other = subprocess.Popen(["sleep", "120"])
    try:
        record = json.loads(open(killed.record).read())
        record["pid"] = other.pid  # what a pid reused after a reboot or a long time looks like
        with open(killed.record, "w") as f:
            json.dump(record, f)
        job = client(killed, "--projections", str(scans / "small.nx"), "--output", "o.h5:/data", "--axis", "31.5",
                     "--gpus", "cpu", "-q", cwd=tmp_path)
        out, err = job.communicate(timeout=120)
        assert job.returncode == 0 and "no reconstruction server is running" in err, err  # ran here
        (tmp_path / "next").mkdir()
        again = Running(tmp_path / "next", {**killed.env, "UFO_RECO_SERVER_FILE": killed.record})
        assert again.process.poll() is None and other.poll() is None  # the other program untouched
        again.process.send_signal(signal.SIGINT)
        assert again.process.wait(30) == 130
        again.stop()
    finally:
        other.kill()
        other.wait()
        killed.stop()


def test_sigterm_to_the_server_during_a_job_stops_it_and_exits_0(scans, tmp_path):
    """A service manager's stop: 0, as when idle (it was 130 when a job was running)."""
    server = Running(tmp_path, clean_env())
    try:
        job = client(server, "--projections", str(scans / "large.nx"), "--output", "part.h5:/data", "--axis", "256",
                     "--gpus", "cpu", "--threads", "1", cwd=tmp_path)
        wait_for(lambda: started_writing(server, 1), 60, "the job to start", server)
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(60) == 0, server.text()
        out, err = job.communicate(timeout=60)
        assert job.returncode == 1 and "Traceback" not in err, err  # not the client's Ctrl-C (130)
        assert "the reconstruction server" in err and "was stopped (SIGTERM) during this job" in " ".join(err.split())
        assert "Traceback" not in server.text() and "Exception ignored" not in server.text()
    finally:
        server.stop()

