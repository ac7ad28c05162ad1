"""Tests the mutation run (docs/mutation.md) showed missing: each kills mutants that survived the
existing tests. References are closed forms evaluated independently (plain Python floats, float64),
not the functions under test. Names start with the module they cover (`filters_`, ...), which is
how benchmarks/mutation.sh selects them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ufo.tomo.filters import fbp_filter, padded_size, ramp, ufo_response, window


# -- ufo/tomo/filters.py ----------------------------------------------------------------------
def _ufo_closed_form(size: int, name: str, cutoff: float, order: int) -> np.ndarray:
    """ufo-filters 0.16's responses, k by k: f = k / size cycles per pixel."""
    values = []
    for k in range(size // 2 + 1):
        f = k / size
        if name == "ramp":
            values.append(1 / (4 * size) if k == 0 else f)
        elif name == "butterworth":
            values.append(f / (1 + math.pow(f / cutoff, 2 * order)))
        else:  # hamming, zero at Nyquist (which only an even size samples)
            nyquist = size % 2 == 0 and k == size // 2
            values.append(0.0 if nyquist else f * (0.54 + 0.46 * math.cos(2 * math.pi * f)))
    return np.array(values)


@pytest.mark.parametrize("size", [512, 257])
@pytest.mark.parametrize("name, cutoff, order", [("ramp", 0.5, 4), ("butterworth", 0.3, 3), ("hamming", 0.5, 4)])
def test_filters_ufo_response_equals_the_closed_forms(size, name, cutoff, order):
    ours = ufo_response(size, name, cutoff, order)
    assert ours.shape == (size // 2 + 1,)
    np.testing.assert_allclose(ours, _ufo_closed_form(size, name, cutoff, order), rtol=1e-12, atol=1e-15)


def test_filters_ufo_response_defaults_and_unknown_names():
    """Defaults are UFO's (cutoff 0.5, order 4); a name UFO lacks is refused with the list."""
    np.testing.assert_allclose(ufo_response(256), _ufo_closed_form(256, "ramp", 0.5, 4), rtol=1e-12)
    np.testing.assert_allclose(ufo_response(256, "butterworth"), _ufo_closed_form(256, "butterworth", 0.5, 4),
                               rtol=1e-12)
    with pytest.raises(ValueError, match="ramp, butterworth, hamming"):
        ufo_response(256, "hann")


def test_filters_padded_size_is_the_next_power_of_two_of_twice_the_width():
    for width in (1, 20, 32, 33, 100, 512, 513):
        power = 1
        while power < 2 * width:
            power *= 2
        assert padded_size(width) == max(64, power), width


def test_filters_defaults_cutoff_range_and_none():
    """window's default order is 4; cutoff must be in (0, 1] except for butterworth, whose cutoff
    is the -3 dB point and may lie beyond Nyquist; 'none' passes every frequency."""
    nu = np.linspace(0, 1, 65)
    np.testing.assert_allclose(window("butterworth", nu, 0.5), 1 / (1 + (nu / 0.5) ** 8), rtol=1e-12)
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="cutoff"):
            fbp_filter(128, "hann", cutoff=bad)
    wide = fbp_filter(128, "butterworth", cutoff=1.5, order=2)
    np.testing.assert_allclose(wide, ramp(128) / (1 + (np.fft.rfftfreq(128) / 0.5 / 1.5) ** 4), rtol=1e-12)
    assert np.array_equal(fbp_filter(128, "none"), np.ones(65))


def test_filters_a_window_below_nyquist_is_zero_above_its_cutoff():
    """cutoff scales the window's frequency axis (nu / cutoff) and everything above it is zero."""
    nu = np.fft.rfftfreq(256) / 0.5
    hann = np.where(nu <= 0.5, 0.5 + 0.5 * np.cos(np.pi * nu / 0.5), 0.0)
    np.testing.assert_allclose(fbp_filter(256, "hann", cutoff=0.5), ramp(256) * hann, atol=1e-12)
    assert np.count_nonzero(fbp_filter(256, "cosine", cutoff=0.25)[nu > 0.25]) == 0


# -- ufo/kernels/backproject.py and ufo/tomo/fbp.py ------------------------------------------
def _backprojection64(sino, thetas, weights, axis, x0, y0, cols, rows):
    """sum_a w_a interp(sino[a], (x0 + c) cos - (y0 + r) sin + axis) in float64 with np.interp,
    the detector zero one pixel past each edge and linear up to it (no snapping of positions a
    hair past the edge is needed: the sum is continuous there)."""
    yy, xx = np.mgrid[:rows, :cols].astype(np.float64)
    out = np.zeros((rows, cols))
    width = sino.shape[-1]
    pixels = np.arange(-1, width + 1)
    for row, theta, w in zip(sino.astype(np.float64), thetas, weights):
        t = (x0 + xx) * math.cos(theta) - (y0 + yy) * math.sin(theta) + axis
        out += w * np.interp(t, pixels, np.concatenate([[0.0], row, [0.0]]), left=0, right=0)
    return out


def _gap_weights(thetas):
    """Half the folded (mod pi) interval each angle covers: (gap before + gap after) / 4."""
    folded = np.mod(thetas, np.pi)
    order = np.argsort(folded)
    ring = np.concatenate([folded[order], [folded[order][0] + np.pi]])
    gaps = np.diff(ring)
    weights = np.empty(len(thetas))
    weights[order] = (gaps + np.roll(gaps, 1)) / 4
    return weights


@pytest.fixture(scope="module")
def random_sinos():
    return np.random.default_rng(7).random((3, 30, 40)).astype(np.float32)


@pytest.mark.parametrize("threads", [1, 2])
def test_backproject_single_and_stacked_equal_a_float64_sum(random_sinos, threads):
    """Off-centre axis and centre, a region of interest, a start angle and a 180-degree step."""
    from ufo.tomo.fbp import backproject

    n = 30
    thetas = 0.4 + np.arange(n) * np.pi / n
    ref = [_backprojection64(s, thetas, np.full(n, np.pi / (2 * n)), 17.3, 3 - 19.5, 5 - 19.5, 30, 25)
           for s in random_sinos]
    roi = (3, 5, 30, 25)
    # scaled by the thread count: a band left uncomputed cannot inherit the right values from a
    # freed buffer of the previous case
    stacked = backproject(random_sinos * threads, axis=17.3, angle_offset=0.4, roi=roi, centre=19.5,
                          threads=threads) / threads
    single = backproject(random_sinos[1], axis=17.3, angle_offset=0.4, roi=roi, centre=19.5)
    scale = np.abs(ref).max()
    np.testing.assert_allclose(stacked, ref, atol=2e-6 * scale)
    np.testing.assert_allclose(single, ref[1], atol=2e-6 * scale)


def test_backproject_360_degree_step_and_default_axis_and_centre(random_sinos):
    """A 360-degree step counts every line twice, so each angle weighs pi / (2 n), not step / 2;
    the axis and the centre default to width / 2; a 90-degree projection (cos = 0) is included."""
    from ufo.tomo.fbp import backproject

    n = 30
    thetas = np.arange(n) * 2 * np.pi / n
    # t lands exactly on the last pixel at 0 and 180 degrees here: the edge pixel weighs 1 both ways
    sino = random_sinos[0]
    ref = _backprojection64(sino, thetas, np.full(n, np.pi / (2 * n)), 20, -20, -20, 40, 40)
    ours = backproject(sino, angle_step=2 * np.pi / n)
    np.testing.assert_allclose(ours, ref, atol=2e-6 * np.abs(ref).max())


def test_backproject_irregular_angles_are_weighted_by_their_intervals(random_sinos):
    from ufo.tomo.fbp import backproject

    rng = np.random.default_rng(11)
    thetas = np.sort((np.arange(30) + rng.uniform(-0.4, 0.4, 30)) * np.pi / 30)
    for sino in (random_sinos[2], random_sinos):
        ours = backproject(sino, axis=21.2, angles=thetas)
        ref = [_backprojection64(s, thetas, _gap_weights(thetas), 21.2, -20, -20, 40, 40)
               for s in np.reshape(sino, (-1, 30, 40))]
        np.testing.assert_allclose(ours, np.squeeze(ref), atol=2e-6 * np.abs(ref).max())
    with pytest.raises(ValueError, match="29 angles given for a sinogram of 30"):
        backproject(random_sinos[0], angles=thetas[:29])
    with pytest.raises(ValueError, match="NaN"):
        backproject(random_sinos[0], angles=np.where(np.arange(30) == 3, np.nan, thetas))


def test_backproject_stack_add_adds_to_what_out_holds(random_sinos):
    """The streaming kernel: out + scale x back-projection, on every slice of the stack."""
    from ufo.kernels.backproject import backproject_stack_add

    n = 30
    thetas = np.arange(n) * np.pi / n
    interleaved = np.ascontiguousarray(random_sinos.transpose(1, 2, 0))
    out = np.ones((40, 40, 3), np.float32)
    backproject_stack_add(interleaved, np.cos(thetas).astype(np.float32), np.sin(thetas).astype(np.float32),
                          np.float32(19.3), np.float32(-20), np.float32(-20), np.float32(0.25), out)
    for k in range(3):  # at 90 degrees (cos = 0) the last row sees t = 0.3: inside, in [0, 1)
        ref = 1 + 0.25 * _backprojection64(random_sinos[k], thetas, np.ones(n), 19.3, -20, -20, 40, 40)
        np.testing.assert_allclose(out[..., k], ref, atol=2e-6 * np.abs(ref).max())


@pytest.mark.parametrize("stacked", [False, True], ids=["single", "stacked"])
def test_backprojection_is_continuous_where_rays_end_on_the_detector_edge(random_sinos, stacked):
    """At 90 degrees a whole row of the slice sees one detector position; where it is the last pixel,
    an axis a float32 rounding away may not drop the edge sample from the whole row (np.interp's
    right=0: the CPU and GPU online engines' slices were 2e-3 apart at one axis). The detector is
    zero one pixel past each edge: a shift of 1e-4 px changes the slice by about 1e-4 of a sample."""
    from ufo.tomo.fbp import backproject

    sino = random_sinos if stacked else random_sinos[0]
    sino = sino + 10.0 * (np.arange(40) >= 38)  # big values at the edge, where the rays end
    thetas = np.array([0.3, np.pi / 2, 2.0])
    part = sino[..., [3, 15, 24], :]
    # at 90 degrees t = axis - (y0 + r) = 39 (the last pixel) for row 0 at axis 19 (y0 = -20)
    at, near = (backproject(part, axis=axis, angles=thetas, centre=20) for axis in (19.0, 19.0001))
    assert np.abs(near - at).max() < 1e-3 * np.abs(at).max()
    past = backproject(part, axis=19.5, angles=thetas, centre=20)  # half a pixel past the edge: half the sample
    ref = _backprojection64(part if not stacked else part[0], thetas, _gap_weights(thetas), 19.5, -20, -20, 40, 40)
    np.testing.assert_allclose(past if not stacked else past[0], ref, atol=5e-6 * np.abs(ref).max())  # edge steps of 10 per pixel


# -- ufo/tomo/phase.py -------------------------------------------------------------------------
def _paganin64(frame, pixel, distance, energy_kev, delta_beta):
    """Paganin's filter in float64 with numpy's FFT on a frame edge-padded to twice its size
    (to scipy's next fast length), the frame centred; the filter written out from the paper."""
    import scipy.fft

    rows, cols = frame.shape
    pr, pc = scipy.fft.next_fast_len(2 * rows, real=True), scipy.fft.next_fast_len(2 * cols, real=True)
    top, left = (pr - rows) // 2, (pc - cols) // 2
    padded = np.pad(frame.astype(np.float64), ((top, pr - rows - top), (left, pc - cols - left)), mode="edge")
    lam = 6.62607015e-34 * 299792458 / (energy_kev * 1e3 * 1.602176634e-19)  # h c / E
    u = [np.array([(k if k < n - n // 2 else k - n) / (n * pixel) for k in range(n)]) for n in (pr, pc)]
    kernel = 1 / (1 + np.pi * lam * distance * delta_beta * (u[0][:, None] ** 2 + u[1][None, :] ** 2))
    return np.real(np.fft.ifft2(np.fft.fft2(padded) * kernel))[top: top + rows, left: left + cols]


@pytest.mark.parametrize("shape", [(37, 52), (52, 104)])
def test_phase_retrieval_of_a_non_square_frame_equals_a_float64_reference(shape):
    """Both outputs, non-square frames (an odd padding split; padded lengths where FFT sizes with
    factors up to 5 and up to 7 differ: 108 / 105, 216 / 210), `out` given and not."""
    from ufo.tomo.phase import retrieve_phase, wavelength

    assert wavelength(20.0) == pytest.approx(6.19920e-11, rel=1e-5)
    rng = np.random.default_rng(5)
    frame = (0.8 + 0.1 * rng.random(shape)).astype(np.float32)
    frame[10:20, 5:30] *= 0.7
    args = (1e-6, 0.1, 20.0, 300.0)
    ref = _paganin64(frame, *args)
    assert np.abs(ref - frame).max() > 0.01  # the filter does something here
    np.testing.assert_allclose(retrieve_phase(frame, *args, output="transmission"), ref, atol=2e-6)
    out = np.full(frame.shape, np.nan, np.float32)
    assert retrieve_phase(frame, *args, out=out) is out
    np.testing.assert_allclose(out, -np.log(ref), atol=5e-6)
    dark = np.zeros((4, 4), np.float32)  # transmission 0: -log clipped at 1e-12, not infinity
    np.testing.assert_allclose(retrieve_phase(dark, *args), -np.log(1e-12), rtol=1e-6)


def test_backproject_weights_of_two_angles_and_of_a_missing_wedge():
    """Each angle weighs half the interval it covers: two angles split the half turn; the
    neighbours of a gap wider than 3 typical ones and 5 degrees (a missing wedge: 10.5 here) take
    their other gap instead; a narrower one (3.5 degrees: frames not taken) they share."""
    from ufo.kernels.backproject import angle_weights

    np.testing.assert_allclose(angle_weights(np.array([0.3, 0.3 + np.pi / 2])), np.pi / 4, rtol=1e-12)
    np.testing.assert_allclose(angle_weights(np.array([0.3])), np.pi / 2, rtol=1e-12)
    degrees = np.concatenate([np.arange(0, 90), np.arange(100.5, 180)])  # gaps: 1, one of 10.5, the last 0.5
    weights = np.degrees(angle_weights(np.radians(degrees)))
    expected = np.full(len(degrees), 0.5)
    expected[0], expected[-1] = 0.375, 0.375  # (1 + 0.5) / 4 around the 0.5-degree gap at the wrap
    np.testing.assert_allclose(weights, expected, rtol=1e-9)
    degrees = np.concatenate([np.arange(0, 90), np.arange(92.5, 180)])  # one gap of 3.5: covered
    weights = np.degrees(angle_weights(np.radians(degrees)))
    expected = np.full(len(degrees), 0.5)
    expected[0], expected[-1] = 0.375, 0.375
    expected[89] = expected[90] = (1 + 3.5) / 4
    np.testing.assert_allclose(weights, expected, rtol=1e-9)


def test_randomly_spaced_angles_weigh_half_the_gaps_around_them():
    """720 angles drawn at random over a half turn: every gap is sampling, none a missing wedge
    (one in eight is wider than 3 median gaps, which all went uncovered). Each weighs a quarter of
    its two gaps (the trapezoid rule), and the weights sum to the half turn's pi / 2."""
    from ufo.kernels.backproject import angle_weights

    theta = np.sort(np.random.default_rng(5).uniform(0, np.pi, 720))
    theta = theta[np.append(True, np.diff(theta) > 0.01 * np.pi / 720)]  # no pairs close enough to be one angle
    gaps = np.diff(np.append(theta, theta[0] + np.pi))  # circular: the last gap wraps to the first angle
    expected = 0.25 * (gaps + np.roll(gaps, 1))
    np.testing.assert_allclose(angle_weights(theta), expected, rtol=1e-9)
    assert angle_weights(theta).sum() == pytest.approx(np.pi / 2)


def test_backproject_weights_of_a_360_degree_scan_whose_pairs_straddle_the_fold():
    """A 360-degree scan starting a hair below 0, its second half a hair late: theta and
    theta + pi coincide once folded into [0, pi), the first pair across the fold (pi - e and
    +e). Every projection weighs a quarter of the step, and turning the scan (the fold then cuts
    elsewhere) changes no weight: the fold must be cut in the widest gap, not through a pair."""
    from ufo.kernels.backproject import angle_weights

    n = 90
    theta = np.concatenate([np.arange(n) * np.pi / n - 1e-7, np.pi + np.arange(n) * np.pi / n + 1e-7])
    weights = angle_weights(theta)
    np.testing.assert_allclose(weights, np.pi / (4 * n), rtol=1e-9)
    np.testing.assert_allclose(angle_weights(theta + 0.3), weights, rtol=1e-9)


def test_backproject_bands_keep_their_partial_sums_within_a_cores_cache():
    """A band of rows holds cols x slices float32 sums per row, at most 1 MiB (about a core's L2), 1 to 16 rows."""
    from ufo.kernels.backproject import BAND_BYTES, band_rows

    assert BAND_BYTES == 1 << 20
    for cols, k, rows in ((64, 1, 16), (1024, 16, 16), (4096, 32, 2), (2048, 48, 2), (8192, 64, 1)):
        band = band_rows(cols, k)
        assert isinstance(band, int) and band == rows, (cols, k, band)
        assert band == 1 or band * cols * k * 4 <= BAND_BYTES


def test_backproject_relative_weights_are_none_for_equal_intervals():
    """None says 'no row weighting needed' (the kernels skip a pass over the data)."""
    from ufo.kernels.backproject import relative_weights

    assert relative_weights(np.arange(90) * np.pi / 90) is None
    uneven = relative_weights(np.radians([0.0, 1.0, 3.0, 4.0]))
    np.testing.assert_allclose(uneven, [0.8, 1.2, 1.2, 0.8], rtol=1e-6)  # (1+1, 1+2, 2+1, 1+1) / 4, / mean


# -- ufo/kernels/flat.py -------------------------------------------------------------------------
@pytest.mark.parametrize("absorption", [False, True])
@pytest.mark.parametrize("fix", [False, True])
def test_flat_kernel_equals_the_float64_formula_at_its_edge_cases(absorption, fix):
    """Zero, negative and infinite ratios (proj = dark, proj < dark, flat = dark): -log of a ratio
    <= 0 is NaN, not +inf, and only `fix` turns non-finite values into 0."""
    from ufo.kernels.flat import flat_correct

    rng = np.random.default_rng(2)
    dark = rng.uniform(0.5, 1.0, (6, 7)).astype(np.float32)
    flat = dark + rng.uniform(5.0, 6.0, (6, 7)).astype(np.float32)
    proj = dark + rng.uniform(0.1, 5.0, (6, 7)).astype(np.float32)
    proj[0, :3] = dark[0, :3]  # ratio 0
    proj[1, :3] = dark[1, :3] - 0.25  # ratio < 0
    flat[2, :3] = dark[2, :3]  # ratio +inf
    out = np.empty_like(proj)
    flat_correct(proj, dark, flat, absorption, fix, out, False)  # UFO's numbers (starved=ufo)
    p, d, f = (a.astype(np.float64) for a in (proj, dark, flat))
    with np.errstate(divide="ignore", invalid="ignore"):
        ref = (p - d) / (f - d)
        if absorption:
            ref = np.where(ref > 0, -np.log(np.where(ref > 0, ref, 1.0)), np.nan)
    if fix:
        ref = np.where(np.isfinite(ref), ref, 0.0)
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-6, equal_nan=True)
    assert np.isnan(out).any() == (absorption and not fix)


# -- ufo/tomo/fbp.py -----------------------------------------------------------------------------
@pytest.mark.parametrize("padding", ["zero", "edge"])
def test_fbp_of_a_width_not_a_power_of_two_equals_a_float64_reference(padding):
    """Rows of 50 pixels padded to 128 (zeros after the row, or edge values on both sides with the
    row centred), filtered with scikit-image's ramp x hann, back-projected in float64."""
    from skimage.transform.radon_transform import _get_fourier_filter

    from ufo.tomo.fbp import fbp, filter_rows

    n, width, size = 45, 50, 128
    sino = np.random.default_rng(4).random((n, width)) + np.linspace(0, 2, width)  # uneven edges
    left = (size - width) // 2 if padding == "edge" else 0
    padded = np.pad(sino, ((0, 0), (left, size - width - left)), mode="edge" if padding == "edge" else "constant")
    nu = np.fft.rfftfreq(size) / 0.5
    kernel = _get_fourier_filter(size, "ramp")[: size // 2 + 1, 0] * (0.5 + 0.5 * np.cos(np.pi * nu))
    filtered = np.fft.irfft(np.fft.rfft(padded, axis=1) * kernel, n=size, axis=1)[:, left: left + width]
    out = np.empty((n, width), np.float32)
    assert filter_rows(sino.astype(np.float32), "hann", padding=padding, out=out) is out
    np.testing.assert_allclose(out, filtered, atol=2e-6 * np.abs(filtered).max())
    thetas = np.arange(n) * np.pi / n
    ref = _backprojection64(filtered, thetas, np.full(n, np.pi / (2 * n)), 24.6, -25, -25, width, width)
    ours = fbp(sino.astype(np.float32), axis=24.6, filter="hann", padding=padding, workers=2)
    np.testing.assert_allclose(ours, ref, atol=1e-5 * np.abs(ref).max())


def test_backproject_geometry_defaults_to_a_half_turn_from_zero():
    """geometry(n, None): n angles over 180 degrees starting at 0, each weighing pi / (2 n)."""
    from ufo.kernels.backproject import geometry

    cos_, sin_, weight = geometry(4, None)
    np.testing.assert_allclose(cos_, [1, math.sqrt(0.5), 0, -math.sqrt(0.5)], atol=1e-7)
    np.testing.assert_allclose(sin_, [0, math.sqrt(0.5), 1, math.sqrt(0.5)], atol=1e-7)
    assert weight == pytest.approx(np.pi / 8)


def test_fbp_region_to_the_edge_and_filtering_a_stack():
    """A ROI without width/height runs to the slice's edge; filter_rows filters each sinogram of a
    stack (K, angles, width) like the single one, along the detector axis."""
    from ufo.tomo.fbp import backproject, filter_rows, slice_grid

    assert slice_grid(40) == (-20, -20, 40, 40)
    assert slice_grid(40, (3, 5, None, None), centre=19.5) == (3 - 19.5, 5 - 19.5, 37, 35)
    sinos = np.random.default_rng(9).random((2, 30, 40)).astype(np.float32)
    full = backproject(sinos[0], axis=19.5, centre=19.5)
    roi = backproject(sinos[0], axis=19.5, centre=19.5, roi=(3, 5, None, None))
    np.testing.assert_allclose(roi, full[5:, 3:], atol=1e-5 * np.abs(full).max())
    stack = filter_rows(sinos, "hamming")
    for k in range(2):
        np.testing.assert_allclose(stack[k], filter_rows(sinos[k], "hamming"), rtol=1e-6, atol=1e-6)


def test_fbp_out_argument_of_a_stack(random_sinos):
    """`out` receives the (K, rows, cols) slices, the same as returned without it."""
    from ufo.tomo.fbp import backproject

    out = np.full((3, 40, 40), np.nan, np.float32)
    assert backproject(random_sinos, axis=20.5, out=out) is out
    np.testing.assert_allclose(out, backproject(random_sinos, axis=20.5), rtol=0, atol=0)
