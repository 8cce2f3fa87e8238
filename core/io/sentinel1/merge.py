"""Merging the debursted swaths of a TOPS (IW / EW) SLC into one image, as SNAP's TOPSAR-Merge.

Each swath is first read as its own `ProductSource` (noise removed, calibrated, debursted). They share the azimuth
time interval and the range sampling rate; a swath's place on the merged grid is
    line offset   = (its first output line's azimuth time − the earliest one) / azimuthTimeInterval, rounded
    sample offset = (its first sample's slant range time − the nearest one) × rangeSamplingRate, rounded.
Adjacent swaths overlap in range: each keeps the samples it has valid on every line (the largest
firstValidSample, the smallest lastValidSample) and the overlap of two is cut at its middle. Where no swath has
data the value is 0 (nodata). Reading a window reads only the swaths it touches, each for that window only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.errors import UserError
from core.io.sentinel1.metadata import Product
from core.io.sentinel1.reader import ProductSource
from core.io.source import Window


@dataclass
class _Part:
    src: ProductSource
    row: int  # line offset on the merged grid
    col: int  # sample offset
    lo: int  # first merged column this swath provides (inclusive)
    hi: int  # last (exclusive)


@dataclass
class MergedSource(ProductSource):
    parts: list[_Part] = field(default_factory=list, repr=False)

    @property
    def count(self) -> int:
        return self.parts[0].src.count

    @property
    def clipped_fraction(self) -> float:
        counted = sum(p.src.counted for p in self.parts)
        return sum(p.src.clipped for p in self.parts) / counted if counted else 0.0

    def read(self, window: Window | None = None) -> np.ndarray:
        win = window or Window(0, 0, self.height, self.width)
        shape = (win.height, win.width) if self.count == 1 else (win.height, win.width, self.count)
        out = np.zeros(shape, dtype=self.dtype)
        for p in self.parts:
            c0, c1 = max(win.col, p.lo), min(win.col + win.width, p.hi)
            r0, r1 = max(win.row, p.row), min(win.row + win.height, p.row + p.src.height)
            if c0 >= c1 or r0 >= r1:
                continue
            part = p.src.read(Window(r0 - p.row, c0 - p.col, r1 - r0, c1 - c0))
            out[r0 - win.row : r1 - win.row, c0 - win.col : c1 - win.col] = part
        if self.noise == "remove" and self._note_index >= 0:
            self.notes[self._note_index] = self.noise_note()
        return out

    def noise_note(self) -> str:
        return super().noise_note()

    def close(self) -> None:
        for p in self.parts:
            p.src.close()


def open_merged(product: Product, sources: list[ProductSource]) -> ProductSource:
    """One image from the swaths in `sources` (opened by open_swath, one swath each)."""
    try:
        return _merge(product, sources)
    except BaseException:
        for s in sources:
            s.close()
        raise


def _merge(product: Product, sources: list[ProductSource]) -> ProductSource:
    name = product.name
    if any(s.plan is None or s.annotation is None for s in sources):
        raise UserError(f"{name}: only the swaths of a TOPS (IW or EW) SLC can be merged; choose one with --swath.")
    if len(sources) < 2:
        return sources[0]  # one swath: nothing to merge
    plans = [s.plan for s in sources if s.plan is not None]
    anns = [s.annotation for s in sources if s.annotation is not None]
    dt, rate = anns[0].azimuth_time_interval, anns[0].range_sampling_rate
    for a in anns:
        if not np.isfinite(a.slant_range_time) or not np.isfinite(rate):
            raise UserError(
                f"{name}: the annotation lacks slantRangeTime or rangeSamplingRate; swaths cannot be merged."
            )
        if abs(a.azimuth_time_interval - dt) > 1e-9 * dt or abs(a.range_sampling_rate - rate) > 1e-6 * rate:
            raise UserError(f"{name}: the swaths have different line times or sampling rates; merge them in SNAP.")
    order = [int(k) for k in np.argsort([a.slant_range_time for a in anns])]
    sources, plans, anns = [sources[k] for k in order], [plans[k] for k in order], [anns[k] for k in order]
    starts = [a.first_burst_time + pl.start * dt for a, pl in zip(anns, plans)]
    rows = [round((t - min(starts)) / dt) for t in starts]
    cols = [round((a.slant_range_time - anns[0].slant_range_time) * rate) for a in anns]
    valid = []  # merged columns each swath has valid on every line
    for pl, c in zip(plans, cols):
        ok = pl.rows >= 0
        valid.append((c + int(pl.first_sample[ok].max()), c + int(pl.last_sample[ok].min()) + 1))
    cuts = []
    for k in range(len(sources) - 1):
        end_k, start_next = valid[k][1], valid[k + 1][0]
        cuts.append((end_k + start_next) // 2 if start_next < end_k else start_next)
    parts = []
    for k, (s, r, c) in enumerate(zip(sources, rows, cols)):
        lo = valid[k][0] if k == 0 else cuts[k - 1]
        hi = valid[k][1] if k == len(sources) - 1 else cuts[k]
        parts.append(_Part(s, r, c, lo, hi))
    first = sources[0]
    height = max(r + s.height for r, s in zip(rows, sources))
    width = max(c + s.width for c, s in zip(cols, sources))
    swaths = [s.geo.tags["SWATH"] for s in sources]
    geo = first.geo.__class__(**{**first.geo.__dict__})
    geo.gcps = tuple(
        (li + r, px + c, x, y, z) for s, r, c in zip(sources, rows, cols) for li, px, x, y, z in s.geo.gcps
    )
    geo.tags = {**first.geo.tags, "SWATH": "+".join(swaths), "SWATHS_MERGED": "YES (cut at mid-overlap)"}
    geo.band_tags = tuple({**t, "SWATH": "+".join(swaths)} for t in first.geo.band_tags)
    merged = MergedSource(
        first.name, "SAFE", width, height, list(first.band_names), first.dtype, first.kind, geo, first.calibration,
        first.product_type, noise=first.noise, parts=parts,
    )  # fmt: skip
    merged.notes = [n for n in first.notes if not n.startswith("swath ") and not n.startswith("thermal noise removed:")]
    merged.notes.append(f"swaths {', '.join(swaths)} merged ({width} x {height}; overlaps cut at their middle)")
    if first.noise == "remove":
        merged.notes.append(merged.noise_note())
        merged._note_index = len(merged.notes) - 1
    return merged
