"""ENL, mean ratio, EPI against hand computations; PSNR/SSIM against closed forms and scikit-image."""

import math

import numpy as np
import pytest

from core import metrics
from core.errors import UserError


@pytest.mark.parametrize("looks", [1, 3, 8])
def test_enl_of_gamma_speckle_over_a_region_is_the_number_of_looks(rng, looks):
    img = (2.5 * rng.gamma(looks, 1.0 / looks, (200, 200))).astype(np.float32)
    assert metrics.enl(img, (0, 0, 200, 200)) == pytest.approx(looks, rel=0.06)


def test_enl_region_is_exactly_mean_squared_over_variance(rng):
    img = rng.gamma(2.0, 1.0, (30, 40)).astype(np.float32)
    v = img[5:17, 8:30].astype(np.float64).ravel()
    expected = (sum(v) / len(v)) ** 2 / (sum((a - v.mean()) ** 2 for a in v) / len(v))
    assert metrics.enl(img, (5, 8, 12, 22)) == pytest.approx(expected, rel=1e-9)


def test_homogeneous_region_is_found_in_the_smooth_patch(rng):
    img = rng.gamma(1.0, 1.0, (96, 96)).astype(np.float32)  # single-look everywhere
    img[50:82, 10:42] = rng.gamma(30.0, 1 / 30.0, (32, 32))  # one smooth 32x32 patch
    r, c, h, w = metrics.find_homogeneous_region(img, 24)
    assert (h, w) == (24, 24) and 50 <= r <= 58 and 10 <= c <= 18
    assert metrics.enl(img, size=24) == pytest.approx(metrics.enl(img, (r, c, 24, 24)))
    assert metrics.enl(img, size=24) > 15


def test_homogeneous_region_avoids_nan(rng):
    img = rng.gamma(50.0, 1 / 50.0, (40, 40)).astype(np.float32)
    img[:, 20:] = rng.gamma(1.0, 1.0, (40, 20))
    img[10, 5] = np.nan
    r, c, h, w = metrics.find_homogeneous_region(img, 8)
    assert np.isfinite(img[r : r + h, c : c + w]).all()


def test_mean_ratio_and_epi_by_hand():
    a = np.array([[1.0, 2.0, 4.0], [3.0, 1.0, 1.0]])
    b = np.array([[2.0, 2.0, 2.0], [2.0, 2.0, 2.0]])
    assert metrics.mean_ratio(b, a) == pytest.approx(12.0 / 12.0)
    assert metrics.mean_ratio(a * 1.5, a) == pytest.approx(1.5)
    # horizontal |diffs| of a: 1,2,2,0 ; vertical: 2,1,3 -> 11 ; half-contrast copy -> 5.5
    half = 0.5 * a + 7
    assert metrics.edge_preservation_index(half, a) == pytest.approx(5.5 / 11.0)
    assert metrics.edge_preservation_index(b, a) == 0.0


def test_epi_leaves_out_pairs_with_invalid_pixels():
    a = np.array([[1.0, 5.0, np.nan, 2.0]])
    f = np.array([[2.0, 4.0, 9.0, 1.0]])
    assert metrics.edge_preservation_index(f, a) == pytest.approx(2.0 / 4.0)
    assert metrics.mean_ratio(f, a) == pytest.approx((2 + 4 + 1) / (1 + 5 + 2))


def test_psnr_closed_form_and_ssim_from_skimage(rng):
    ref = rng.uniform(0, 1, (32, 32))
    test = ref + 0.1
    assert metrics.psnr(ref, test, data_range=1.0) == pytest.approx(10 * math.log10(1 / 0.01))
    assert metrics.psnr(ref, test, data_range=2.0) == pytest.approx(10 * math.log10(4 / 0.01))
    assert metrics.ssim(ref, ref, data_range=1.0) == pytest.approx(1.0)
    from skimage.metrics import structural_similarity

    noisy = ref + rng.normal(0, 0.1, ref.shape)
    assert metrics.ssim(ref, noisy, 1.0) == pytest.approx(structural_similarity(ref, noisy, data_range=1.0))
    rgb = rng.uniform(0, 255, (24, 24, 3))
    assert 0 < metrics.ssim(rgb, rgb + rng.normal(0, 20, rgb.shape), 255) < 1


@pytest.mark.parametrize("region", [(-1, 0, 5, 5), (0, 0, 50, 5), (0, 0, 1, 1)])
def test_bad_region_gives_one_sentence(region):
    with pytest.raises(UserError) as exc:
        metrics.enl(np.ones((10, 10), np.float32), region)
    assert "\n" not in str(exc.value)


def test_speckle_metrics_bundle(rng):
    img = rng.gamma(1.0, 1.0, (20, 20)).astype(np.float32)
    out = metrics.speckle_metrics(img, img * 2, (0, 0, 10, 10))
    assert out["mean ratio"] == pytest.approx(2.0) and out["EPI"] == pytest.approx(2.0)
    assert out["ENL"] == pytest.approx(metrics.enl(img, (0, 0, 10, 10)), rel=1e-6)
