"""UFO users' pipelines run unchanged: ufo-launch strings and JSON graphs in ufo-filters' spelling give the
same numbers as the same pipeline in ufo's own spelling; a UFO spelling that means something else gives
UFO's behaviour or a clear message (issue 22 item 1)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

import ufo
from ufo.bench.ufo_pipelines import FFC, GRAPHS, PAIRS, make_data
from ufo.cli.compat import NOT_PROVIDED, compat_markdown
from ufo.cli.tasks import registry
from ufo.core import serialize
from ufo.core.errors import UsageError
from ufo.core.pipeline import parse
from ufo.core.ufocompat import apply

ROOT = Path(__file__).resolve().parent.parent

@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A UFO user's data folder: projections, darks, flats, sinograms and a raw file."""
    return make_data(tmp_path_factory.mktemp("ufo-data"))


def _outputs(folder: Path) -> dict[str, np.ndarray]:
    return {p.name: tifffile.imread(p) for p in sorted(folder.glob("*.tif"))}


def _run(text: str) -> None:
    parse(text).run().wait()


def _same(folder: Path, first: str, second: str) -> None:
    a, b = _outputs(folder / first), _outputs(folder / second)
    assert a and list(a) == list(b)
    for name in a:
        assert a[name].dtype == b[name].dtype and a[name].shape == b[name].shape, name
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


@pytest.mark.parametrize("ufo_text, ours", PAIRS, ids=[p[0][:60] for p in PAIRS])
def test_ufo_pipeline_gives_the_same_numbers(data: Path, monkeypatch: pytest.MonkeyPatch, ufo_text: str,
                                             ours: str, request: pytest.FixtureRequest) -> None:
    assert len(PAIRS) >= 30
    monkeypatch.chdir(data)
    case = f"case{PAIRS.index((ufo_text, ours))}"
    _run(ufo_text.replace("OUT", f"{case}-ufo"))
    _run(ours.replace("OUT", f"{case}-ours"))
    _same(data, f"{case}-ufo", f"{case}-ours")


@pytest.mark.parametrize("number", range(len(GRAPHS)))
def test_ufo_json_graph_gives_the_same_numbers(data: Path, monkeypatch: pytest.MonkeyPatch, number: int) -> None:
    graph, ours = GRAPHS[number]
    monkeypatch.chdir(data)
    text = json.dumps(graph).replace("OUT", f"json{number}-ufo")
    serialize.loads(text, "graph.json").run().wait()
    _run(ours.replace("OUT", f"json{number}-ours"))
    _same(data, f"json{number}-ufo", f"json{number}-ours")


