"""`ufo reco --profile`: where the time went, stage by stage (read, filter, back-project, write, waiting)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import tifffile

from ufo import reco
from ufo.reco.profile import stage_rows
from ufo.tomo.phantom import Phantom

N, ROWS, ANGLES = 64, 6, 64


@pytest.fixture(scope="module")
def projections(tmp_path_factory):
    """Line integrals of the phantom (no darks or flats: reconstructed as they are), one multi-page TIFF."""
    path = tmp_path_factory.mktemp("profile") / "proj.tif"
    phantom = Phantom(N, height=ROWS)
    frames = [phantom.projection(a) for a in np.arange(ANGLES) * np.pi / ANGLES]
    tifffile.imwrite(path, np.stack(frames).astype(np.float32), photometric="minisblack")
    return path


def test_stage_rows_split_the_backproject_node_into_filter_and_back_projection(projections, tmp_path):
    options = reco.RecoOptions(projections=str(projections), output=str(tmp_path / "v.h5:/v"), output_bits=16,
                               replicas=1)
    result = reco.run(reco.plan(options))
    rows = {row.stage: row for row in stage_rows(result)}
    assert {"scale sample", "read", "filter", "back-project", "write"} <= set(rows)
    node = sum(s.busy for h in result.handles for s in h.stats.values() if s.name == "backproject")
    assert rows["filter"].seconds > 0 and rows["back-project"].seconds > 0
    assert rows["filter"].seconds + rows["back-project"].seconds == pytest.approx(node, rel=1e-9)
    assert rows["read"].note.endswith(f"({ANGLES} frames)") and rows["write"].note.endswith(f"({ROWS} frames)")
    for row in rows.values():
        assert 0 <= row.share and row.seconds == pytest.approx(row.share * result.seconds)


def test_the_command_prints_the_table_at_the_end(projections, tmp_path):
    done = subprocess.run([sys.executable, "-m", "ufo", "reco", "--projections", str(projections), "--output",
                           str(tmp_path / "s-%03i.tif"), "--profile", "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    table = done.stdout[done.stdout.index("where the time went"):]
    for stage in ("read", "filter", "back-project", "write", "waiting"):
        assert f"│ {stage} " in table, f"no row for {stage}:\n{table}"
    assert "scale sample" not in table  # float32 output needs no sample
    # the timeline: the run's start and end, counted from the command's start (interpreter included)
    line = next(line for line in table.splitlines() if line.startswith("timeline"))
    marks = dict(part.rsplit(" ", 1) for part in line.split(": ", 1)[1].split(" · "))
    started, ended = float(marks["reconstruction started"]), float(marks["reconstruction ended"])
    assert 0 < started < ended
