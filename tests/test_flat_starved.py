"""Pixels without counts in flat-field correction (docs/conventions.md "Values").

Starved pixels (projection <= dark < flat: a dense insert, long line integrals) get the
transmission min(1 / (flat - dark), 1e-3), less than one count of their flat, not 0 after -log
(transparent: the insert came out at a fraction of its attenuation); dead pixels (flat = dark)
are filled from the good pixels beside them in their rows (ufo.tomo.dead_pixels; the flat-field
functions alone make them transparent, 0 after -log, 1 in transmission: before retrieve-phase a 0
was an opaque column that Paganin spread into a wide ring). `starved=ufo` keeps UFO's numbers.
Measured against nabu (FlatField(nan_value=1.0), transmission clipped at 1e-6) by a side-by-side
probe; the numbers in the asserts are this module's own runs, real data end to end.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import tifffile

import ufo
from ufo.gpu import available
from ufo.tomo.phantom import Phantom

N, ANGLES = 128, 180
THETA = np.arange(ANGLES) * np.pi / ANGLES
I0, DARK = 3000.0, 100.0
INSERT_MU = 0.35


def write_scan(root, tag, projections, darks, flats):
    for name, frames in (("p", projections), ("d", darks), ("f", flats)):
        tifffile.imwrite(root / f"{name}{tag}.tif", np.asarray(frames, np.float32), photometric="minisblack")


def reco(root, tag, *extra):
    result = subprocess.run([sys.executable, "-m", "ufo", "reco", "--projections", f"p{tag}.tif", "--darks",
                             f"d{tag}.tif", "--flats", f"f{tag}.tif", "--axis", str(N / 2), "--gpus", "cpu", "-q",
                             "--overwrite", *extra, "--output", f"s{tag}.tif"],
                            cwd=root, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return tifffile.imread(root / f"s{tag}.tif")


# -- the command line, real scans ---------------------------------------------------------------
def test_a_dense_insert_with_starved_rays_reconstructs_near_its_attenuation(tmp_path):
    """A disc of mu 0.35 / px in a weak one (line integrals up to 8.9), I0 3000 counts over a dark of
    100, Poisson noise: 6.6 % of the sinogram has P <= D. The insert came out at 0.14 (ufo before:
    -log 0 -> NaN -> 0, transparent), now 0.30; the rest of the slice is nearer the float64 exact
    reconstruction than before (fewer streaks: rms 0.025 against 0.063)."""
    from scipy import ndimage
    from skimage.transform import iradon

    ellipses = np.array([(0.01, 0.9, 0.9, 0, 0, 0), (INSERT_MU - 0.01, 0.2, 0.2, 0.3, 0.1, 0)])
    phantom = Phantom(N, ellipses=ellipses)
    sino = phantom.sinogram(THETA)  # exact line integrals (1 / px)
    truth = phantom.slice()
    rows = 4
    rng = np.random.default_rng(7)
    expected = I0 * np.exp(-sino)[:, None, :].repeat(rows, 1)
    projections = rng.poisson(expected) + rng.poisson(DARK, expected.shape)
    darks = rng.poisson(DARK, (10, rows, N))
    flats = rng.poisson(I0, (10, rows, N)) + rng.poisson(DARK, (10, rows, N))
    assert 0.03 < np.mean(projections <= DARK) < 0.1
    write_scan(tmp_path, "", projections, darks, flats)
    slices = reco(tmp_path, "")

    insert = truth > 0.3
    measured = float(slices[:, insert].mean())
    assert abs(measured - INSERT_MU) < 0.2 * INSERT_MU, measured  # before: 0.14
    exact = iradon(sino.T, theta=np.degrees(THETA), filter_name="ramp", circle=True, output_size=N)
    yy, xx = np.mgrid[:N, :N]
    outside = (truth > 0) & ~ndimage.binary_dilation(insert, iterations=3) & (np.hypot(yy - N / 2, xx - N / 2) < 50)
    rms = float(np.sqrt(np.mean((slices[:, outside] - exact[outside]) ** 2)))
    assert rms < 0.035, rms  # before: 0.063
    assert abs(float(slices[:, outside].mean()) - float(exact[outside].mean())) < 0.002


@pytest.mark.parametrize("scale,columns,phase,limit", [
    (0.01, [50], True, 0.01), (0.15, [50], True, 0.01), (0.15, range(50, 55), True, 0.02),
    (0.01, [50], False, 0.01), (0.15, range(50, 55), False, 0.03)],
    ids=["weak-1-phase", "strong-1-phase", "strong-5-phase", "weak-1", "strong-5"])
def test_dead_columns_are_filled_from_their_rows(tmp_path, scale, columns, phase, limit):
    """Dead columns (flat = dark = projection in every frame) of a Shepp-Logan scan, weak (line
    integrals up to 0.02) or strong (0.3), one column or a cluster of 5, with phase retrieval
    (Paganin, delta/beta 5) or without: filled from the good pixels beside them in their rows the
    slice is within 0.0-1.5 % rms of the clean scan's. Before: 0 (opaque) 44 % off with phase
    retrieval; transparent (1, as nabu) 6.6 %, 17.7 % and 41.7 % with it, and rings of 36.6 % and
    54.9 % without."""
    rows = 8
    phantom = Phantom(N, height=8 * rows)
    sino = np.stack([phantom.sinogram(THETA, z=z) for z in range(-rows // 2, rows // 2)], 1) * scale
    projections = I0 * np.exp(-sino) + DARK
    darks, flats = np.full((4, rows, N), DARK), np.full((4, rows, N), I0 + DARK)
    write_scan(tmp_path, "", projections, darks, flats)
    projections[:, :, list(columns)] = DARK
    flats[:, :, list(columns)] = DARK
    write_scan(tmp_path, "x", projections, darks, flats)
    extra = ("--energy", "20", "--distance", "0.5", "--pixel-size", "1e-6", "--delta-beta", "5") if phase else ()
    clean, dead = reco(tmp_path, "", *extra), reco(tmp_path, "x", *extra)
    error = float(np.sqrt(np.mean((dead - clean) ** 2)) / np.sqrt(np.mean(clean ** 2)))
    assert error < limit, error


def test_ufo_run_floors_starved_pixels_and_a_ufo_graph_keeps_ufos_numbers(tmp_path):
    """`ufo run` with our names floors; UFO's spelling (absorption-correct) gives UFO's numbers."""
    proj, dark, flat = _frames()
    write_scan(tmp_path, "", proj[None], dark[None], flat[None])

    def run(props):
        out = tmp_path / f"out{len(list(tmp_path.glob('out*')))}"
        result = subprocess.run([sys.executable, "-m", "ufo", "run", "-q", "[read path=p.tif, read path=d.tif, "
                                 f"read path=f.tif] ! flat-field-correct {props} ! write path={out}/c-%05i.tif"],
                                cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        return tifffile.imread(out / "c-00000.tif")

    ours = run("absorption=true")
    np.testing.assert_allclose(ours, _expected(proj, dark, flat, True, filled=True), rtol=1e-5, atol=1e-5)
    theirs = run("absorption-correct=true")
    np.testing.assert_allclose(theirs, _expected(proj, dark, flat, True, ufo_numbers=True), rtol=1e-5, atol=1e-5)
    transmission = run("")
    np.testing.assert_allclose(transmission, _expected(proj, dark, flat, False, filled=True), rtol=1e-5, atol=1e-6)


# -- the task, the kernels, the engine's step -----------------------------------------------------
def _frames(shape=(6, 8), seed=1):
    """Projection, dark, flat with every case: measured, starved (P = D, P < D), barely measured
    (0 < t < floor), dead (F = D, F < D), a flat of under 1000 counts over its dark, a NaN projection."""
    rng = np.random.default_rng(seed)
    dark = rng.uniform(90, 110, shape).astype(np.float32)
    flat = dark + rng.uniform(2800, 3200, shape).astype(np.float32)
    proj = dark + rng.uniform(100, 2500, shape).astype(np.float32)
    proj[0, 0] = dark[0, 0]  # starved: 0 counts
    proj[0, 1] = dark[0, 1] - 7  # starved: below the dark
    proj[0, 2] = dark[0, 2] + 0.25  # measured, below the floor: kept
    flat[1, 0] = dark[1, 0]  # dead
    flat[1, 1] = dark[1, 1] - 3  # dead, the ratio finite
    proj[1, 1] = dark[1, 1] - 6
    flat[2, 0] = dark[2, 0] + 200  # a dim flat: the floor is 1 / 200
    proj[2, 0] = dark[2, 0] - 1
    proj[3, 0] = np.nan
    return proj, dark, flat


def _expected(proj, dark, flat, absorption, ufo_numbers=False, filled=False):
    """The rule in float64, written out; `filled`: dead pixels from their rows' good ones, as the task
    and the engine's step give them (ufo.tomo.dead_pixels)."""
    p, d, f = (a.astype(np.float64) for a in (proj, dark, flat))
    with np.errstate(divide="ignore", invalid="ignore"):
        span = f - d
        t = (p - d) / span
        if not ufo_numbers:
            t = np.where((span > 0) & (t <= 0), np.minimum(1 / span, 1e-3), t)
        if absorption:
            t = np.where(t > 0, -np.log(np.where(t > 0, t, 1.0)), np.nan)
    bad = ~np.isfinite(t) if ufo_numbers else ~np.isfinite(t) | ~(span > 0)
    fixed = np.where(bad, 0.0 if absorption or ufo_numbers else 1.0, t)
    return _rows_filled(fixed, ~(span > 0)) if filled and not ufo_numbers else fixed


