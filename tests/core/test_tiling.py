"""core.tiling: coverage, exact reconstruction, scale, no seams, tiny images."""

import numpy as np
import pytest

from core.tiling import count_tiles, feather_weights, tile_blend, tile_starts


@pytest.mark.parametrize("length,tile,overlap", [(1000, 256, 32), (256, 256, 32), (257, 256, 32), (700, 128, 0)])
def test_tile_starts_cover_with_overlap(length, tile, overlap):
    starts = tile_starts(length, tile, overlap)
    covered = np.zeros(length, bool)
    for s in starts:
        covered[s : s + tile] = True
    assert covered.all() and starts[0] == 0 and starts[-1] + tile == length
    assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:]))


def test_feather_weights_zero_margin_then_ramp_at_inner_edges_full_at_image_borders():
    # overlap 3: margin 1 (zero weight), ramp of 1 (0.5), then 1
    np.testing.assert_allclose(feather_weights(8, 3), [0, 0.5, 1, 1, 1, 1, 0.5, 0])
    np.testing.assert_allclose(feather_weights(8, 3, first_is_border=True), [1, 1, 1, 1, 1, 1, 0.5, 0])
    np.testing.assert_allclose(feather_weights(8, 3, True, True), np.ones(8))
    # overlap 9: margin 3, ramp 1/4 2/4 3/4
    np.testing.assert_allclose(feather_weights(20, 9)[:7], [0, 0, 0, 0.25, 0.5, 0.75, 1])


def test_identity_and_affine_are_reconstructed_exactly(rng):
    x = rng.random((300, 517, 3), dtype=np.float32)
    np.testing.assert_allclose(tile_blend(x, lambda t: t, tile=128, overlap=24), x, atol=1e-6)
    # any per-pixel affine map survives blending (weights are normalised)
    np.testing.assert_allclose(
        tile_blend(x, lambda t: 2 * t + 1, tile=100, overlap=10, batch_size=4), 2 * x + 1, atol=1e-5
    )


def test_scale_and_channel_change(rng):
    x = rng.random((70, 90, 1), dtype=np.float32)

    def up2_rgb(t):
        u = t.repeat(2, axis=1).repeat(2, axis=2)
        return np.concatenate([u, u * 0.5, u * 0], axis=3)

    out = tile_blend(x, up2_rgb, tile=32, overlap=8, scale=2)
    assert out.shape == (140, 180, 3)
    np.testing.assert_allclose(out[..., 0], x[..., 0].repeat(2, 0).repeat(2, 1), atol=1e-6)
    np.testing.assert_allclose(out[..., 1], 0.5 * out[..., 0], atol=1e-6)


def test_image_smaller_than_tile_is_padded_and_cropped(rng):
    x = rng.random((20, 30, 3), dtype=np.float32)
    seen = []

    def fn(t):
        seen.append(t.shape)
        return t * 3

    out = tile_blend(x, fn, tile=64, overlap=8)
    assert seen == [(1, 64, 64, 3)] and out.shape == (20, 30, 3)
    np.testing.assert_allclose(out, 3 * x, atol=1e-6)


def test_blending_removes_seams_between_disagreeing_tiles():
    # each tile adds its own constant offset: with feathering the output varies smoothly, no jump at a seam
    x = np.zeros((64, 200, 1), np.float32)
    counter = iter(range(1000))

    def fn(t):
        return t + np.array([next(counter) for _ in range(len(t))], np.float32)[:, None, None, None]

    out = tile_blend(x, fn, tile=64, overlap=32)[0, :, 0]
    # spread over the middle third of the overlap (the outer thirds are excluded: padding-affected outputs)
    assert np.abs(np.diff(out)).max() < 0.2
    hard = tile_blend(x, fn, tile=64, overlap=0)[0, :, 0]
    assert np.abs(np.diff(hard)).max() == pytest.approx(1.0)  # without overlap the seam jumps by 1


def test_count_and_progress():
    calls = []
    tile_blend(
        np.zeros((300, 300, 1), np.float32),
        lambda t: t,
        tile=128,
        overlap=16,
        batch_size=2,
        progress=lambda f, m: calls.append(f),
    )
    assert count_tiles(300, 300, 128, 16) == 9 and len(calls) == 5 and calls[-1] == 1.0
