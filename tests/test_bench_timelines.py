"""ufo.bench.timelines: the A/B tables of benchmarks/reco_server_ab_gpu.sh from its log."""

from __future__ import annotations

import math

from ufo.bench import timelines

LOG = """\
Fri Dec  4 11:20:00 UTC 2026
=== 1 evict: OLD
where the time went (1.66 s wall, GPU-resident path; stages overlap)
timeline (seconds since the command started): reconstruction started 10.00 · GPU ready 10.00 · first frame read (pass 1 of 4) 10.03 · last frame read (pass 1 of 4) 10.41 · first slices to the writer 10.49 · last frame read (pass 4 of 4) 11.26 · slices written 11.66 · reconstruction ended 11.66
wall 1.90 s (exit 0)
=== 1 evict: 
timeline (seconds since the command started): reconstruction started 20.00 · last frame read (pass 1 of 5) 20.30 · first slices to the writer 20.38 · last frame read (pass 2 of 5) 20.60 · last frame read (pass 5 of 5) 21.47 · slices written 21.72 · reconstruction ended 21.72
wall 1.91 s (exit 0)
=== 2 evict: OLD
Error: the scan is gone
wall 0.30 s (exit 1)
=== 2 evict: OLD
timeline (seconds since the command started): reconstruction started 30.00 · last frame read 30.90 · slices written 31.20
wall 1.50 s (exit 0)
=== 3 evict: OLD
timeline (seconds since the command started): reconstruction started 40.00 · last frame read (pass 1 of 4) 40.50 · first slices to the writer 40.60 · last frame read (pass 4 of 4) 41.50 · slices written 41.90
wall 2.20 s (exit 0)
"""


def test_runs_take_each_timeline_relative_to_its_start_and_skip_failed_runs():
    table = timelines.runs(LOG.splitlines())
    assert list(table) == ["OLD", "(default)"]
    old, new = table["OLD"], table["(default)"]
    assert [r.wall for r in old] == [1.90, 1.50, 2.20]  # the failed run (no timeline) left out
    assert math.isclose(old[0].first_pass, 0.41, abs_tol=1e-9) and math.isclose(old[0].last_read, 1.26, abs_tol=1e-9)
    assert math.isclose(old[0].to_writer, 0.49, abs_tol=1e-9) and math.isclose(old[0].written, 1.66, abs_tol=1e-9)
    assert math.isclose(new[0].last_read, 1.47, abs_tol=1e-9)  # the latest pass's, not the first's
    assert math.isclose(new[0].first_pass, 0.30, abs_tol=1e-9)
    one = old[1]  # one pass: its only read is first and last
    assert math.isclose(one.first_pass, 0.90, abs_tol=1e-9) and math.isclose(one.last_read, 0.90, abs_tol=1e-9)
    assert math.isnan(one.to_writer)


def test_the_table_has_a_row_per_variant_with_its_median(capsys, tmp_path):
    log = tmp_path / "ab.log"
    log.write_text(LOG)
    assert timelines.main([str(log)]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].startswith("| variant | wall (s) | median |")
    assert rows[2] == "| OLD | 1.90, 1.50, 2.20 | **1.90** | 0.41-0.90 | 0.49-0.60 | 0.90-1.50 | 1.20-1.90 |"
    assert rows[3] == "| (default) | 1.91 | **1.91** | 0.30-0.30 | 0.38-0.38 | 1.47-1.47 | 1.72-1.72 |"
    assert timelines.main([]) == 2
