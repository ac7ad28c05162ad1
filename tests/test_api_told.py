"""What a Python script is told (a probe of the API, 2026-12-05): a run's warnings come as
`RunWarning` at the script's own line; frames clipped by 8/16-bit writes, darks mixed into
sinograms and sinograms' detector rows; plain mistakes named."""

from __future__ import annotations

import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest
import tifffile

import ufo
from ufo.core.errors import GraphError, TaskError
from ufo.core.memory import Feed
from ufo.core.tell import RunWarning


def _frames(n=10, shape=(4, 5)):
    return [np.full(shape, i, np.float32) for i in range(n)]


def _told(action):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = action()
    return result, [w for w in caught if issubclass(w.category, RunWarning)]


def test_a_runs_warnings_reach_the_script_at_its_own_line(tmp_path):
    """`stack` dropped the frames that did not fill a stack, `transpose-projections` every frame of a
    short stream, `calculate` the extra frames of one input: said by `ufo run`, never to a script."""
    got, told = _told(lambda: ufo.Stack(number=3)(_frames()).collect())
    assert got.shape == (3, 3, 4, 5)
    assert [str(w.message) for w in told] == ["stack: the last 1 frame(s) did not fill a stack of 3 and were dropped"]
    assert told[0].filename == __file__  # the line that collected, not one inside ufo
    _, told = _told(lambda: [f for f in ufo.Calculate(expression="x0 - x1")(_frames(), _frames(3))])
    assert len(told) == 1 and "7 more frame(s)" in str(told[0].message) and told[0].filename == __file__
    _, told = _told(lambda: ufo.Writer(path=str(tmp_path / "s.h5:/d"))(ufo.Stack(number=3)(_frames())).run().wait())
    assert len(told) == 1 and "did not fill" in str(told[0].message) and told[0].filename == __file__
    _, told = _told(lambda: ufo.Stack(number=2)(_frames()).collect())
    assert told == []  # nothing to say, nothing said


