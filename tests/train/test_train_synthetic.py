"""The synthetic SAR/optical scene generator: seeded, physically sensible, resolution independent."""

import numpy as np
import pytest

from core.train import synthetic as S


def test_same_seed_same_pair_other_seed_other_pair():
    a_sar, a_opt = S.make_pair(11, 64)
    b_sar, b_opt = S.make_pair(11, 64)
    c_sar, c_opt = S.make_pair(12, 64)
    assert a_sar.dtype == np.float32 and a_sar.shape == (64, 64)
    assert a_opt.dtype == np.uint8 and a_opt.shape == (64, 64, 3)
    np.testing.assert_array_equal(a_sar, b_sar)
    np.testing.assert_array_equal(a_opt, b_opt)
    assert np.abs(a_opt.astype(int) - c_opt).mean() > 5


def test_speckle_is_gamma_with_the_requested_looks_and_gain():
    # ratio of the speckled image to the noise-free sigma0 must be Gamma(L, 1/L) * gain: mean gain, var gain^2/L
    for looks, gain in [(1.0, 1.0), (4.0, 2.5)]:
        ratios = []
        for seed in range(3):
            sar, _ = S.make_pair(seed, 96, looks=looks, gain=gain)
            sigma = S.SyntheticScene(seed).render_sigma0(96)
            ratios.append(sar / sigma)
        r = np.concatenate([x.ravel() for x in ratios])
        assert r.mean() == pytest.approx(gain, rel=0.03)
        assert r.var() == pytest.approx(gain**2 / looks, rel=0.08)


def test_backscatter_follows_land_cover():
    seed, size = 3, 128
    cls = S.make_class_map(seed, size)
    sigma = S.SyntheticScene(seed).render_sigma0(size)
    present = {c for c in np.unique(cls)}
    assert S.WATER in present and S.BUILDING in present and S.FOREST in present
    mean = {c: float(sigma[cls == c].mean()) for c in present}
    assert mean[S.WATER] < mean[S.FOREST] < mean[S.BUILDING]
    assert sigma.max() == pytest.approx(S.DOUBLE_BOUNCE)  # double-bounce lines exist in the urban blocks
    # optical colours: water is blue-dominant, forest green-dominant
    opt = S.make_optical_scene(seed, size).astype(float)
    w, f = opt[cls == S.WATER].mean(0), opt[cls == S.FOREST].mean(0)
    assert w[2] > w[0] and w[2] > w[1]
    assert f[1] > f[0] and f[1] > f[2]


def test_optical_scene_is_the_same_place_at_any_resolution():
    hr = S.make_optical_scene(5, 256).astype(float)
    lr = S.make_optical_scene(5, 64).astype(float)
    down = hr.reshape(64, 4, 64, 4, 3).mean(axis=(1, 3))
    other = S.make_optical_scene(6, 64).astype(float)
    err_same = np.abs(down - lr).mean()
    assert err_same < 8
    assert np.abs(other - lr).mean() > 3 * err_same
    # a sub-footprint is a crop of the full view: the top-left quarter at 64 px equals the full view at 128 px
    full = S.make_optical_scene(5, 128)
    quarter = S.make_optical_scene(5, 64, footprint=(0, 0, 0.5, 0.5))
    np.testing.assert_array_equal(full[:64, :64], quarter)
    # a variant (another date) is the same layout with other colours
    var = S.make_optical_scene(5, 64, variant=1).astype(float)
    assert 0 < np.abs(var - lr).mean() < np.abs(other - lr).mean() + 40


def test_dual_pol_and_sensors():
    sar, _ = S.make_pair(2, 48, dual_pol=True)
    assert sar.shape == (48, 48, 2)
    cls = S.make_class_map(2, 48)
    ratio = S.SyntheticScene(2).render_sigma0(48, dual_pol=True)
    r = ratio[..., 1] / ratio[..., 0]
    if (cls == S.FOREST).any() and (cls == S.WATER).any():
        assert r[cls == S.FOREST].mean() > r[cls == S.WATER].mean()
    a, _ = S.make_sensor_pair(4, "A", 64)
    b, _ = S.make_sensor_pair(4, "B", 64)
    assert b.mean() / a.mean() == pytest.approx(S.SENSORS["B"].gain / S.SENSORS["A"].gain, rel=0.15)


def test_sar_to_display_maps_the_db_range_linearly():
    x = np.array([1e-3, 10**-1.25, 10**0.5, 100.0], np.float32)  # -30, -12.5, +5, +20 dB
    np.testing.assert_array_equal(S.sar_to_display(x), [0, 128, 255, 255])
