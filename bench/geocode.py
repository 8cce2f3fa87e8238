"""Geocoding and terrain correction (issue 19 §3-4): each run as its own process, wall and CPU time and that
child's peak RSS (os.wait4's ru_maxrss).

- geocode: `python -m core geocode` of a float32 radar-geometry raster with a curved 10 x 21 GCP grid (10 m pixels,
  like an IW GRD), against a plain block copy of the same raster (read 512² blocks, write a tiled GeoTIFF through
  the same BlockWriter) as the baseline, at the sizes given;
- terrain: our `terrain_correct` (GTC and RTC) against sarsen 0.9.6's own `terrain_correction` on the synthetic
  product of tests/support/s1_geometry.py (600 x 800 px) and a 10 m DEM with a hill.

    .venv/bin/python bench/geocode.py [--sizes 2048,4096] [--skip-terrain] [--terrain-shape 600x800]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import measure_child, write_section  # noqa: E402


def write_radar(path: Path, n: int) -> Path:
    """n x n float32 speckled raster with a 10 x 21 GCP grid from a smooth, curved mapping (10 m pixels)."""
    import rasterio
    from pyproj import Transformer
    from rasterio.control import GroundControlPoint
    from rasterio.crs import CRS
    from rasterio.windows import Window

    gl, gp = np.meshgrid(np.linspace(0, n - 1, 10), np.linspace(0, n - 1, 21), indexing="ij")
    h = np.radians(-12.0)
    along = 10.0 * gl
    across = 10.0 * gp + 2e-5 * gp**2 + 20.0 * np.sin(gp / 900.0)
    east = along * np.sin(h) + across * np.sin(h + np.pi / 2)
    north = along * np.cos(h) + across * np.cos(h + np.pi / 2)
    lon, lat = Transformer.from_crs(
        "+proj=aeqd +lat_0=45.5 +lon_0=7.3 +datum=WGS84", "EPSG:4326", always_xy=True
    ).transform(east, north)
    gcps = [
        GroundControlPoint(row=r, col=c, x=x, y=y, z=300.0)
        for r, c, x, y in zip(gl.ravel(), gp.ravel(), lon.ravel(), lat.ravel())
    ]
    rng = np.random.default_rng(0)
    profile = dict(
        driver="GTiff", width=n, height=n, count=1, dtype="float32", tiled=True, blockxsize=512, blockysize=512
    )
    with rasterio.open(path, "w", **profile) as ds:
        for r in range(0, n, 1024):
            rows = min(1024, n - r)
            ds.write(0.1 * rng.gamma(1.0, 1.0, (rows, n)).astype(np.float32), 1, window=Window(0, r, n, rows))
        ds.gcps = (gcps, CRS.from_epsg(4326))
    return path


COPY = """
import sys
from core.io import stream_filter
stream_filter(sys.argv[1], sys.argv[2], lambda x: x, halo=0)
"""

OURS_TC = """
import sys
from core.io import open_source
from core.products.terrain import terrain_correct
safe, dem, out, rtc = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "rtc"
with open_source(safe, calibration="beta0", pol="VV", noise="keep") as src:  # as sarsen: noise kept
    terrain_correct(safe, src, out, dem, rtc=rtc, pol="VV")
"""

SARSEN_TC = """
import sys
import dask
dask.config.set(scheduler="threads", num_workers=2)
from sarsen import apps, sentinel1
safe, dem, out, rtc = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "rtc"
prod = sentinel1.Sentinel1SarProduct(safe + "/manifest.safe", measurement_group="IW/VV")
apps.terrain_correction(prod, dem, output_urlpath=out, correct_radiometry="gamma_bilinear" if rtc else None,
                        interp_method="linear")