def test_ufo_run_says_a_runs_warning_once(tmp_path):
    tifffile.imwrite(tmp_path / "f.tif", np.stack(_frames()), photometric="minisblack")
    done = subprocess.run([sys.executable, "-m", "ufo", "run", "-q", "read path=f.tif ! stack number=3 ! write path=s.h5"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("did not fill a stack of 3") == 1, done.stderr


def test_8_and_16_bit_writes_say_which_frames_were_clipped(tmp_path):
    """The range of 8/16-bit frames came from the first 16 frames: an NXtomo's darks first, then 200 of
    220 frames stored as 255 with exit 0 and no word."""
    frames = [np.full((16, 16), 10.0 * i, np.float32) for i in range(40)]  # rising past the first frames' range
    handle = ufo.Writer(path=str(tmp_path / "s.tif"), bits=8)(frames).run().wait()
    said = [w for w in handle.warnings if "outside" in w]
    assert len(said) == 1 and said[0].startswith("write: 23 of the 40 frames") and "frame 17)" in said[0], handle.warnings
    stored = tifffile.imread(tmp_path / "s.tif")  # the range: 0..150 widened by 10 %: frame 17 (170) on clip
    assert (stored[17:] == 255).all() and (stored[:17] < 255).all()  # what the warning says happened
    handle = ufo.Writer(path=str(tmp_path / "t.tif"), bits=8, minimum=0, maximum=400)(frames).run().wait()
    assert not [w for w in handle.warnings if "outside" in w]


def test_clip_and_cast_needs_no_range_and_says_what_the_type_clipped(tmp_path):
    """`write bits=8 rescale=false` without minimum and maximum failed with a TypeError (the clipped
    share was measured against [None, None]); with them, its warning named [minimum, maximum],
    which clip and cast does not use."""
    frames = [np.full((16, 16), v, np.float32) for v in (100.0, 300.0, -5.0)]
    handle = ufo.Writer(path=str(tmp_path / "s.tif"), bits=8, rescale=False)(frames).run().wait()
    assert tifffile.imread(tmp_path / "s.tif")[:, 0, 0].tolist() == [100, 255, 0]
    said = [w for w in handle.warnings if "outside" in w]
    assert len(said) == 1 and "2 of the 3 frames" in said[0] and "[0, 255]" in said[0] and "rescale=true" in said[0]
    handle = ufo.Writer(path=str(tmp_path / "t.h5"), bits=16, rescale=False, minimum=0, maximum=10)(frames[:1]).run()
    assert not [w for w in handle.wait().warnings if "outside" in w]  # 100 is stored as 100: nothing clipped


def test_appending_to_an_imagej_stack_is_refused_before_the_run(tmp_path):
    ufo.Writer(path=str(tmp_path / "s.tif"))([np.ones((4, 4), np.float32)] * 3).run().wait()
    done = subprocess.run([sys.executable, "-m", "ufo", "run", "-q", "dummy-data shape=4,4 number=2 ! write path=s.tif "
                           "append=true"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "ImageJ TIFF stack" in done.stderr and "Traceback" not in done.stderr
    assert tifffile.imread(tmp_path / "s.tif").shape == (3, 4, 4)


def test_sinograms_of_darks_mixed_with_projections_are_refused_and_carry_their_detector_rows(tmp_path):
    def sinograms(keys):
        feed = Feed(shape=(4, 5), dtype=np.float32, count=len(keys))

        def put():
            for frame, key in zip(_frames(len(keys)), keys):
                feed.put(frame, {"image_key": key})  # as an NXtomo's reader tags them
            feed.close()

        threading.Thread(target=put, daemon=True).start()
        return ufo.TransposeProjections()(feed()).collect()

    with pytest.raises((TaskError, GraphError), match="darks and projections come mixed.*image-key=0"):
        sinograms([2, 2, 2, 0, 0, 0, 0, 0])
    assert sinograms([1] * 8).shape == (4, 8, 5)  # one kind: as asked
    tifffile.imwrite(tmp_path / "p.tif", np.stack(_frames(6, (12, 5))), photometric="minisblack")
    rows = [s.meta["row"] for s in ufo.TransposeProjections()(ufo.Reader(path=str(tmp_path / "p.tif"), y=8, height=2)())]
    assert rows == [8, 9]  # the detector rows, as `ufo reco --region 8:10` tags them (before: 0, 1)


def test_a_path_is_named_as_no_stream_and_an_empty_collect_keeps_the_frame_shape():
    with pytest.raises(GraphError, match=r"cannot use the str '/data/scan.tif' as a stream.*ufo.Reader\(path="):
        ufo.Crop(width=2)("/data/scan.tif")
    empty = ufo.TransposeProjections(number=20)(_frames())
    got, _ = _told(empty.collect)
    assert got.shape == (0, 20, 5) and got.dtype == np.float32  # before: (0,) float64


@pytest.mark.skipif(ufo.gpu.available() if hasattr(ufo, "gpu") else False, reason="the note is for machines without a GPU")
def test_the_no_gpu_note_names_the_scripts_line():
    from ufo.gpu import CpuFallbackWarning

    sino = np.ones((16, 16), np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ufo.Backproject(axis=8.0)([sino]).collect()
    notes = [w for w in caught if issubclass(w.category, CpuFallbackWarning)]
    assert notes and all(w.filename == __file__ for w in notes), [(w.filename, w.lineno) for w in notes]


def test_a_nan_in_a_sinogram_is_said_where_it_spreads_over_the_slice():
    sino = np.ones((64, 64), np.float32)
    sino[3, 5] = np.nan
    image, told = _told(lambda: ufo.Backproject(axis=32.0)([sino, np.ones_like(sino)]).collect())
    assert np.isnan(image[0]).mean() > 0.5 and np.isfinite(image[1]).all()  # what the warning is about
    assert [str(w.message) for w in told if "NaN" in str(w.message)] == [
        "backproject: a sinogram holds 1 NaN or infinite values: the filter and the back-projection spread them "
        "over its slice; correct with flat-field-correct (its fix-nan-and-inf is on by default) or replace them upstream"]


def test_a_ufo_spelling_in_python_is_told_like_ufo_run_prints_it():
    """`Backproject(axis_pos=...)` takes UFO's meaning (no filter, UFO's weights): `ufo run` printed a
    note, a script got unfiltered sums (max 67 for 1.1) without one."""
    task, told = _told(lambda: ufo.Backproject(axis_pos=64.5))
    assert task.filter == "none"
    assert len(told) == 1 and str(told[0].message).startswith("UFO: backproject: UFO's meaning (filter=none")
    assert told[0].filename == __file__
