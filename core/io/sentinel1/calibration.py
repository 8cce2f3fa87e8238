"""Calibration LUTs of a Sentinel-1 measurement and their evaluation on any window.

`VectorGrid` holds vectors of values at azimuth lines, each with its own list of range pixels (the calibration and
noise-range XML both have this shape; real noise vectors do not share one pixel list). A value at (line, pixel) is
linear in pixel within a vector and linear in line between the two vectors around it, with the first and last
intervals extended past the end knots: the bilinear rule of GDAL's SAFECalibratedRasterBand, and what SNAP does.
`at(rows, cols)` evaluates only the vectors the window needs, so memory is a few window-sized arrays whatever
the scene.

`read_calibration(files, rel, name)` parses `calibrationVectorList` (sigmaNought, betaNought, gamma) and refuses
non-numeric values, NaN, and values <= 0 (A is a divisor: -1 or 0 is a broken file, not a gain).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import UserError
from core.io.sentinel1.metadata import number, numbers
from core.io.sentinel1.safexml import ProductFiles

CALIBRATIONS = ("sigma0", "beta0", "gamma0", "none")  # what a product can be read as ("none": DN as stored)
LUT_TAGS = {"sigma0": "sigmaNought", "beta0": "betaNought", "gamma0": "gamma"}


def knot_index(x: np.ndarray, knots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Interval index and fraction of every x between sorted knots (end intervals extended)."""
    if len(knots) == 1:
        return np.zeros(len(x), dtype=np.int64), np.zeros(len(x))
    i = np.clip(np.searchsorted(knots, x, side="right") - 1, 0, len(knots) - 2)
    mu = (x - knots[i]) / (knots[i + 1] - knots[i])
    return i, mu


@dataclass
class VectorGrid:
    lines: np.ndarray  # (V,) increasing
    pixels: list[np.ndarray]  # per vector, increasing
    values: list[np.ndarray]  # per vector, same length as its pixels

    def along(self, k: int, cols: np.ndarray) -> np.ndarray:
        """Vector k at `cols`, linear between its pixels (end intervals extended)."""
        px, val = self.pixels[k], self.values[k]
        if len(px) == 1:
            return np.full(len(cols), val[0])
        j, nu = knot_index(cols, px)
        return val[j] * (1 - nu) + val[j + 1] * nu

    def at(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Values on the grid rows x cols (any row order): (len(rows), len(cols))."""
        rows = np.asarray(rows, dtype=np.float64)
        cols = np.asarray(cols, dtype=np.float64)
        i, mu = knot_index(rows, self.lines)
        nxt = np.minimum(i + 1, len(self.lines) - 1)
        needed = np.unique(np.concatenate([i, nxt]))
        stack = np.stack([self.along(int(k), cols) for k in needed])
        pos = np.searchsorted(needed, i), np.searchsorted(needed, nxt)
        return stack[pos[0]] * (1 - mu[:, None]) + stack[pos[1]] * mu[:, None]

    def row_of_vector(self, k: int, cols: np.ndarray) -> np.ndarray:
        return self.along(k, np.asarray(cols, dtype=np.float64))


def vector_grid(vectors: list, lut_tag: str, where: str, positive: bool, pixel_tag: str = "pixel") -> VectorGrid:
    lines, pixels, values = [], [], []
    for vec in vectors:
        lines.append(number(vec, "line", where))
        px = numbers(vec, pixel_tag, where)
        val = numbers(vec, lut_tag, where)
        if len(px) != len(val) or len(px) == 0:
            raise UserError(
                f"{where}: a {lut_tag} vector has {len(val)} values for {len(px)} pixels; the file is malformed."
            )
        if positive and (val <= 0).any():
            raise UserError(
                f"{where}: {lut_tag} holds {val[val <= 0][0]:g}, but calibration values must be > 0; the file is "
                "malformed (download the product again, or use --calibration none)."
            )
        if not positive and (val < 0).any():
            raise UserError(
                f"{where}: {lut_tag} holds negative noise power {val[val < 0][0]:g}; the file is malformed."
            )
        if (np.diff(px) <= 0).any():
            raise UserError(f"{where}: a {lut_tag} vector's pixels are not increasing; the file is malformed.")
        pixels.append(px)
        values.append(val)
    if not lines:
        raise UserError(f"{where} has no {lut_tag} vectors; the file is incomplete, download the product again.")
    order = np.argsort(lines, kind="stable")
    line_arr = np.array(lines)[order]
    if (np.diff(line_arr) <= 0).any():
        raise UserError(f"{where}: two {lut_tag} vectors share a line; the file is malformed.")
    return VectorGrid(line_arr, [pixels[k] for k in order], [values[k] for k in order])


def read_calibration(files: ProductFiles, rel: str, calibration: str) -> VectorGrid:
    """The A LUT (sigmaNought, betaNought or gamma) of one measurement's calibration file."""
    if not rel:
        raise UserError(f"{files.name}: the manifest names no calibration file; use --calibration none.")
    if not files.exists(rel):
        raise UserError(
            f"{files.name} lacks {rel} (the annotation/calibration folder); download the product again or use "
            "--calibration none --noise keep."
        )
    root = files.xml(rel)
    return vector_grid(list(root.iter("calibrationVector")), LUT_TAGS[calibration], f"{files.name}: {rel}", True)
