"""`ufo reco --serve` and `ufo reco --on-server`: real server and client processes on 127.0.0.1,
stopped with real signals. A job must write what the command writes in a process of its own,
Ctrl-C and a killed client must stop the job (the output closed, readable) and leave the server
taking jobs, and a killed server must be reported by its client."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
import zmq

from ufo.bench.stream import render_scan

UFO = [sys.executable, "-m", "ufo", "reco"]


def wait_for(check, seconds: float, what: str, log=None):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}" + (f"; the server's log:\n{log.text()}" if log else ""))


class Running:
    def __init__(self, folder, env):
        self.record = str(folder / "record.json")
        self.env = {**env, "UFO_RECO_SERVER_FILE": self.record}
        self.log = open(folder / "server.log", "w+")
        self.process = subprocess.Popen(UFO + ["--serve"], env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: os.path.exists(self.record) or self.process.poll() is not None, 120, "the server's record")
        assert self.process.poll() is None, self.text()

    def text(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.log.close()


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scans")
    render_scan(str(folder / "small.nx"), 64, 16, 64)
    render_scan(str(folder / "large.nx"), 512, 256, 1536)  # 12-40 s on one thread: stopped long before its end
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = {k: v for k, v in os.environ.items() if k != "UFO_RECO_SERVER_FILE"}
    running = Running(tmp_path_factory.mktemp("server"), env)
    yield running
    running.stop()


def client(server, *args, cwd, **kw):
    return subprocess.Popen(UFO + ["--on-server", *args], env=server.env, cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def test_a_job_writes_what_the_command_writes_in_its_own_process(server, scans, tmp_path):
    args = ["--projections", os.path.relpath(scans / "small.nx", tmp_path), "--output", "slices.h5:/data",
            "--axis", "31.5", "--gpus", "cpu"]
    job = client(server, *args, cwd=tmp_path)
    out, err = job.communicate(timeout=120)
    assert job.returncode == 0, err
    assert "slices/s" in out and "passes:" in err  # the table on stdout, the plan on stderr: as the command's
    local = subprocess.run(UFO + [*args[:3], "local.h5:/data", *args[4:], "-q"], cwd=tmp_path, env=server.env,
                           capture_output=True, text=True, timeout=120)
    assert local.returncode == 0, local.stderr
    with h5py.File(tmp_path / "slices.h5") as a, h5py.File(tmp_path / "local.h5") as b:
        assert a["data"].shape == (16, 64, 64)
        np.testing.assert_array_equal(a["data"][...], b["data"][...])
    assert "exit 0" in server.text()


def test_usage_and_input_errors_come_back_with_the_commands_exit_status(server, scans, tmp_path):
    job = client(server, "--projections", str(scans / "small.nx"), "--axis", "left", cwd=tmp_path)
    out, err = job.communicate(timeout=60)
    assert job.returncode == 2 and "--axis" in err and "Traceback" not in err
    job = client(server, "--projections", "missing.nx", "--axis", "3", cwd=tmp_path)
    out, err = job.communicate(timeout=60)
    assert job.returncode == 2 and "missing.nx" in err and "does not exist" in err  # a path to fix: usage


def started_writing(server, number: int) -> bool:
    return f"job {number} (" in server.text()


def jobs_of(server) -> int:
    return len(re.findall(r"job \d+ \(client pid ", server.text()))


@pytest.mark.parametrize("sig, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_at_the_client_stops_the_job_and_closes_its_output(server, scans, tmp_path, sig, status):
    """SIGTERM (a batch system's stop) killed the client at once while its job ran on to the end
    (4 of 5 probes wrote the whole output after the client had been terminated); now as Ctrl-C."""
    number = jobs_of(server) + 1
    job = client(server, "--projections", str(scans / "large.nx"), "--output", "part.h5:/data", "--axis", "256",
                 "--gpus", "cpu", "--threads", "1", cwd=tmp_path)
    wait_for(lambda: started_writing(server, number), 60, "the job to start")
    time.sleep(1.5)
    job.send_signal(sig)
    out, err = job.communicate(timeout=60)
    assert job.returncode == status, err
    assert "interrupted" in err and "Traceback" not in err
    wait_for(lambda: f"job {number}: exit 130" in server.text(), 30, "the server to end the job")
    _assert_partial(tmp_path / "part.h5")
    (tmp_path / "next").mkdir()
    test_a_job_writes_what_the_command_writes_in_its_own_process(server, scans, tmp_path / "next")


def test_a_killed_client_stops_its_job(server, scans, tmp_path):
    number = jobs_of(server) + 1
    job = client(server, "--projections", str(scans / "large.nx"), "--output", "part.h5:/data", "--axis", "256",
                 "--gpus", "cpu", "--threads", "1", cwd=tmp_path)
    wait_for(lambda: started_writing(server, number), 60, "the job to start")
    job.kill()
    job.wait()
    wait_for(lambda: f"job {number}: exit 130" in server.text(), 30, "the server to stop the job", server)
    assert "has gone" in server.text()
    _assert_partial(tmp_path / "part.h5")


def _assert_partial(path):
    """Closed by the server: readable, without the missing slices; or, stopped before its first
    slice, removed (an empty file is no result)."""
    if path.exists():
        with h5py.File(path) as f:
            assert "data" in f and 0 < f["data"].shape[0] < 256


def _long_job(server, scans, tmp_path):
    """(its number, a long job started, the options of a small one): jobs wait behind it."""
    number = max([0, *map(int, re.findall(r"job (\d+)\b", server.text()))]) + 1  # queued ones count too
    long = client(server, "--projections", str(scans / "large.nx"), "--output", "long.h5:/data", "--axis", "256",
                  "--gpus", "cpu", "--threads", "1", cwd=tmp_path)
    wait_for(lambda: started_writing(server, number), 60, "the job to start")
    return number, long, ["--projections", str(scans / "small.nx"), "--axis", "31.5", "--gpus", "cpu", "-q"]


def test_jobs_wait_in_order_and_a_waiting_job_can_be_cancelled(server, scans, tmp_path):
    number, long, small = _long_job(server, scans, tmp_path)
    second = client(server, *small, "--output", "second.h5:/data", cwd=tmp_path)
    wait_for(lambda: f"job {number + 1} waits behind 1" in server.text(), 60, "the second job to wait", server)
    third = client(server, *small, "--output", "third.h5:/data", cwd=tmp_path)
    wait_for(lambda: f"job {number + 2} waits behind 2" in server.text(), 60, "the third job to wait", server)
    third.send_signal(signal.SIGINT)  # Ctrl-C while it waits: it never runs
    out, err = third.communicate(timeout=30)
    assert third.returncode == 130 and "waiting for 2 reconstruction(s)" in err
    assert "interrupted before the job started: nothing was written" in err  # it said nothing more
    assert second.poll() is None  # still waiting behind the long job
    long.send_signal(signal.SIGINT)
    assert long.wait(60) == 130
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    assert "waiting for 1 reconstruction(s)" in err
    assert (tmp_path / "second.h5").exists() and not (tmp_path / "third.h5").exists()


def test_a_job_with_a_wrong_token_is_refused(server):
    state = json.load(open(server.record))
    context = zmq.Context()
    socket = context.socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(state["address"])
    assert state["address"].startswith("tcp://127.0.0.1:")
    socket.send_multipart([b"job", json.dumps({"token": "guess", "argv": ["--help"], "cwd": "/"}).encode()])
    replies = []
    while not replies or replies[-1][0] != b"exit":
        assert socket.poll(10000), "no answer"
        replies.append(socket.recv_multipart())
    socket.close()
    context.term()
    assert replies[-1] == [b"exit", b"1"] and b"wrong token" in replies[0][1]
    assert oct(os.stat(server.record).st_mode & 0o777) == "0o600"


def test_a_second_server_is_refused(server):
    second = subprocess.run(UFO + ["--serve"], env=server.env, capture_output=True, text=True, timeout=60)
    assert second.returncode == 1 and "already runs" in second.stderr


def test_a_killed_server_is_reported_and_ctrl_c_stops_a_server(scans, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "UFO_RECO_SERVER_FILE"}
    (tmp_path / "a").mkdir()
    doomed = Running(tmp_path / "a", env)
    try:
        job = client(doomed, "--projections", str(scans / "large.nx"), "--output", "part.h5:/data", "--axis", "256",
                     "--gpus", "cpu", "--threads", "1", cwd=tmp_path)
        wait_for(lambda: started_writing(doomed, 1), 60, "the job to start")
        doomed.process.kill()
        out, err = job.communicate(timeout=30)
        assert job.returncode == 1 and "ended during the job" in err
    finally:
        doomed.stop()
    (tmp_path / "b").mkdir()
    stopped = Running(tmp_path / "b", env)
    stopped.process.send_signal(signal.SIGINT)
    assert stopped.process.wait(30) == 130
    assert not os.path.exists(stopped.record)
    stopped.stop()


def test_without_a_server_the_command_runs_here_after_a_warning(scans, tmp_path):
    env = {**os.environ, "UFO_RECO_SERVER_FILE": str(tmp_path / "none.json")}
    done = subprocess.run(UFO + ["--on-server", "--projections", str(scans / "small.nx"), "--output",
                                 "s.h5:/data", "--axis", "31.5", "--gpus", "cpu", "-q"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "no reconstruction server is running" in done.stderr
    with h5py.File(tmp_path / "s.h5") as f:
        assert f["data"].shape == (16, 64, 64)


def _resident_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads the server's memory from /proc")
def test_the_server_gives_a_job_s_host_memory_back(server, tmp_path):
    """The server's resident memory grew about 1 GB a job (freed arrays kept by the allocator): 3.2 GB
    after three jobs of 128 slices of 1024^2, a risk over a beam time."""
    render_scan(str(tmp_path / "scan.nx"), 1024, 128, 300)
    args = ["--projections", str(tmp_path / "scan.nx"), "--axis", "512", "--gpus", "cpu", "--output", "o.h5:/data",
            "--overwrite", "-q"]
    pid = server.process.pid
    for _ in range(3):
        job = client(server, *args, cwd=tmp_path)
        _, err = job.communicate(timeout=300)
        assert job.returncode == 0, err
        wait_for(lambda: _resident_bytes(pid) < 900e6, 10, "the server's memory given back", server)


def test_serve_with_a_reconstructions_options_is_refused():
    """`ufo reco --serve --projections ... --dry-run` started a server and waited, the options ignored."""
    done = subprocess.run(UFO + ["--serve", "--projections", "scan.nx", "--dry-run"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2, done.stderr
    assert "--serve starts the reconstruction server and takes no --projections, --dry-run" in done.stderr


def test_a_client_killed_just_before_its_turn_never_gets_its_job_started(server, scans, tmp_path):
    """Killed within the 3-s ping window before its turn, its job started anyway and was stopped
    1.5 s later, the next client waiting for nothing."""
    number, long, small = _long_job(server, scans, tmp_path)
    killed = client(server, *small, "--output", "killed.h5:/data", cwd=tmp_path)
    wait_for(lambda: f"job {number + 1} waits behind 1" in server.text(), 60, "the job to wait", server)
    killed.kill()
    killed.wait()
    long.send_signal(signal.SIGINT)  # its turn comes at once
    assert long.wait(60) == 130
    wait_for(lambda: f"job {number + 1}: its client" in server.text(), 30, "the server to see it gone", server)
    assert f"job {number + 1} (client pid" not in server.text() and not (tmp_path / "killed.h5").exists()
