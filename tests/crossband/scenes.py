"""Display images for the cross-band tests."""

import numpy as np


def scene(rng, size=64, contrast=1.0):
    """A display image: a bright disc on a ramp, with multiplicative speckle of the given strength."""
    yy, xx = np.mgrid[:size, :size]
    base = 0.3 + 0.4 * xx / size + 0.3 * (((yy - size / 2) ** 2 + (xx - size / 3) ** 2) < (size / 4) ** 2)
    noisy = base * rng.gamma(4.0 / contrast, contrast / 4.0, base.shape)
    return np.clip(noisy * 200, 0, 255).astype(np.uint8)