def test_ufo_strings_run_unchanged_under_ufo_run(data: Path) -> None:
    """The command line itself (a few pipelines and one JSON graph in one subprocess each)."""
    ufo_text, ours = PAIRS[7]
    graph, _ = GRAPHS[2]
    (data / "graph.json").write_text(json.dumps(graph).replace("OUT", "cli-json"))
    for args in (["run", "-q", ufo_text.replace("OUT", "cli-ufo")], ["run", "-q", ours.replace("OUT", "cli-ours")],
                 ["run", "-q", "--json", "graph.json"], ["run", "-q", GRAPHS[2][1].replace("OUT", "cli-json-ours")]):
        done = subprocess.run([sys.executable, "-m", "ufo", *args], cwd=data, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        if args[2] == ufo_text.replace("OUT", "cli-ufo"):
            assert "UFO: flat-field-correct: UFO's meaning" in done.stderr  # said, not silent
    _same(data, "cli-ufo", "cli-ours")
    _same(data, "cli-json", "cli-json-ours")


def test_ufo_semantics_give_ufo_numbers(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """bin sums and flat-field pairs projections with darks and flats under UFO's spelling (numpy)."""
    monkeypatch.chdir(data)
    frame = tifffile.imread(data / "proj" / "proj-0000.tif")
    _run("read path=proj/*.tif number=1 ! bin size=2 ! write filename=sem-bin/b-%05i.tif")
    summed = frame.reshape(8, 2, 16, 2).sum(axis=(1, 3))
    np.testing.assert_allclose(tifffile.imread(data / "sem-bin" / "b-00000.tif"), summed, rtol=1e-6)
    _run(f"{FFC} ! write filename=sem-ffc/c-%05i.tif")
    # UFO pairs the inputs (checked against ufo-launch 0.16): projection i with dark i and flat i, the last
    # of the 3 darks and 3 flats repeated from projection 3 on
    for i in (0, 1, 5):
        proj = tifffile.imread(data / "proj" / f"proj-{i:04d}.tif")
        dark = tifffile.imread(data / "darks" / f"darks-{min(i, 2):04d}.tif")
        flat = tifffile.imread(data / "flats" / f"flats-{min(i, 2):04d}.tif")
        np.testing.assert_allclose(tifffile.imread(data / "sem-ffc" / f"c-{i:05d}.tif"),
                                   (proj - dark) / (flat - dark), rtol=1e-5)


def test_ufo_own_spelling_keeps_ufo_semantics(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without UFO's names a pipeline is ufo's: bin averages (documented); `ufo run --ufo` forces UFO's sum."""
    monkeypatch.chdir(data)
    frame = tifffile.imread(data / "proj" / "proj-0000.tif")
    _run("read path=proj/*.tif number=1 ! bin size=2 ! write path=own-bin/b-%05i.tif")
    mean = frame.reshape(8, 2, 16, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(tifffile.imread(data / "own-bin" / "b-00000.tif"), mean, rtol=1e-6)
    forced = "read path=proj/*.tif number=1 ! bin size=2 ! write path=forced-bin/b-%05i.tif"
    done = subprocess.run([sys.executable, "-m", "ufo", "run", "--ufo", forced], cwd=data, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "bin sums" in done.stderr
    np.testing.assert_allclose(tifffile.imread(data / "forced-bin" / "b-00000.tif"), mean * 4, rtol=1e-6)


@pytest.mark.parametrize("text, message", [
    ("dummy-data ! fft dimensions=2 ! null", "transforms rows"),
    ("dummy-data ! rotate reshape=true ! null", "pad"),
    ("dummy-data ! backproject num-projections=90 ! null", "crop height"),
    ("read path=x.tif convert=false ! null", "no equivalent"),
    ("dummy-data ! filter filter=bh3 ! null", "UFO.s filter .bh3. is not provided"),
    ("dummy-data ! write filename=x.jpg jpeg-quality=90", "JPEG"),
    ("dummy-data ! calculate expression='x*2' ! write filename=x.tif", "position"),
    ("dummy-data ! retrieve-phase energy=20 distance=1 pixel-size=1e-6 regularization-rate=2 ! null", "delta-beta"),
])
def test_ufo_property_without_equivalent_says_what_to_use(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse(text)


def test_python_api_takes_ufo_names() -> None:
    task = ufo.task("write", filename="x-%05i.tif", counter_start=3, counter_step=2)
    assert (task.path, task.start, task.step) == ("x-%05i.tif", 3, 2)
    assert (ufo.task("backproject", axis_pos=12.5).axis, ufo.task("backproject", axis_pos=12.5).center) == (12, 12)
    ffc = ufo.task("flat-field-correct", absorption_correct=True)
    assert ffc.absorption is True and (ffc.dark_reduction, ffc.flat_reduction) == ("each", "each")
    assert ufo.task("flat-field-correct", absorption=True).dark_reduction == "mean"  # ufo's own spelling: ufo's


def test_a_spelling_both_read_is_read_as_ufo_reads_it_in_a_ufo_graph() -> None:
    """pad addressing-mode=clamp is OpenCL's border (zeros) in UFO and edge values here."""
    graph = parse("dummy-data width=8 height=8 ! pad width=16 height=16 addressing-mode=clamp ! write filename=x.tif")
    pad = next(t for t in graph.nodes if t.name == "pad")
    assert pad.addressing_mode == "constant" and any("as UFO reads it" in n for n in pad.ufo_notes)
    assert apply(graph.nodes, force=True) == []  # applying again (ufo run --ufo) changes nothing
    own = parse("dummy-data width=8 height=8 ! pad width=16 height=16 addressing-mode=clamp ! write path=x.tif")
    assert next(t for t in own.nodes if t.name == "pad").addressing_mode == "clamp"


def test_compat_report_says_what_maps_how() -> None:
    done = subprocess.run([sys.executable, "-m", "ufo", "run", "--ufo-compat-report",
                           f"{FFC} absorption-correct=true ! bin size=2 ! write filename=o-%05i.tif"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "flat-field-correct | absorption-correct | absorption | same" in done.stdout
    assert "bin | (task) | mode=sum" in done.stdout and "write | filename | path | same" in done.stdout


#: ufo-filters' tasks (its src/ufo-*-task.c, and ufo-core's ocl-1liner)
UFO_FILTERS_TASKS = """average backproject bin binarize blur buffer calculate camera center-of-rotation clip concatenate-result
cone-beam-projection-weight contrast correlate-stacks crop cross-correlate cut-sinogram cut cv-show denoise detect-edge
dfi-sinc dummy-data dump-ring duplicate fft fftmult filter-particle filter-stripes filter-stripes1d filter
find-large-spots flat-field-correct flatten-inplace flatten flip forwardproject gemm general-backproject get-dup-circ
gradient horizontal-interpolate ifft interpolate-stream interpolate lamino-backproject loop map-color map-coordinates
map-slice mask measure-sharpness measure median-filter memory-in memory-out merge metaballs monitor non-local-means null
opencl-reduce opencl ordfilt pad polar-coordinates power-spectrum read reduce refeed remove-circle remove-outliers
replicate rescale retrieve-phase ring-pattern ringwriter rotate segment sleep slice sliding-stack stack
stacked-backproject stamp stdin stitch subtract swap-quadrants tile transpose-projections transpose unsplit
volume-render write zeropad zmq-pub zmq-sub ocl-1liner""".split()


def test_every_ufo_filters_task_is_provided_or_says_why() -> None:
    registered = set(registry.names())
    assert [t for t in UFO_FILTERS_TASKS if t not in registered and t not in NOT_PROVIDED] == []


def test_compat_docs_are_current() -> None:
    text = compat_markdown(registry.names(), registry.get)
    assert (ROOT / "docs" / "ufo-compat.md").read_text() == text, \
        "docs/ufo-compat.md is stale: run 'ufo tasks --ufo-compat > docs/ufo-compat.md'"
    for task in ("map-color", "segment", "detect-edge", "duplicate", "concatenate-result", "opencl", "ocl-1liner"):
        assert f"- `{task}`:" in text


def test_a_difference_no_setting_removes_is_said() -> None:
    """UFO scales 8/16-bit output per frame: a UFO graph that relies on it gets a note (ufo run prints it)."""
    write = next(t for t in parse("dummy-data ! write filename=x-%05i.tif bits=8").nodes if t.name == "write")
    assert any("its own range" in note for note in write.ufo_notes)
    given = parse("dummy-data ! write filename=x-%05i.tif bits=8 minimum=0 maximum=1").nodes
    assert not any(t.ufo_notes for t in given)


def _ufo_rotate_kernel(image: np.ndarray, angle: float) -> np.ndarray:
    """ufo-filters' rotate.cl (reshape=false, clamp, linear), written out: output pixel (x, y) about the
    centre (pixel k spans k .. k + 1) reads the input at (cos x + sin y, -sin x + cos y): clockwise on the screen."""
    from scipy import ndimage
    h, w = image.shape
    y, x = np.mgrid[:h, :w].astype(np.float64)
    x, y = x - w / 2 + 0.5, y - h / 2 + 0.5
    u = np.cos(angle) * x + np.sin(angle) * y + w / 2
    v = -np.sin(angle) * x + np.cos(angle) * y + h / 2
    return ndimage.map_coordinates(image, [v - 0.5, u - 0.5], order=1, mode="constant")


@pytest.mark.parametrize("angle", ["0.3", "90deg"])
def test_ufo_rotate_turns_clockwise_as_ufo_does(tmp_path: Path, angle: str) -> None:
    """UFO's rotate turns clockwise, ours counter-clockwise: a UFO graph's angle is UFO's (it was taken as ours)."""
    image = np.zeros((33, 33), np.float32)
    image[16, 22:27] = 1  # a bar right of the centre
    image[10:14, 16] = 2  # and one above it
    tifffile.imwrite(tmp_path / "in.tif", image)
    radians = 0.3 if angle == "0.3" else np.pi / 2
    _run(f"read path={tmp_path / 'in.tif'} ! rotate angle={angle} reshape=false ! write filename={tmp_path / 'ufo.tif'}")
    _run(f"read path={tmp_path / 'in.tif'} ! rotate angle={angle} ! write path={tmp_path / 'ours.tif'}")
    theirs, ours = tifffile.imread(tmp_path / "ufo.tif"), tifffile.imread(tmp_path / "ours.tif")
    np.testing.assert_allclose(theirs, _ufo_rotate_kernel(image, radians), atol=1e-4)
    np.testing.assert_allclose(ours, _ufo_rotate_kernel(image, -radians), atol=1e-4)  # ours: counter-clockwise
    assert np.abs(theirs - ours).max() > 0.5


def _ufo_backproject_kernel(sino: np.ndarray, axis_pos: float, step: float, offset: float = 0.0) -> np.ndarray:
    """ufo-filters' backproject.cl (backproject_tex), written out: slice pixel (idx, idy) sums the
    sinogram, linearly interpolated (pixel k's centre at k + 0.5, zero outside), at
    h = axis + bx cos + by sin with bx = idx - axis + 0.5, by = idy - axis + 0.5 (rows counted down),
    times pi / n."""
    n, width = sino.shape
    by, bx = np.mgrid[:width, :width].astype(np.float64) - axis_pos + 0.5
    out = np.zeros((width, width))
    for i, theta in enumerate(offset + step * np.arange(n)):
        h = axis_pos + bx * np.cos(theta) + by * np.sin(theta)
        out += np.interp(h - 0.5, np.arange(width), sino[i], left=0.0, right=0.0)
    return out * np.pi / n


@pytest.mark.parametrize("props,step,offset", [("axis-pos=20", np.pi / 45, 0.0),
                                               ("axis-pos=18.5 angle-step=0.05 angle-offset=0.3", 0.05, 0.3)])
def test_ufo_backproject_is_ufos_not_mirrored_nor_rescaled(tmp_path: Path, props: str, step: float, offset: float) -> None:
    """A UFO graph's backproject put y up (ours) where UFO's kernel puts it down: its slices came out
    mirrored top to bottom; and UFO weighs every projection pi / n, whatever angle-step is."""
    sino = np.random.default_rng(3).random((45, 40)).astype(np.float32)  # no symmetry to hide a mirror
    sino[:, 30:34] += 2.0
    tifffile.imwrite(tmp_path / "s.tif", sino)
    _run(f"read path={tmp_path / 's.tif'} ! backproject {props} ! write filename={tmp_path / 'bp.tif'}")
    got = tifffile.imread(tmp_path / "bp.tif")
    want = _ufo_backproject_kernel(sino.astype(np.float64), float(props.split()[0].split("=")[1]), step, offset)
    inside = np.hypot(*(np.mgrid[:40, :40] - 20)) < 16  # the edge's clamp differs in the last half pixel
    np.testing.assert_allclose(got[inside], want[inside], atol=2e-4 * np.abs(want).max())
    assert np.abs(got[::-1][inside] - want[inside]).max() > 0.1 * np.abs(want).max()  # a mirror would fail


def _ufo_forwardproject_kernel(image: np.ndarray, number: int, step: float) -> np.ndarray:
    """ufo-filters' forwardproject.cl, written out: detector pixel idx at angle a = i x step sums the
    slice, linearly interpolated (pixel k's centre at k + 0.5, zero outside), at 1-pixel steps along
    N = (sin a, -cos a) from d D - l/2 N + (r, r), D = (cos a, sin a), d = idx - r, r = width / 2,
    over the chord l = sqrt(4 r^2 - 4 d^2) of the inscribed circle."""
    width = image.shape[1]
    r = width / 2
    out = np.zeros((number, width))

    def at(px: np.ndarray, py: np.ndarray) -> np.ndarray:
        fx, fy = px - 0.5, py - 0.5
        j, i = np.floor(fx).astype(int), np.floor(fy).astype(int)
        ax, ay = fx - j, fy - i

        def pixel(ii: np.ndarray, jj: np.ndarray) -> np.ndarray:
            inside = (ii >= 0) & (ii < image.shape[0]) & (jj >= 0) & (jj < width)
            return np.where(inside, image[np.clip(ii, 0, image.shape[0] - 1), np.clip(jj, 0, width - 1)], 0.0)

        return (1 - ay) * ((1 - ax) * pixel(i, j) + ax * pixel(i, j + 1)) + \
            ay * ((1 - ax) * pixel(i + 1, j) + ax * pixel(i + 1, j + 1))

    for k in range(number):
        a = k * step
        d_vec, n_vec = np.array([np.cos(a), np.sin(a)]), np.array([np.sin(a), -np.cos(a)])
        for idx in range(width):
            d = idx - r
            chord = np.sqrt(max(4 * r * r - 4 * d * d, 0.0))
            points = (d * d_vec - chord / 2 * n_vec + r)[None, :] + np.arange(int(np.ceil(chord)))[:, None] * n_vec
            out[k, idx] = at(points[:, 0], points[:, 1]).sum()
    return out


def test_ufo_forwardproject_is_ufos_not_mirrored(tmp_path: Path) -> None:
    """A UFO graph's forwardproject projected our way (t = x cos - y sin about the slice's centre)
    where UFO's kernel puts y down and rotates about the point half a pixel before the centre:
    its sinograms were those of the slice mirrored top to bottom. Smooth blobs inside the
    inscribed circle (UFO integrates only there), placed without symmetry."""
    y, x = np.mgrid[:40, :40].astype(np.float64)
    image = sum(a * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * 2.5 ** 2))
                for cy, cx, a in ((12, 15, 1.0), (25, 22, 0.6), (18, 28, 0.3)))
    tifffile.imwrite(tmp_path / "slice.tif", image.astype(np.float32))
    _run(f"read path={tmp_path / 'slice.tif'} ! forwardproject number=30 ! write filename={tmp_path / 'ufo.tif'}")
    _run(f"read path={tmp_path / 'slice.tif'} ! forwardproject number=30 ! write path={tmp_path / 'ours.tif'}")
    theirs, ours = tifffile.imread(tmp_path / "ufo.tif"), tifffile.imread(tmp_path / "ours.tif")
    want = _ufo_forwardproject_kernel(image, 30, np.pi / 30)
    top = want.max()
    assert np.abs(theirs - want).max() < 0.01 * top  # the rays are sampled every 0.5, not 1 pixel: 0.0035
    assert np.abs(ours - want).max() > 0.3 * top  # without UFO's meaning: the mirrored slice's sinogram
    flipped = _ufo_forwardproject_kernel(image[::-1], 30, np.pi / 30)
    assert np.abs(theirs - flipped).max() > 0.3 * top


def test_remove_outliers_in_a_ufo_graph_takes_ufo_s_threshold_and_sign(tmp_path: Path) -> None:
    """UFO's threshold is in data units over the median (rm-outliers.cl), its sign 1 (bright) or -1; ufo's own
    is 5 robust sigmas of both kinds: `remove-outliers threshold=50 ! write filename=...` changed nothing."""
    rng = np.random.default_rng(4)
    frame = (100 + rng.normal(0, 10, (32, 32))).astype(np.float32)
    frame[10, 10], frame[20, 20], frame[5, 25] = 400.0, frame[20, 20] + 30, -300.0  # a zinger, a bump, a dark pixel
    tifffile.imwrite(tmp_path / "in.tif", frame)
    _run(f"read path={tmp_path / 'in.tif'} ! remove-outliers threshold=50 ! write filename={tmp_path / 'out.tif'}")
    out = tifffile.imread(tmp_path / "out.tif")
    from scipy import ndimage

    median = ndimage.median_filter(frame, 3, mode="reflect")
    want = np.where(frame > median + 50, median, frame)  # bright ones only, 50 counts over the local median
    assert np.count_nonzero(want != frame) >= 1 and out[5, 25] == -300.0
    np.testing.assert_array_equal(out, want)
    dark = ufo.task("remove-outliers", sign=-1, threshold=50)  # UFO's -1: dark outliers, in data units
    assert (dark.unit, dark.sign) == ("absolute", "dark")
    with pytest.raises(Exception, match="1 \\(bright outliers\\) or -1"):
        ufo.task("remove-outliers", sign=2)


def test_non_local_means_in_a_ufo_graph_takes_ufo_s_h() -> None:
    """UFO's h defaults to 0.1 (and estimates the noise only for h <= 0); ufo's 0 estimates it: a UFO graph
    of `non-local-means` without h smoothed noise of sigma 0.5 down to 0.08 where UFO barely changes it."""
    graph = parse("dummy-data width=8 height=8 ! non-local-means search-radius=2 patch-radius=1 ! write filename=x.tif")
    assert next(t for t in graph.nodes if t.name == "non-local-means").h == 0.1
    own = parse("dummy-data width=8 height=8 ! non-local-means search-radius=2 patch-radius=1 ! write path=x.tif")
    assert next(t for t in own.nodes if t.name == "non-local-means").h == 0.0
