"""Write the bundled SYNTHETIC Sentinel-1 product: samples/products/SYNTHETIC_S1A_IW_GRDH_1SDV.zip.

  .venv/bin/python scripts/make_product_sample.py [--if-missing]

Not real data. A 256-line x 384-sample dual-polarisation (VV + VH) IW GRD laid out as ESA delivers one (zip of a
.SAFE folder: manifest.safe, annotation, calibration and noise XML in the IPF 2.90+ layout, measurement TIFFs with
GCPs), written by tests/support/s1_product.py (the fixture the tests use) and then given a scene with the physics of a real
one: for every pixel, DN² = σ⁰ · A² · speckle + η · noise speckle, with A the product's own sigmaNought LUT and η
its own noise tables (range x azimuth), evaluated with core.io.sentinel1. σ⁰ is a synthetic coast: land (VV -8 dB,
VH -15 dB, with texture), sea (VV -19 dB, VH -29 dB: below the VH noise floor of about -27 to -22 dB, so VH over
the sea shows the noise and the sub-swath seam until `--noise remove`), a few bright targets. Speckle is gamma
with 4.4 looks (IW GRD high resolution). The GCPs place it near 45 N 7 E at about 11 m per pixel; the
footprint is illustrative only. Fixed seed: rerunning gives the same bytes.

Try it: `python -m core info samples/products/SYNTHETIC_S1A_IW_GRDH_1SDV.zip`, then
`python -m core prepare samples/products/SYNTHETIC_S1A_IW_GRDH_1SDV.zip out.tif --pol VV,VH --db`.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NAME = "SYNTHETIC_S1A_IW_GRDH_1SDV"
SHAPE = (256, 384)
LOOKS = 4.4
SEED = 21


def sigma0_scene(shape: tuple[int, int], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Linear σ⁰ of a synthetic coast for VV and VH."""
    h, w = shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    coast = 0.55 * w + 40 * np.sin(y / 37.0) + 15 * np.sin(y / 11.0 + 1.0)
    land = x < coast
    texture = 2.0 * np.sin(x / 23.0) * np.cos(y / 17.0) + rng.normal(0, 0.7, shape)  # dB
    vv_db = np.where(land, -8.0 + texture, -19.0 + 0.3 * texture)
    vh_db = np.where(land, -15.0 + texture, -29.0 + 0.3 * texture)
    for r, c in ((60, 80), (150, 40), (200, 300), (90, 330)):  # ships and buildings
        vv_db[r - 1 : r + 2, c - 1 : c + 2] = 8.0
        vh_db[r - 1 : r + 2, c - 1 : c + 2] = -2.0
    return {"VV": 10 ** (vv_db / 10), "VH": 10 ** (vh_db / 10)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--if-missing", action="store_true", help="do nothing when the sample exists")
    ap.add_argument("--out", default=str(ROOT / "samples" / "products"))
    args = ap.parse_args(argv)
    import rasterio

    from core.io.sentinel1.calibration import read_calibration
    from core.io.sentinel1.noise import read_noise
    from core.io.sentinel1.safexml import ProductFiles
    from tests.support.s1_product import write_s1_product

    out = Path(args.out) / f"{NAME}.zip"
    if args.if_missing and out.is_file():
        print(f"{out} exists")
        return 0
    rng = np.random.default_rng(SEED)
    with tempfile.TemporaryDirectory() as tmp:
        p = write_s1_product(tmp, "GRD", shape=SHAPE, seed=SEED, gcp_step=0.0001)
        safe = p.safe.rename(Path(tmp) / f"{NAME}.SAFE")
        files = ProductFiles(safe)
        rows, cols = np.arange(SHAPE[0]), np.arange(SHAPE[1])
        scene = sigma0_scene(SHAPE, rng)
        for pol in ("VV", "VH"):
            rel = {k: v.relative_to(p.safe).as_posix() for (_, q, k), v in p.files.items() if q == pol}
            a = read_calibration(files, rel["calibration"], "sigma0").at(rows, cols)
            eta = read_noise(files, rel["noise"]).eta(rows, cols)
            speckle = rng.gamma(LOOKS, 1 / LOOKS, SHAPE)
            noise_speckle = rng.gamma(LOOKS, 1 / LOOKS, SHAPE)
            dn = np.sqrt(scene[pol] * a * a * speckle + eta * noise_speckle)
            with rasterio.open(safe / rel["measurement"], "r+") as ds:
                ds.write(np.clip(np.rint(dn), 1, 65535).astype(np.uint16), 1)
        (safe / "README-SYNTHETIC.txt").write_text(
            "SYNTHETIC Sentinel-1-like product made by scripts/make_product_sample.py for SAR Studio.\n"
            "Not Copernicus data: the scene, LUTs, noise tables and geolocation are invented.\n"
        )
        Path(args.out).mkdir(parents=True, exist_ok=True)
        part = out.with_suffix(".zip.part")
        with zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in sorted(safe.rglob("*")):
                if f.is_file():
                    info = zipfile.ZipInfo(f.relative_to(safe.parent).as_posix(), date_time=(2021, 6, 1, 0, 0, 0))
                    info.compress_type = zipfile.ZIP_DEFLATED
                    zf.writestr(info, f.read_bytes())
        shutil.move(part, out)
    print(f"{out} ({out.stat().st_size / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
