"""Loss curves of a run as PNG files in its folder (loss_G.png, loss_D.png), drawn from log.csv with Pillow,
as SAR2Optical's plots of the generator and discriminator losses against training progress."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from core import io as sio

COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]


def read_log(path: Path) -> dict[str, list[float]]:
    """Columns of log.csv as float lists (empty when there is no log)."""
    if not path.is_file():
        return {}
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    cols: dict[str, list[float]] = {}
    for r in rows:
        for k, v in r.items():
            try:
                cols.setdefault(k, []).append(float(v))
            except (TypeError, ValueError):
                cols.setdefault(k, []).append(float("nan"))
    return cols


def plot_png(x: list[float], series: dict[str, list[float]], title: str, size=(640, 360)) -> bytes:
    """A line chart of `series` against x with a legend and the y range written on the axis."""
    from PIL import Image, ImageDraw  # Pillow: only writing the curves needs it

    w, h = size
    left, right, top, bottom = 60, 10, 28, 30
    img = Image.new("RGB", size, (255, 255, 255))
    d = ImageDraw.Draw(img)
    values = np.array([v for s in series.values() for v in s], dtype=float)
    values = values[np.isfinite(values)]
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    x0, x1 = (min(x), max(x)) if x else (0.0, 1.0)
    x1 = x1 if x1 > x0 else x0 + 1

    def px(xv: float, yv: float) -> tuple[float, float]:
        return (left + (xv - x0) / (x1 - x0) * (w - left - right), top + (hi - yv) / (hi - lo) * (h - top - bottom))

    d.rectangle([left, top, w - right, h - bottom], outline=(0, 0, 0))
    d.text((left, 6), title, fill=(0, 0, 0))
    d.text((4, top), f"{hi:.3g}", fill=(0, 0, 0))
    d.text((4, h - bottom - 10), f"{lo:.3g}", fill=(0, 0, 0))
    d.text((left, h - bottom + 6), f"step {x0:g}", fill=(0, 0, 0))
    d.text((w - right - 80, h - bottom + 6), f"step {x1:g}", fill=(0, 0, 0))
    for n, (name, ys) in enumerate(series.items()):
        colour = COLOURS[n % len(COLOURS)]
        pts = [px(a, b) for a, b in zip(x, ys) if np.isfinite(b)]
        if len(pts) > 1:
            d.line(pts, fill=colour, width=2)
        elif pts:
            d.ellipse([pts[0][0] - 2, pts[0][1] - 2, pts[0][0] + 2, pts[0][1] + 2], fill=colour)
        d.text((left + 8 + 150 * n, top + 4), name, fill=colour)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def write_loss_curves(run_dir: Path) -> list[Path]:
    """loss_G.png (every generator loss) and loss_D.png (discriminator) from the run's log.csv."""
    cols = read_log(Path(run_dir) / "log.csv")
    steps = cols.get("step", [])
    written = []
    for name, prefix in (("loss_G.png", "loss_G"), ("loss_D.png", "loss_D")):
        series = {k: v for k, v in cols.items() if k.startswith(prefix)}
        if steps and series:
            path = Path(run_dir) / name
            sio.write_bytes(path, plot_png(steps, series, f"{prefix} against training step"))
            written.append(path)
    return written
