"""A convolutional network run tile by tile through core.tiling.tile_blend agrees with the same network run on
the whole image, away from the image border, when its receptive field is smaller than the tile overlap."""

import numpy as np
import torch

from core.tiling import tile_blend


def _net():
    torch.manual_seed(0)
    net = torch.nn.Sequential(  # receptive field 7 x 7 (radius 3), zero padding at the borders of every input
        torch.nn.Conv2d(2, 5, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(5, 4, 3, padding=1),
        torch.nn.Tanh(),
        torch.nn.Conv2d(4, 3, 3, padding=1),
    ).double()
    return net.eval()


def _run(net, batch_nhwc):
    with torch.no_grad():
        x = torch.from_numpy(np.ascontiguousarray(batch_nhwc, np.float64)).permute(0, 3, 1, 2)
        return net(x).permute(0, 2, 3, 1).numpy()


def test_tiled_convnet_equals_untiled_in_the_interior(rng):
    net = _net()
    image = rng.normal(size=(61, 75, 2)).astype(np.float32)
    whole = _run(net, image[None])[0]
    tiled = tile_blend(image, lambda b: _run(net, b), tile=24, overlap=10, batch_size=3)
    assert tiled.shape == whole.shape
    r = 3  # receptive-field radius: within r of the image border the whole-image run also sees padding
    np.testing.assert_allclose(tiled[r:-r, r:-r], whole[r:-r, r:-r], rtol=0, atol=1e-5)