def _rows_filled(values, dead):
    """Each dead pixel the linear interpolation of the nearest good ones left and right in its row
    (the one there is at a row's end), pixel by pixel."""
    out = values.copy()
    for r, c in zip(*np.nonzero(dead)):
        good = np.flatnonzero(~dead[r])
        left, right = good[good < c], good[good > c]
        if left.size and right.size:
            a, b = left[-1], right[0]
            out[r, c] = values[r, a] + (values[r, b] - values[r, a]) * (c - a) / (b - a)
        elif left.size or right.size:
            out[r, c] = values[r, (left if left.size else right)[-1 if left.size else 0]]
    return out


@pytest.mark.parametrize("absorption", [False, True])
@pytest.mark.parametrize("starved", ["floor", "ufo"])
def test_the_task_on_both_domains(absorption, starved):
    proj, dark, flat = _frames()
    out = ufo.FlatFieldCorrect(absorption=absorption, starved=starved)(proj[None], dark[None], flat[None]).collect()[0]
    expected = _expected(proj, dark, flat, absorption, ufo_numbers=starved == "ufo", filled=True)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    if starved == "floor":
        span = (flat - dark).astype(np.float64)
        if absorption:  # -log of less than one count of the flat: log(flat - dark), at least 6.9
            assert out[0, 0] == pytest.approx(np.log(span[0, 0]), rel=1e-5) and out[0, 0] > 7.9
            assert out[0, 1] == pytest.approx(np.log(span[0, 1]), rel=1e-5)
            assert out[2, 0] == pytest.approx(-np.log(1e-3), rel=1e-5)  # a flat of 200 counts: the 1e-3 ceiling
            assert out[0, 2] > out[0, 0]  # measured below the floor: kept, not clipped
            assert out[3, 0] == 0  # NaN: transparent
            assert out[1, 0] == out[1, 1] == out[1, 2] > 0  # dead at the row's start: its first good pixel
        else:
            assert out[0, 0] == pytest.approx(1 / span[0, 0], rel=1e-5) and out[2, 0] == pytest.approx(1e-3)
            assert out[3, 0] == 1  # NaN: transparent
            assert out[1, 0] == out[1, 1] == out[1, 2] < 1  # dead at the row's start: its first good pixel
            assert out.min() > 0


