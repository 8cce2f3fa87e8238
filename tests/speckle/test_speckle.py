"""Speckle filters against plain per-pixel loops written from the formulas, mean radiometry, ENL, NaN/nodata,
and MERLIN against deepdespeckling's own network and pipeline."""

import math
import sys
import types

import numpy as np
import pytest

from core import io as sio
from core import speckle as sp
from core.errors import UserError
from core.speckle import filters as spf
from core.speckle import refined_lee as spr

# ----------------------------------------------------------------------------- independent reference loops
# Convention: a window is clipped to the image and only valid pixels in it count.


def _window(img, ok, y, x, r):
    h, w = img.shape
    vals = []
    for yy in range(max(0, y - r), min(h, y + r + 1)):
        for xx in range(max(0, x - r), min(w, x + r + 1)):
            if ok[yy, xx]:
                vals.append((yy - y, xx - x, float(img[yy, xx])))
    return vals


def _stats(vals):
    v = [t[2] for t in vals]
    m = sum(v) / len(v)
    return m, sum((a - m) ** 2 for a in v) / len(v)


def ref_filter(img, ok, window, rule):
    out = np.full(img.shape, np.nan)
    for y in range(img.shape[0]):
        for x in range(img.shape[1]):
            if ok[y, x]:
                out[y, x] = rule(float(img[y, x]), _window(img, ok, y, x, window // 2))
    return out


def lee_rule(L):
    def rule(i, vals):
        m, v = _stats(vals)
        ci2 = v / (m * m)
        w = max(0.0, 1 - (1 / L) / ci2) if ci2 > 0 else 0.0
        return m + w * (i - m)

    return rule


def kuan_rule(L):
    def rule(i, vals):
        m, v = _stats(vals)
        ci2 = v / (m * m)
        w = max(0.0, (1 - (1 / L) / ci2) / (1 + 1 / L)) if ci2 > 0 else 0.0
        return m + w * (i - m)

    return rule


def gamma_map_rule(L):
    def rule(i, vals):
        m, v = _stats(vals)
        cu, ci = math.sqrt(1 / L), math.sqrt(v) / m
        if ci <= cu:
            return m
        if ci >= math.sqrt(2) * cu:
            return i
        a = (1 + cu * cu) / (ci * ci - cu * cu)
        b = a - L - 1
        return (b * m + math.sqrt(m * m * b * b + 4 * a * L * i * m)) / (2 * a)

    return rule


def frost_rule(k):
    def rule(i, vals):
        m, v = _stats(vals)
        a = k * v / (m * m)
        ws = [math.exp(-a * math.hypot(dy, dx)) for dy, dx, _ in vals]
        return sum(w * t[2] for w, t in zip(ws, vals)) / sum(ws)

    return rule


def gaussian_rule(sigma):
    def rule(i, vals):
        ws = [math.exp(-(dy * dy + dx * dx) / (2 * sigma * sigma)) for dy, dx, _ in vals]
        return sum(w * t[2] for w, t in zip(ws, vals)) / sum(ws)

    return rule


def bilateral_rule(ss, sr):
    def rule(i, vals):
        d0 = 10 * math.log10(max(i, 1e-10))
        num = den = 0.0
        for dy, dx, v in vals:
            d = 10 * math.log10(max(v, 1e-10))
            w = math.exp(-(dy * dy + dx * dx) / (2 * ss * ss)) * math.exp(-((d - d0) ** 2) / (2 * sr * sr))
            num += w * d
            den += w
        return 10 ** (num / den / 10)

    return rule


def ref_refined_lee(img, ok, window, L):
    """Refined Lee written out per pixel: 3x3 means on a 3x3 grid (spacing (window-3)/2, positions clamped to
    the image), strongest of 4 gradients, side closer to the centre mean, Lee in that half window."""
    h, w = img.shape
    c = window // 2
    d = (window - 3) // 2
    fallback = float(img[ok].mean())

    def mean3(y, x):
        y, x = min(max(y, 0), h - 1), min(max(x, 0), w - 1)
        vals = _window(img, ok, y, x, 1)
        return sum(t[2] for t in vals) / len(vals) if vals else fallback

    halves = [
        lambda i, j: j <= c,
        lambda i, j: j >= c,
        lambda i, j: i <= c,
        lambda i, j: i >= c,
        lambda i, j: i + j <= 2 * c,
        lambda i, j: i + j >= 2 * c,
        lambda i, j: j >= i,
        lambda i, j: j <= i,
    ]
    out = np.full(img.shape, np.nan)
    for y in range(h):
        for x in range(w):
            if not ok[y, x]:
                continue
            s = [[mean3(y + dy, x + dx) for dx in (-d, 0, d)] for dy in (-d, 0, d)]
            grads = [
                abs(sum(s[i][2] for i in range(3)) - sum(s[i][0] for i in range(3))),
                abs(sum(s[2]) - sum(s[0])),
                abs(s[0][0] + s[0][1] + s[1][0] - s[2][2] - s[2][1] - s[1][2]),
                abs(s[0][2] + s[0][1] + s[1][2] - s[2][0] - s[1][0] - s[2][1]),
            ]
            k = grads.index(max(grads))
            a, b = [(s[1][0], s[1][2]), (s[0][1], s[2][1]), (s[0][0], s[2][2]), (s[0][2], s[2][0])][k]
            choice = 2 * k + (1 if abs(s[1][1] - a) > abs(s[1][1] - b) else 0)
            vals = [t for t in _window(img, ok, y, x, c) if halves[choice](t[0] + c, t[1] + c)]
            out[y, x] = lee_rule(L)(float(img[y, x]), vals)
    return out


@pytest.fixture
def small(rng):
    """20x23 speckled two-level scene with a bright line and three invalid (NaN) pixels."""
    scene = np.full((20, 23), 1.0)
    scene[:, 12:] = 6.0
    scene[5, :] = 30.0
    img = (scene * rng.gamma(2.0, 0.5, scene.shape)).astype(np.float32)
    img[3, 4] = img[10, 15] = img[19, 0] = np.nan
    return img, np.isfinite(img)


CASES = [
    ("boxcar", {"window": 5}, lambda: (5, lambda i, v: _stats(v)[0])),
    ("lee", {"window": 7, "looks": 2.0}, lambda: (7, lee_rule(2.0))),
    ("kuan", {"window": 5, "looks": 3.0}, lambda: (5, kuan_rule(3.0))),
    ("gamma_map", {"window": 7, "looks": 2.0}, lambda: (7, gamma_map_rule(2.0))),
    ("gamma_map", {"window": 5, "looks": 8.0}, lambda: (5, gamma_map_rule(8.0))),
    ("frost", {"window": 7, "damping": 2.0}, lambda: (7, frost_rule(2.0))),
    ("frost", {"window": 5, "damping": 0.5}, lambda: (5, frost_rule(0.5))),
    ("gaussian", {"window": 5, "sigma": 1.2}, lambda: (5, gaussian_rule(1.2))),
    ("bilateral", {"window": 5, "sigma_space": 1.5, "sigma_db": 3.0}, lambda: (5, bilateral_rule(1.5, 3.0))),
]


@pytest.mark.parametrize("name,params,ref", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_filter_matches_per_pixel_loop(small, name, params, ref):
    img, ok = small
    window, rule = ref()
    expected = ref_filter(img.astype(np.float64), ok, window, rule)
    got = sp.despeckle(img, name, **params)
    assert np.array_equal(np.isnan(got), ~ok)  # invalid stays invalid, every valid pixel gets a value
    np.testing.assert_allclose(got[ok], expected[ok], rtol=2e-4, atol=1e-5)


@pytest.mark.parametrize("window", [5, 7, 9])
def test_refined_lee_matches_per_pixel_loop(small, window):
    img, ok = small
    expected = ref_refined_lee(img.astype(np.float64), ok, window, 2.0)
    got = sp.despeckle(img, "refined_lee", window=window, looks=2.0)
    assert np.array_equal(np.isnan(got), ~ok)
    np.testing.assert_allclose(got[ok], expected[ok], rtol=2e-4, atol=1e-5)


@pytest.mark.parametrize("window", [3, 5, 7])
def test_median_matches_np_median_in_the_interior(rng, window):
    img = (rng.gamma(1.0, 1.0, (18, 21)) * 5).astype(np.float32)
    got = sp.despeckle(img, "median", window=window)
    r = window // 2
    for y in range(r, 18 - r):
        for x in range(r, 21 - r):
            assert got[y, x] == pytest.approx(float(np.median(img[y - r : y + r + 1, x - r : x + r + 1])), rel=1e-6)


def test_median_keeps_nan_and_fills_neighbours(small):
    img, ok = small
    got = sp.despeckle(img, "median", window=3)
    assert np.array_equal(np.isnan(got), ~ok)


def test_refined_lee_follows_a_vertical_edge():
    """On a noise-free step the half window on the pixel's own side is used, so the step stays sharp."""
    img = np.ones((15, 16), np.float32)
    img[:, 8:] = 10.0
    out = sp.despeckle(img, "refined_lee", window=7, looks=1.0)
    np.testing.assert_allclose(out, img, rtol=1e-5)
    blurred = sp.despeckle(img, "lee", window=7, looks=1.0)
    assert abs(blurred[7, 7] - 1.0) > 0.01 or abs(blurred[7, 8] - 10.0) > 0.01  # plain Lee (W=0 on flat) differs


KEEPS_MEAN = [n for n, f in sp.FILTERS.items() if f.keeps_mean and not f.deep]


@pytest.mark.parametrize("name", KEEPS_MEAN)
def test_mean_radiometry_is_kept_on_speckled_flat_areas(speckled, name):
    img, scene, looks = speckled
    params = {"looks": looks} if "looks" in sp.FILTERS[name].param_names else {}
    out = sp.despeckle(img, name, **params)
    for sl in (np.s_[:, :56], np.s_[:, 72:]):  # the two flat halves, away from the step
        assert out[sl].mean() / img[sl].mean() == pytest.approx(1.0, abs=0.02)
    assert out.std() < img.std()


def test_filters_reduce_speckle_variance(speckled):
    img, scene, looks = speckled
    flat = np.s_[10:86, 72:118]
    for name in sp.FILTERS:
        if sp.FILTERS[name].deep:
            continue
        out = sp.despeckle(img, name, **({"looks": looks} if "looks" in sp.FILTERS[name].param_names else {}))
        enl_out = out[flat].mean() ** 2 / out[flat].var()
        assert enl_out > 1.5 * looks, name


@pytest.mark.parametrize("looks", [1, 4])
def test_estimate_enl_of_gamma_speckle_is_the_number_of_looks(rng, looks):
    scene = np.full((160, 160), 3.0)
    scene[:, 80:] = 0.5
    img = (scene * rng.gamma(looks, 1.0 / looks, scene.shape)).astype(np.float32)
    assert sp.estimate_enl(img) == pytest.approx(looks, rel=0.15)


def test_lee_without_looks_uses_the_estimate(speckled):
    img, _, looks = speckled
    est = sp.estimate_enl(img)
    np.testing.assert_allclose(sp.despeckle(img, "lee"), sp.despeckle(img, "lee", looks=est), rtol=1e-6)


def test_raster_kinds_and_nodata_round_trip(rng, utm_geo):
    inten = (rng.gamma(1.0, 1.0, (24, 26)) * 0.1).astype(np.float32)
    db = sio.to_db(inten)
    db[0, 0] = -9999.0
    raster = sio.Raster(data=db, kind="db", name="x.tif", geo=utm_geo)
    out = sp.despeckle_raster(raster, "lee", window=5, looks=1.0)
    assert out.kind == "db" and out.geo == utm_geo and out.data.dtype == np.float32
    assert out.data[0, 0] == -9999.0
    ok = np.ones(inten.shape, bool)
    ok[0, 0] = False
    expected = ref_filter(inten.astype(np.float64), ok, 5, lee_rule(1.0))
    np.testing.assert_allclose(sio.to_intensity(out.data, "db")[ok], expected[ok], rtol=2e-4)


def test_dual_band_is_filtered_per_band(rng):
    img = rng.gamma(1.0, 1.0, (16, 18, 2)).astype(np.float32)
    img[..., 1] *= 0.2
    out = sp.despeckle(img, "kuan", window=5, looks=1.0)
    for b in range(2):
        np.testing.assert_allclose(out[..., b], sp.despeckle(img[..., b], "kuan", window=5, looks=1.0))


def test_progress_reaches_one(speckled):
    seen = []
    sp.despeckle(np.stack([speckled[0]] * 2, -1), "boxcar", progress=lambda f, m: seen.append(f))
    assert seen[-1] == pytest.approx(1.0) and seen == sorted(seen)


@pytest.mark.parametrize(
    "kwargs,words",
    [
        ({"name": "nope"}, "unknown filter"),
        ({"name": "lee", "window": 4}, "odd whole number"),
        ({"name": "lee", "window": 1}, "odd whole number"),
        ({"name": "lee", "looks": -1.0}, "positive number"),
        ({"name": "frost", "damping": 0.0}, "positive number"),
        ({"name": "lee", "damping": 2.0}, "no parameter 'damping'"),
        ({"name": "refined_lee", "window": 3}, "from 5"),
        ({"name": "merlin", "model": "xband"}, "must be one of"),
    ],
)
def test_bad_parameters_give_one_sentence(speckled, kwargs, words):
    with pytest.raises(UserError) as exc:
        sp.despeckle(speckled[0], **kwargs)
    assert words in str(exc.value) and "\n" not in str(exc.value)


def test_all_nan_is_refused():
    with pytest.raises(UserError, match="no valid pixels"):
        sp.despeckle(np.full((8, 8), np.nan, np.float32), "lee")


# -------------------------------------------------------------------------------------------------- MERLIN


def test_merlin_network_matches_deepdespeckling_model():
    import torch
    from deepdespeckling.model import Model

    from core.checkpoints import torch_load_weights

    for variant in sp.MERLIN_MODELS:
        state = torch_load_weights(sp.merlin_weights_path(variant))
        ours = sp.load_merlin(variant, "cpu")
        theirs = Model("cpu", 32, 32)
        theirs.load_state_dict(state)
        theirs.eval()
        x = torch.randn(1, 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 0.2 + 0.5
        with torch.no_grad():
            torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=0)


def _deepdespeckling_denoiser(model_name):
    if "osgeo" not in sys.modules:  # deepdespeckling imports GDAL's python bindings only to read .tiff SLCs
        fake = types.ModuleType("osgeo")
        fake.gdal = None
        sys.modules["osgeo"] = fake
    from deepdespeckling.merlin.merlin_denoiser import MerlinDenoiser

    den = MerlinDenoiser(model_name=model_name, symetrise=False)
    den.device = "cpu"
    return den


def test_merlin_pipeline_matches_deepdespeckling_on_one_patch(rng, variant="sentinel_tops", their_name="Sentinel-TOPS"):
    """One 64x64 patch: our tiled pipeline (without the mean correction) gives deepdespeckling's own
    denoise_image result on the same real/imaginary parts (same random phase, same level scaling)."""
    inten = (rng.exponential(1.0, (64, 64)) * 50.0).astype(np.float32)
    ours = sp.merlin_filter(inten, model=variant, keep_mean=False, device="cpu", seed=7, tile=64)
    level = sp.MERLIN_MODELS[variant][3]
    gain = np.float32(level / np.median(inten))
    amp = np.sqrt(inten * gain)
    phase = np.random.default_rng(7).uniform(0, 2 * np.pi, inten.shape).astype(np.float32)
    slc = np.stack([amp * np.cos(phase), amp * np.sin(phase)], axis=-1)
    res = _deepdespeckling_denoiser(their_name).denoise_image(slc, patch_size=64, stride_size=62)
    theirs = res["denoised"]["full"] ** 2 / gain
    np.testing.assert_allclose(ours, theirs, rtol=2e-3)


def test_merlin_keeps_mean_and_nan_on_a_speckled_scene(speckled):
    img, scene, looks = speckled
    img = img.copy()
    img[40, 40] = np.nan
    out = sp.despeckle(img * 1e4, "merlin", device="cpu") / 1e4
    assert np.isnan(out[40, 40]) and np.isfinite(np.delete(out.ravel(), 40 * 128 + 40)).all()
    for sl in (np.s_[:, :56], np.s_[:, 72:]):
        assert np.nanmean(out[sl]) / np.nanmean(img[sl]) == pytest.approx(1.0, abs=0.03)
    flat = np.s_[10:86, 72:118]
    assert out[flat].mean() ** 2 / out[flat].var() > 3 * looks


def test_merlin_cuda_request_falls_back_with_a_note(speckled, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    notes = []
    sp.despeckle(speckled[0][:64, :64], "merlin", device="cuda", notes=notes)
    assert any("CUDA" in n and "CPU" in n for n in notes)


def test_row_blocks_give_the_same_result_as_one_block(rng):
    """Refined Lee, bilateral, Frost, Lee, Kuan and Gamma-MAP run in blocks of rows on tall images; the seams
    must not show."""
    img = (rng.gamma(1.0, 1.0, (600, 40)) * np.linspace(1, 5, 40)).astype(np.float32)
    img[300, 7] = np.nan
    ok = np.isfinite(img)
    x = np.where(ok, img, 0).astype(np.float32)
    m = ok.astype(np.float32)
    whole = spr._refined_lee_block(x, m, 7, 1.0, float(img[ok].mean()))
    np.testing.assert_allclose(sp.despeckle(img, "refined_lee", window=7, looks=1.0)[ok], whole[ok], rtol=1e-6)
    whole = spf._bilateral_block(x, m, 2, 1.5, 3.0, False)
    np.testing.assert_allclose(sp.despeckle(img, "bilateral")[ok], whole[ok], rtol=1e-6)
    whole = spf._frost_block(x, m, 7, 2.0)
    np.testing.assert_allclose(sp.despeckle(img, "frost")[ok], whole[ok], rtol=1e-6)
    tall = np.concatenate([img, img, img])  # 1800 rows: moment filters use blocks of 512 rows
    for name in ("lee", "kuan", "gamma_map"):
        got = sp.despeckle(tall, name, window=9, looks=1.0)
        okt = np.isfinite(tall)
        ref = ref_filter(tall[500:530].astype(np.float64), okt[500:530], 9, lee_rule(1.0)) if name == "lee" else None
        if ref is not None:  # rows 504..525 have their whole window inside the 30-row slice
            np.testing.assert_allclose(got[504:526][okt[504:526]], ref[4:26][okt[504:526]], rtol=2e-4)
        rule = {"lee": spf._lee_rule, "kuan": spf._kuan_rule, "gamma_map": spf._gamma_map_rule}[name]
        xt = np.where(okt, tall, 0).astype(np.float32)
        mean, var, _ = sp.local_moments(xt, 9, okt)
        np.testing.assert_allclose(got[okt], rule(xt, mean, var, 1.0)[okt], rtol=1e-5)
