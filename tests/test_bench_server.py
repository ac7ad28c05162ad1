"""benchmarks/server_overhead.py's measurement (ufo.bench.server_overhead) on a real warm server:
the job's own time is read from its profile and the rest is what the client and server add."""

from __future__ import annotations

from ufo.bench.server_overhead import measure


def test_the_servers_share_of_a_job_is_measured_from_real_jobs(tmp_path):
    r = measure(str(tmp_path / "work"), size=64, rows=8, angles=64, jobs=2)
    assert 0 < r["least outside"] <= r["outside"] < r["wall"]