@pytest.mark.parametrize("absorption", [False, True])
@pytest.mark.parametrize("fix", [False, True])
@pytest.mark.parametrize("floor", [False, True])
def test_numpy_the_numba_kernel_and_the_engines_step_agree(absorption, fix, floor):
    """Small frames (numpy), the one-pass kernel (large frames, the streaming engine) and FlatField."""
    from ufo.kernels.flat import flat_correct as one_pass
    from ufo.tasks.correction import flat_correct
    from ufo.tomo.steps import FlatField

    proj, dark, flat = _frames((16, 64), seed=4)
    small, ref = np.empty_like(dark), np.empty_like(dark)
    flat_correct(proj, dark, flat, absorption, fix, small, starved="floor" if floor else "ufo")
    one_pass(proj, dark, flat, absorption, fix, ref, floor)
    np.testing.assert_allclose(small, ref, rtol=1e-5, atol=1e-6)
    if fix:
        np.testing.assert_allclose(ref, _expected(proj, dark, flat, absorption, not floor), rtol=1e-5, atol=1e-6)
    step = FlatField(absorption=absorption, fix_nan_and_inf=fix, starved="floor" if floor else "ufo")
    step.reduce([dark], [flat])
    expected = _rows_filled(ref, ~(flat - dark > 0)) if fix and floor else ref  # the step fills dead pixels
    np.testing.assert_allclose(step.correct(proj[None])[0], expected, rtol=1e-6, atol=1e-6)


