"""What `ufo reco` says where options change a scan's recorded angles.

`--number 90` of a 180-projection half turn that records its angles gave a 90-degree slice
without a word (the same scan without angles was told); `--angle 0.5` (radians, meant as
degrees) over a scan of 1.2-degree steps replaced them without a word (180 projections over 86
rad). Both are said now; the options still win.
"""

from __future__ import annotations

import math

from ufo import reco

from .resident_scan import N, write_scan
from .resident_scan import options as _options


def test_the_first_n_recorded_projections_are_said_to_be_a_limited_angle_scan(tmp_path):
    path = write_scan(str(tmp_path / "scan.nx"))[0]
    plan = reco.plan(_options(path, tmp_path / "s.tif", number=N // 2))
    said = [n for n in plan.warnings if n.startswith(f"--number {N // 2} of the {N} projections")]
    assert said and "span 90 degrees, a limited-angle scan" in said[0], plan.warnings
    assert not [n for n in reco.plan(_options(path, tmp_path / "s.tif", number=N)).warnings if "--number" in n]


def test_an_angle_step_given_over_recorded_angles_is_said(tmp_path):
    path = write_scan(str(tmp_path / "scan.nx"))[0]
    plan = reco.plan(_options(path, tmp_path / "s.tif", angle=0.5))
    assert plan.options.angle == 0.5  # the option wins
    said = [n for n in plan.warnings if n.startswith("--angle 0.5 rad")]
    assert said and f"({math.degrees(math.pi / N):.6g} degrees)" in said[0], plan.warnings
    assert not [n for n in reco.plan(_options(path, tmp_path / "s.tif", angle=math.pi / N)).warnings if "--angle" in n]


def test_a_full_turn_about_an_axis_near_the_edge_is_said_to_look_like_a_half_acquisition(tmp_path):
    """Reconstructed as a full field without a word (correlation 0.59 with the phantom; 0.99 with
    --half-acquisition): DXchange files do not record a half acquisition."""
    import numpy as np

    from ufo.reco.hints import geometry_hints
    from ufo.storage import open_writer

    path = str(tmp_path / "turn.nx")
    with open_writer(path) as writer:
        for i in range(64):
            writer.write(np.ones((4, 100), np.uint16), {"image_key": 0, "angle": 2 * math.pi * i / 64})
    plan = reco.plan(reco.RecoOptions(projections=path, output=str(tmp_path / "s.tif"), axis="92", gpus="cpu"))
    said = geometry_hints(plan, 92.0)
    assert len(said) == 1 and "7 px from the detector's edge on a 360-degree scan" in said[0]
    assert geometry_hints(plan, 50.0) == [] and geometry_hints(plan, 20.0) == []
