"""Debursting a TOPS (IW / EW) SLC swath: which input line and which samples make each output line.

A TOPS swath is stored as its bursts one after another (linesPerBurst lines each); consecutive bursts overlap in
azimuth time. As SNAP's TOPSAR-Deburst: each burst keeps its valid lines (firstValidSample != -1), the overlap of
two bursts' valid lines is cut at its middle (lines before the cut from the earlier burst, from the cut on from the
later one), and each line keeps only the samples between its firstValidSample and lastValidSample (the others are
0, the output's nodata). A burst's place on the output's line axis is (its azimuthTime − the first burst's) /
azimuthTimeInterval, rounded. Lines of a gap between bursts (never seen in real products) map to -1 (blank, nodata).

The plan is a few integers per output line (never the pixels), so memory does not grow with the scene's area.
GCPs of the geolocation grid are given on input lines; `gcps()` moves them to output lines the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import UserError
from core.io.sentinel1.metadata import Annotation


@dataclass
class DeburstPlan:
    rows: np.ndarray  # input line of each output line (-1: none)
    first_sample: np.ndarray  # per output line, inclusive
    last_sample: np.ndarray  # per output line, inclusive
    offsets: np.ndarray  # each burst's first line on the burst timeline
    start: int  # timeline line of output line 0
    lines_per_burst: int

    @property
    def height(self) -> int:
        return len(self.rows)

    def output_line(self, line: float) -> float:
        """Output line (GDAL corner convention kept) of input line `line`."""
        b = int(min(max(line // self.lines_per_burst, 0), len(self.offsets) - 1))
        return float(self.offsets[b] + (line - b * self.lines_per_burst) - self.start)

    def gcps(
        self, gcps: list[tuple[float, float, float, float, float]]
    ) -> list[tuple[float, float, float, float, float]]:
        """The GCPs on output lines; a second GCP landing on the same (line, pixel) is dropped."""
        seen: set[tuple[float, float]] = set()
        out = []
        for line, pixel, x, y, z in gcps:
            li = self.output_line(line)
            if (li, pixel) in seen:
                continue
            seen.add((li, pixel))
            out.append((li, pixel, x, y, z))
        return out


def plan_deburst(ann: Annotation, where: str) -> DeburstPlan:
    lpb, dt = ann.lines_per_burst, ann.azimuth_time_interval
    offsets = np.array([round(b.azimuth_time / dt) for b in ann.bursts], dtype=np.int64)
    if (np.diff(offsets) <= 0).any():
        raise UserError(f"{where}: burst azimuth times are not increasing; the annotation is malformed.")
    spans = []  # valid lines of each burst on the timeline, inclusive
    for b, off in zip(ann.bursts, offsets):
        valid = np.flatnonzero((b.first_valid >= 0) & (b.last_valid >= b.first_valid))
        if valid.size == 0:
            raise UserError(
                f"{where}: a burst has no valid line (firstValidSample all -1); the annotation is malformed."
            )
        spans.append((int(off + valid[0]), int(off + valid[-1])))
    starts = [spans[0][0]]
    ends = []
    for k in range(len(spans) - 1):
        end_k, start_next = spans[k][1], spans[k + 1][0]
        if start_next <= end_k:  # overlap: cut at its middle
            cut = (start_next + end_k + 1) // 2
            ends.append(cut - 1)
            starts.append(cut)
        else:
            ends.append(end_k)
            starts.append(start_next)
    ends.append(spans[-1][1])
    start, stop = starts[0], ends[-1]
    height = stop - start + 1
    rows = np.full(height, -1, dtype=np.int64)
    first = np.zeros(height, dtype=np.int64)
    last = np.full(height, -1, dtype=np.int64)
    for k, (s, e) in enumerate(zip(starts, ends)):
        t = np.arange(s, e + 1)
        local = t - offsets[k]
        rows[t - start] = k * lpb + local
        first[t - start] = ann.bursts[k].first_valid[local]
        last[t - start] = ann.bursts[k].last_valid[local]
    first = np.where(rows >= 0, np.maximum(first, 0), 0)
    last = np.where(rows >= 0, np.minimum(last, ann.samples - 1), -1)
    return DeburstPlan(rows, first, last, offsets, start, lpb)