@pytest.mark.gpu
@pytest.mark.skipif(not available(), reason="needs CuPy and a CUDA GPU")
@pytest.mark.parametrize("absorption", [False, True])
@pytest.mark.parametrize("floor", [False, True])
def test_the_cuda_kernel_equals_the_cpu_one(absorption, floor):
    import cupy

    from ufo.kernels.flat import flat_correct as one_pass
    from ufo.tomo.steps_cuda import flat_kernel

    proj, dark, flat = _frames((16, 64), seed=5)
    ref = np.empty_like(dark)
    one_pass(proj, dark, flat, absorption, True, ref, floor)
    got = flat_kernel(cupy.asarray(proj), cupy.asarray(dark), cupy.asarray(flat), absorption, True, floor)
    np.testing.assert_allclose(cupy.asnumpy(got), ref, rtol=1e-5, atol=1e-6)
    task = ufo.FlatFieldCorrect(absorption=absorption, starved="floor" if floor else "ufo")
    on_gpu = task(proj[None], dark[None], flat[None]).collect(device="0")[0]
    expected = _rows_filled(ref, ~(flat - dark > 0)) if floor else ref  # the task fills dead pixels
    np.testing.assert_allclose(on_gpu, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("size", [64, 1024])  # numpy below NUMBA_FROM_PIXELS, the numba kernel above
@pytest.mark.parametrize("absorption", [False, True])
def test_integer_references_do_not_wrap(size, absorption):
    """uint16 projection, dark and flat given to the helper: 50 - 100 wrapped to 65486 (65.5 or
    1.8e16 instead of a starved pixel's floor; -4.18 after -log instead of 8.0)."""
    from ufo.tasks.correction import flat_correct

    proj, dark, flat = (np.full((size, size), v, np.uint16) for v in (50, 100, 3100))
    out = np.empty((size, size), np.float32)
    flat_correct(proj, dark, flat, absorption, True, out)
    expected = np.log(3000.0) if absorption else 1 / 3000.0
    np.testing.assert_allclose(out, expected, rtol=1e-5)
