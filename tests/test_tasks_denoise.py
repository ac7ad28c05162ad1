"""non-local-means against the definition written out pixel by pixel, and against scikit-image."""

from __future__ import annotations

import numpy as np
import pytest

import ufo
from ufo.core.errors import GraphError
from ufo.tasks.filters2d import estimate_noise_sigma

RNG = np.random.default_rng(25)
IMAGE = (np.linspace(0, 1, 14)[None, :] * np.ones((12, 1)) + RNG.normal(0, 0.05, (12, 14))).astype(np.float32)


def _nlm_by_definition(image, s, p, h, sigma, window, np_mode="symmetric"):
    """UFO's nlm_noise_reduction kernel in float64 loops: every pixel, every shift, every patch offset."""
    padded = np.pad(image.astype(np.float64), s + p, mode=np_mode)
    offsets = np.arange(-p, p + 1)
    if window:
        w1 = np.exp(-offsets ** 2 / (2 * (p / 2) ** 2))
        weights2d = np.outer(w1, w1) / np.outer(w1, w1).sum()
    else:
        weights2d = np.full((2 * p + 1, 2 * p + 1), 1 / (2 * p + 1) ** 2)
    out = np.zeros(image.shape)
    for y in range(image.shape[0]):
        for x in range(image.shape[1]):
            cy, cx = y + s + p, x + s + p
            total = norm = 0.0
            for dy in range(-s, s + 1):
                for dx in range(-s, s + 1):
                    a = padded[cy - p:cy + p + 1, cx - p:cx + p + 1]
                    b = padded[cy + dy - p:cy + dy + p + 1, cx + dx - p:cx + dx + p + 1]
                    distance = max(0.0, float((weights2d * ((a - b) ** 2 - 2 * sigma ** 2)).sum())) / h ** 2
                    weight = np.exp(-distance)
                    total += weight * padded[cy + dy, cx + dx]
                    norm += weight
            out[y, x] = total / norm
    return out


@pytest.mark.parametrize("props,window", [
    ({"search_radius": 2, "patch_radius": 1, "h": 0.1}, False),
    ({"search_radius": 3, "patch_radius": 2, "h": 0.08, "sigma": 0.03}, False),
    ({"search_radius": 2, "patch_radius": 2, "h": 0.1, "fast": False}, True),
    ({"search_radius": 2, "patch_radius": 1, "h": 0.1, "fast": False, "window": False}, False),
])
def test_non_local_means_equals_the_definition(props, window):
    # float32 sums over shifts vs float64 loops: atol 2e-6
    out = ufo.task("non-local-means", **props)(IMAGE[None]).collect()[0]
    expected = _nlm_by_definition(IMAGE, props["search_radius"], props["patch_radius"], props["h"],
                                  props.get("sigma", 0.0), window)
    np.testing.assert_allclose(out, expected, atol=2e-6)


def test_non_local_means_clamp_to_edge_and_estimated_h():
    out = ufo.task("non-local-means", search_radius=2, patch_radius=1, addressing_mode="clamp_to_edge")(
        IMAGE[None]).collect()[0]
    padded = np.pad(IMAGE.astype(np.float64), 1, mode="edge")  # Immerkaer's sum, written out
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]])
    total = sum(abs((padded[y:y + 3, x:x + 3] * kernel).sum()) for y in range(12) for x in range(14))
    h = np.sqrt(np.pi / 2) / (6 * 12 * 10) * total
    assert estimate_noise_sigma(IMAGE, "clamp_to_edge") == pytest.approx(h, rel=1e-12)
    expected = _nlm_by_definition(IMAGE, 2, 1, h, 0.0, False, np_mode="edge")
    np.testing.assert_allclose(out, expected, atol=2e-6)


def test_non_local_means_agrees_with_scikit_image_classic_algorithm_inside():
    restoration = pytest.importorskip("skimage.restoration")
    image = (RNG.random((40, 44)) * 0.2 + np.linspace(0, 1, 44)[None]).astype(np.float32)
    out = ufo.task("non-local-means", search_radius=3, patch_radius=1, h=0.1, fast=False)(image[None]).collect()[0]
    reference = restoration.denoise_nl_means(image.astype(np.float64), patch_size=3, patch_distance=3, h=0.1,
                                             fast_mode=False)
    # scikit-image pads differently ('reflect') and is an independent code: the interior agrees to 2e-3
    np.testing.assert_allclose(out[5:-5, 5:-5], reference[5:-5, 5:-5], atol=2e-3)


def test_non_local_means_reduces_noise():
    clean = np.tile(np.repeat([0.0, 1.0], 16), (32, 1)).astype(np.float32)
    noisy = clean + RNG.normal(0, 0.1, clean.shape).astype(np.float32)
    out = ufo.task("non-local-means", search_radius=5, patch_radius=2)(noisy[None]).collect()[0]
    assert np.abs(out - clean).std() < 0.5 * np.abs(noisy - clean).std()


def test_non_local_means_refuses_volumes():
    with pytest.raises(GraphError, match="task 'non-local-means' works on 2-D frames"):
        ufo.task("non-local-means")(np.zeros((1, 2, 8, 8), np.float32)).collect()
