"""Seeded synthetic SAR/optical scenes: paired training data for demos and tests (pure numpy + scipy).

A scene is defined in continuous map coordinates over the unit square (x to the right, y down), so the same
seed renders the same place at any pixel size or footprint: `make_optical_scene(seed, 1024)` and
`make_optical_scene(seed, 256)` show one landscape, the first 4x finer (useful for super-resolution HR / LR /
reference views). Contents:

- land cover from smooth random fields: forest, cropland (Voronoi parcels, each with its own crop colour,
  row direction and backscatter), grassland, bare soil, urban; lakes from a low field;
- a meandering river and a few roads (straight with a bend), drawn over the land cover;
- urban blocks: buildings on a street grid, with radar double-bounce (a very bright line where the wall facing
  the sensor meets the ground) and radar shadow behind each building. The radar looks from the left (-x).

Radar: per-class backscatter sigma0 (linear intensity) with its own texture, times `gain`, times L-look speckle
n ~ Gamma(L, 1/L) (mean 1, variance 1/L). Optical: per-class colour and texture, uint8 RGB.

A "sensor" is (looks, gain): `SENSORS` holds the two used by the demo models; the LoRA demo adapts a model
trained on sensor "A" to sensor "B" (single-look, 2.5x brighter, slightly blurred).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# ------------------------------------------------------------------------------------------ classes

WATER, FOREST, CROP, GRASS, BARE, URBAN, ROAD, BUILDING = range(8)
CLASS_NAMES = ("water", "forest", "cropland", "grassland", "bare soil", "urban ground", "road", "building")

# optical mean colour (RGB, 0..255) and texture amplitude per class
OPTICAL_COLOUR = np.array(
    [
        [28, 58, 92],  # water
        [34, 78, 38],  # forest
        [150, 160, 80],  # cropland (per parcel colours override this)
        [112, 152, 72],  # grassland
        [168, 146, 112],  # bare soil
        [128, 126, 122],  # urban ground (streets, yards)
        [92, 92, 96],  # road
        [176, 110, 96],  # building roof (per building colours override this)
    ],
    np.float32,
)
OPTICAL_TEXTURE = np.array([4, 22, 10, 12, 14, 10, 5, 14], np.float32)

# radar backscatter, linear intensity (VV), and its texture (std of log-normal modulation)
SIGMA0_VV = np.array([0.003, 0.09, 0.05, 0.03, 0.015, 0.08, 0.006, 0.25], np.float32)
SIGMA0_TEXTURE = np.array([0.15, 0.45, 0.2, 0.25, 0.2, 0.3, 0.1, 0.35], np.float32)
# VH / VV ratio per class (volume scattering is strong in forest, weak on water, bare soil and buildings)
VH_RATIO = np.array([0.08, 0.3, 0.18, 0.15, 0.06, 0.1, 0.05, 0.08], np.float32)

DOUBLE_BOUNCE = 3.0  # linear sigma0 of the wall/ground double-bounce line
SHADOW = 0.001  # linear sigma0 in radar shadow


@dataclass(frozen=True)
class Sensor:
    """Acquisition settings of a synthetic radar: speckle looks, radiometric gain, PSF blur in pixels."""

    looks: float = 4.0
    gain: float = 1.0
    blur: float = 0.0


SENSORS = {
    "A": Sensor(looks=4.0, gain=1.0, blur=0.0),  # the demo pix2pix / pix2pixHD models are trained on this one
    "B": Sensor(looks=1.0, gain=2.5, blur=0.7),  # the LoRA demo adapts to this one
}


# ------------------------------------------------------------------------------------------- scene


class SyntheticScene:
    """All random choices of one seeded scene, in unit-square map coordinates; render at any size."""

    def __init__(self, seed: int):
        self.seed = int(seed)
        rng = np.random.default_rng(self.seed)
        self.rng_state = rng
        # smooth land-cover fields: coarse random grids sampled with cubic splines (resolution independent)
        self.cover = rng.normal(size=(5, 7, 7)).astype(np.float32)  # forest, crop, grass, bare, urban
        self.cover_bias = np.array([0.0, 0.2, 0.0, -0.4, rng.uniform(-0.6, 0.3)], np.float32)
        self.lake = rng.normal(size=(5, 5)).astype(np.float32)
        self.lake_level = rng.uniform(1.6, 2.6)
        # fine texture grids (bilinear): two octaves of value noise
        self.fine = rng.normal(size=(2, 192, 192)).astype(np.float32)
        self.mid = rng.normal(size=(2, 48, 48)).astype(np.float32)
        # crop parcels: Voronoi cells
        n_parcels = int(rng.integers(30, 60))
        self.parcel_xy = rng.uniform(-0.05, 1.05, size=(n_parcels, 2))
        palette = np.array(
            [[196, 180, 90], [120, 160, 60], [150, 120, 80], [90, 140, 50], [200, 200, 120], [130, 110, 70]], np.float32
        )
        self.parcel_colour = palette[rng.integers(0, len(palette), n_parcels)] + rng.normal(0, 8, (n_parcels, 3))
        self.parcel_sigma = rng.uniform(0.02, 0.09, n_parcels).astype(np.float32)
        self.parcel_angle = rng.uniform(0, np.pi, n_parcels)
        self.parcel_freq = rng.uniform(60, 140, n_parcels)
        # river: y = a + b x + A sin(f x + p), or transposed
        self.river = dict(
            present=rng.random() < 0.75,
            a=rng.uniform(0.2, 0.8),
            b=rng.uniform(-0.3, 0.3),
            amp=rng.uniform(0.02, 0.08),
            freq=rng.uniform(4, 12),
            phase=rng.uniform(0, 2 * np.pi),
            width=rng.uniform(0.012, 0.03),
            transposed=rng.random() < 0.5,
        )
        # roads: segments through the square with one bend
        self.roads = []
        for _ in range(int(rng.integers(1, 4))):
            p0, p2 = rng.uniform(0, 1, 2), rng.uniform(0, 1, 2)
            side = rng.integers(0, 4)
            p0[side % 2] = 0.0 if side < 2 else 1.0
            p2[side % 2] = 1.0 if side < 2 else 0.0
            p1 = (p0 + p2) / 2 + rng.normal(0, 0.08, 2)
            self.roads.append((np.array([p0, p1, p2]), rng.uniform(0.004, 0.008)))
        # urban street grid: cells of `cell` size, one building per cell with random insets and roof colour
        self.cell = rng.uniform(1 / 30, 1 / 16)
        n = int(np.ceil(1.2 / self.cell)) + 2
        self.bld_inset = rng.uniform(0.12, 0.32, size=(n, n, 4)).astype(np.float32)  # left, top, right, bottom
        self.bld_present = rng.random((n, n)) < 0.85
        roofs = np.array([[176, 110, 96], [150, 150, 150], [200, 196, 186], [120, 90, 80]], np.float32)
        self.bld_colour = roofs[rng.integers(0, len(roofs), (n, n))] + rng.normal(0, 6, (n, n, 3))
        self.bld_sigma = rng.uniform(0.1, 0.4, (n, n)).astype(np.float32)
        self.wall = rng.uniform(0.08, 0.14)  # double-bounce / shadow band width as a fraction of the cell

    # ------------------------------------------------------------------------------------- geometry

    @staticmethod
    def grid(size: int, footprint=(0.0, 0.0, 1.0, 1.0)) -> tuple[np.ndarray, np.ndarray]:
        """Map coordinates (x, y) of pixel centres of a size x size raster over footprint (x0, y0, x1, y1)."""
        x0, y0, x1, y1 = footprint
        xs = x0 + (np.arange(size) + 0.5) / size * (x1 - x0)
        ys = y0 + (np.arange(size) + 0.5) / size * (y1 - y0)
        X, Y = np.meshgrid(xs, ys)
        return X.astype(np.float64), Y.astype(np.float64)

    @staticmethod
    def sample(field: np.ndarray, X: np.ndarray, Y: np.ndarray, order: int = 3) -> np.ndarray:
        """Sample a grid spread over the unit square at map coordinates (smooth, continuous, mirrored edges)."""
        from scipy import ndimage  # heavy (scipy, 30 MB): `train --help` loads this module for SENSORS

        h, w = field.shape
        return ndimage.map_coordinates(field, [Y * (h - 1), X * (w - 1)], order=order, mode="mirror").astype(np.float32)

    def classes(self, X: np.ndarray, Y: np.ndarray) -> dict:
        """Per-pixel class map plus the ids needed for per-object colours (parcel, building cell)."""
        fields = np.stack([self.sample(self.cover[k], X, Y) + self.cover_bias[k] for k in range(5)])
        cls = (np.argmax(fields, axis=0) + FOREST).astype(np.int8)  # FOREST..URBAN
        lake = self.sample(self.lake, X, Y)
        cls[lake > self.lake_level] = WATER
        r = self.river
        if r["present"]:
            u, v = (Y, X) if r["transposed"] else (X, Y)
            centre = r["a"] + r["b"] * u + r["amp"] * np.sin(r["freq"] * u + r["phase"])
            slope = np.sqrt(1 + (r["b"] + r["amp"] * r["freq"] * np.cos(r["freq"] * u + r["phase"])) ** 2)
            cls[np.abs(v - centre) / slope < r["width"]] = WATER
        # buildings only where the cover is urban
        ci = np.floor(X / self.cell).astype(int) + 1
        cj = np.floor(Y / self.cell).astype(int) + 1
        n = self.bld_present.shape[0]
        ci, cj = np.clip(ci, 0, n - 1), np.clip(cj, 0, n - 1)
        lx = X / self.cell - (ci - 1)
        ly = Y / self.cell - (cj - 1)
        ins = self.bld_inset[cj, ci]
        inside = (lx > ins[..., 0]) & (ly > ins[..., 1]) & (lx < 1 - ins[..., 2]) & (ly < 1 - ins[..., 3])
        urban = cls == URBAN
        building = urban & inside & self.bld_present[cj, ci]
        # double bounce: just in front of (left of) the wall facing the sensor; shadow: just behind the building
        rows = (ly > ins[..., 1]) & (ly < 1 - ins[..., 3]) & self.bld_present[cj, ci] & urban
        bounce = rows & (lx <= ins[..., 0]) & (lx > ins[..., 0] - self.wall)
        shadow = rows & (lx >= 1 - ins[..., 2]) & (lx < 1 - ins[..., 2] + 1.5 * self.wall)
        cls[building] = BUILDING
        # roads last: they cross everything except water
        road = np.zeros(X.shape, bool)
        for pts, width in self.roads:
            for a, b in zip(pts[:-1], pts[1:]):
                road |= _segment_distance(X, Y, a, b) < width
        road &= cls != WATER
        cls[road] = ROAD
        bounce &= ~road & (cls != WATER)
        shadow &= ~road & (cls != WATER) & (cls != BUILDING)
        parcel = None
        if (cls == CROP).any():
            parcel = np.zeros(X.shape, np.int32)
            m = cls == CROP
            from scipy.spatial import cKDTree  # heavy (scipy), as in sample

            _, parcel[m] = cKDTree(self.parcel_xy).query(np.stack([X[m], Y[m]], -1))
        return dict(cls=cls, parcel=parcel, cell=(cj, ci), bounce=bounce, shadow=shadow)

    # -------------------------------------------------------------------------------------- render

    def texture(self, X, Y, k: int = 0) -> np.ndarray:
        """Zero-mean, unit-ish texture: fine plus mid octave value noise."""
        return 0.7 * self.sample(self.fine[k], X, Y, order=1) + 0.5 * self.sample(self.mid[k], X, Y, order=1)

    def render_optical(
        self, size: int = 256, footprint=(0.0, 0.0, 1.0, 1.0), variant: int = 0, _layout: dict | None = None
    ) -> np.ndarray:
        """Clean optical view, uint8 (size, size, 3). `variant` > 0 shifts colours slightly (another date)."""
        X, Y = self.grid(size, footprint)
        lay = _layout or self.classes(X, Y)
        cls = lay["cls"]
        rgb = OPTICAL_COLOUR[cls].copy()
        tex = self.texture(X, Y, 0)
        if lay["parcel"] is not None:
            m = cls == CROP
            p = lay["parcel"][m]
            rows = np.sin(
                self.parcel_freq[p] * (X[m] * np.cos(self.parcel_angle[p]) + Y[m] * np.sin(self.parcel_angle[p]))
            )
            rgb[m] = self.parcel_colour[p] * (1 + 0.06 * rows[:, None]).astype(np.float32)
        cj, ci = lay["cell"]
        b = cls == BUILDING
        rgb[b] = self.bld_colour[cj[b], ci[b]]
        # the shadow side of buildings is darker in the optical view too (sun from the upper left)
        rgb[lay["shadow"]] *= 0.6
        rgb += (OPTICAL_TEXTURE[cls] * tex)[..., None]
        forest = cls == FOREST
        rgb[forest] *= (1 + 0.25 * np.tanh(self.texture(X, Y, 1)[forest]))[:, None]
        if variant:
            vr = np.random.default_rng([self.seed, int(variant)])
            rgb = rgb * vr.uniform(0.9, 1.1, 3).astype(np.float32) + vr.uniform(-10, 10)
        return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)

    def render_sigma0(
        self, size: int = 256, footprint=(0.0, 0.0, 1.0, 1.0), dual_pol: bool = False, _layout: dict | None = None
    ) -> np.ndarray:
        """Noise-free radar backscatter (linear intensity), (size, size) VV or (size, size, 2) VV, VH."""
        X, Y = self.grid(size, footprint)
        lay = _layout or self.classes(X, Y)
        cls = lay["cls"]
        tex = self.texture(X, Y, 1)
        sigma = SIGMA0_VV[cls] * np.exp(SIGMA0_TEXTURE[cls] * tex)
        if lay["parcel"] is not None:
            m = cls == CROP
            sigma[m] = self.parcel_sigma[lay["parcel"][m]] * np.exp(SIGMA0_TEXTURE[CROP] * tex[m])
        cj, ci = lay["cell"]
        b = cls == BUILDING
        sigma[b] = self.bld_sigma[cj[b], ci[b]] * np.exp(SIGMA0_TEXTURE[BUILDING] * tex[b])
        sigma[lay["bounce"]] = DOUBLE_BOUNCE
        sigma[lay["shadow"]] = SHADOW
        sigma = sigma.astype(np.float32)
        if not dual_pol:
            return sigma
        ratio = VH_RATIO[cls] * np.exp(0.2 * self.texture(X, Y, 0))
        ratio[lay["bounce"]] = 0.05
        return np.stack([sigma, (sigma * ratio).astype(np.float32)], axis=-1)


def _segment_distance(X, Y, a, b) -> np.ndarray:
    d = b - a
    t = np.clip(((X - a[0]) * d[0] + (Y - a[1]) * d[1]) / max(float(d @ d), 1e-12), 0, 1)
    return np.hypot(X - (a[0] + t * d[0]), Y - (a[1] + t * d[1]))


# ------------------------------------------------------------------------------------- public API


def add_speckle(intensity: np.ndarray, looks: float, rng: np.random.Generator) -> np.ndarray:
    """Multiplicative L-look speckle on linear intensity: I * n, n ~ Gamma(L, 1/L) (mean 1, variance 1/L)."""
    n = rng.gamma(looks, 1.0 / looks, intensity.shape)
    return (intensity * n).astype(np.float32)


def make_pair(
    seed: int,
    size: int = 256,
    looks: float = 4.0,
    gain: float = 1.0,
    blur: float = 0.0,
    dual_pol: bool = False,
    footprint=(0.0, 0.0, 1.0, 1.0),
) -> tuple[np.ndarray, np.ndarray]:
    """One co-registered pair: (SAR linear intensity float32 (size, size) or (size, size, 2) for VV+VH,
    optical uint8 (size, size, 3)). Same seed, same pair; the speckle is drawn from the seed as well."""
    scene = SyntheticScene(seed)
    X, Y = scene.grid(size, footprint)
    lay = scene.classes(X, Y)
    optical = scene.render_optical(size, footprint, _layout=lay)
    sigma = scene.render_sigma0(size, footprint, dual_pol=dual_pol, _layout=lay) * np.float32(gain)
    if blur > 0:
        axes = (blur, blur, 0) if sigma.ndim == 3 else blur
        from scipy import ndimage  # heavy (scipy), as in SyntheticScene.sample

        sigma = ndimage.gaussian_filter(sigma, axes, mode="reflect").astype(np.float32)
    sar = add_speckle(sigma, looks, np.random.default_rng([int(seed), 7919]))
    return sar, optical


def make_sensor_pair(seed: int, sensor: str = "A", size: int = 256, dual_pol: bool = False):
    """make_pair with the looks, gain and blur of one of SENSORS ("A" or "B")."""
    s = SENSORS[sensor]
    return make_pair(seed, size, looks=s.looks, gain=s.gain, blur=s.blur, dual_pol=dual_pol)


def make_optical_scene(seed: int, size: int = 256, footprint=(0.0, 0.0, 1.0, 1.0), variant: int = 0) -> np.ndarray:
    """The clean optical scene of `seed` over `footprint` (x0, y0, x1, y1 in the unit square), uint8 RGB.

    The scene is continuous: rendering the same footprint at 4x the size gives the same place 4x finer, and
    a shifted or larger footprint gives the neighbourhood. `variant` changes the colours a little (as another
    acquisition date would), for reference images that are not identical to the target."""
    return SyntheticScene(seed).render_optical(size, footprint, variant=variant)


def make_class_map(seed: int, size: int = 256, footprint=(0.0, 0.0, 1.0, 1.0)) -> np.ndarray:
    """Class index per pixel (see CLASS_NAMES), int8 (size, size)."""
    scene = SyntheticScene(seed)
    X, Y = scene.grid(size, footprint)
    return scene.classes(X, Y)["cls"]


def sar_to_display(intensity: np.ndarray, db_range: tuple[float, float] = (-30.0, 5.0)) -> np.ndarray:
    """Linear intensity -> 8-bit display with a fixed dB range (as SEN1-2 style PNG datasets store SAR)."""
    db = 10.0 * np.log10(np.maximum(intensity, 1e-10))
    lo, hi = db_range
    return np.clip(np.rint((db - lo) / (hi - lo) * 255.0), 0, 255).astype(np.uint8)