"""


def run_child(argv: list[str], extra_env: dict | None = None) -> tuple[float, float, float]:
    """(wall s, CPU s of the child, peak RSS MiB of the child) of `python argv...`; raises on failure."""
    c = measure_child(argv, {"OMP_NUM_THREADS": "2", "GDAL_NUM_THREADS": "2", **(extra_env or {})})
    if c.rc != 0:
        raise RuntimeError(f"{argv[:3]} failed: {c.err}")
    return c.wall, c.cpu, c.peak


def terrain_inputs(folder: Path, shape: tuple[int, int]) -> tuple[Path, Path]:
    """The synthetic product of tests/support/s1_geometry.py and a 10 m UTM DEM with a 500 m hill over it."""
    import rasterio
    from pyproj import Transformer
    from rasterio.transform import from_origin

    from tests.support.s1_geometry import write_geometry_product

    folder.mkdir()
    p = write_geometry_product(folder, "ascending", shape=shape, grid=(6, 9))
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:32632", always_xy=True).transform(
        [g[3] for g in p.gcps], [g[2] for g in p.gcps]
    )
    x0, y0 = min(x) - 300, max(y) + 300
    w, h = int((max(x) - min(x) + 600) / 10), int((max(y) - min(y) + 600) / 10)
    xx, yy = np.meshgrid(x0 + (np.arange(w) + 0.5) * 10, y0 - (np.arange(h) + 0.5) * 10)
    sigma = 1500.0 * max(1.0, shape[1] / 1000)  # the hill grows with the scene (3 km at 2000 samples)
    z = 300 + 500 * np.exp(-((xx - np.mean(x)) ** 2 + (yy - np.mean(y)) ** 2) / (2 * sigma**2))
    profile = dict(driver="GTiff", width=w, height=h, count=1, dtype="float32", crs="EPSG:32632")
    with rasterio.open(folder / "dem.tif", "w", transform=from_origin(x0, y0, 10, 10), **profile) as ds:
        ds.write(z.astype(np.float32), 1)
    return p.safe, folder / "dem.tif"


def agreement(ours: Path, theirs: Path, what: str) -> str:
    """One sentence: our output against sarsen's at our cell centres (sarsen writes its grid south-up)."""
    import rasterio

    with rasterio.open(ours) as a, rasterio.open(theirs) as b:
        va, t = a.read(1), a.transform
        rows, cols = np.mgrid[0 : a.height, 0 : a.width]
        xs, ys = (t.c + (cols + 0.5) * t.a).ravel(), (t.f + (rows + 0.5) * t.e).ravel()
        vb = np.array([v[0] for v in b.sample(zip(xs, ys))]).reshape(va.shape)
    ok = np.isfinite(va) & np.isfinite(vb) & (va > 0) & (vb > 0)
    r = va[ok] / vb[ok]
    p5, p95 = np.percentile(r, [5, 95])
    return f"{what.upper()}: ours / sarsen over {ok.sum()} cells: median {np.median(r):.4f}, 5-95 % {p5:.4f}-{p95:.4f}."


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="2048,4096")
    ap.add_argument("--skip-terrain", action="store_true")
    ap.add_argument("--terrain-shape", default="600x800", help="lines x samples of the synthetic product")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        sizes = [int(s) for s in args.sizes.split(",")]
        for n in sizes:
            src = write_radar(d / f"radar{n}.tif", n)
            copy = run_child(["-c", COPY, str(src), str(d / "copy.tif")])
            geo = run_child(["-m", "core", "geocode", str(src), str(d / "geo.tif")])
            rows.append((f"block copy (baseline) {n}²", *copy, 1.0))
            rows.append((f"`core geocode` {n}² → UTM, 10 m", *geo, geo[0] / copy[0]))
            if n == max(sizes):  # the same two with GDAL's block cache capped (default: 5 % of RAM)
                small = {"GDAL_CACHEMAX": "64"}
                copy = run_child(["-c", COPY, str(src), str(d / "copy.tif")], small)
                geo = run_child(["-m", "core", "geocode", str(src), str(d / "geo.tif")], small)
                rows.append((f"block copy {n}², GDAL_CACHEMAX=64 (baseline)", *copy, 1.0))
                rows.append((f"`core geocode` {n}², GDAL_CACHEMAX=64", *geo, geo[0] / copy[0]))
        notes = ""
        if not args.skip_terrain:
            import rasterio

            shape = tuple(int(v) for v in args.terrain_shape.split("x"))
            safe, dem = terrain_inputs(d / "tc", (shape[0], shape[1]))
            with rasterio.open(dem) as ds:
                size = f"{shape[0]}x{shape[1]} product, DEM {ds.width}x{ds.height} @ 10 m"
            base = None
            for label, script, rtc in (
                ("sarsen `terrain_correction` GTC (baseline)", SARSEN_TC, "gtc"),
                ("ours `terrain_correct` GTC", OURS_TC, "gtc"),
                ("sarsen `terrain_correction` RTC", SARSEN_TC, "rtc"),
                ("ours `terrain_correct` RTC", OURS_TC, "rtc"),
            ):
                out = d / f"{'sarsen' if script is SARSEN_TC else 'ours'}_{rtc}.tif"
                res = run_child(["-c", script, str(safe), str(dem), str(out), rtc])
                base = res[0] if base is None else base
                rows.append((f"{label}, {size}", *res, res[0] / base))
            notes = "\n\n" + " ".join(agreement(d / f"ours_{k}.tif", d / f"sarsen_{k}.tif", k) for k in ("gtc", "rtc"))
    lines = [
        "| run | wall s | CPU s | peak RSS MB | wall × baseline |",
        "|---|---:|---:|---:|---:|",
        *(f"| {r[0]} | {r[1]:.1f} | {r[2]:.1f} | {r[3]:.0f} | {r[4]:.2f} |" for r in rows),
    ]
    print("\n".join(lines))
    load = os.getloadavg()
    body = (
        "\n".join(lines)
        + notes
        + f"\n\nLoad average at the end: {load[0]:.1f} (1 min), {load[1]:.1f} (5 min) on {os.cpu_count()} cores.\n"
    )
    write_section("geocode", body)


if __name__ == "__main__":
    main()
