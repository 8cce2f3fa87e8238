"""Make samples/crossband/ from the real Sentinel-1 samples in samples/sar/ (rerunnable).

- <scene>_vv_content.png, <scene>_vh_style.png: the VV and VH bands of samples/sar/<scene>_s1_vvvh.tif, each
  in dB with its own 2-98 % stretch (exactly what the cross-band page shows), 256x256 uint8.
- vh_tiles/: four 128x128 crops of the two VH displays (the corners of each scene): a small "target band"
  folder for `python -m core gram`.
- vh_tiles_gram_random.safetensors: their mean Gram with the random-feature fallback (seed 0), made by
  `python -m core gram samples/crossband/vh_tiles samples/crossband/vh_tiles_gram_random.safetensors`.

Usage: .venv/bin/python scripts/make_crossband_samples.py [--if-missing]
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core import io as sio  # noqa: E402
from core.crossband import band_display  # noqa: E402

SAR = ROOT / "samples" / "sar"
OUT = ROOT / "samples" / "crossband"
SCENES = ("labrador", "shanghai")


def main(if_missing: bool = False) -> int:
    gram = OUT / "vh_tiles_gram_random.safetensors"
    if if_missing and gram.exists():
        return 0
    (OUT / "vh_tiles").mkdir(parents=True, exist_ok=True)
    for scene in SCENES:
        raster = sio.read_raster(SAR / f"{scene}_s1_vvvh.tif")
        vv, vh = band_display(raster, 0), band_display(raster, 1)
        sio.write_png(OUT / f"{scene}_vv_content.png", vv)
        sio.write_png(OUT / f"{scene}_vh_style.png", vh)
        sio.write_png(OUT / "vh_tiles" / f"{scene}_vh_top_left.png", vh[:128, :128])
        sio.write_png(OUT / "vh_tiles" / f"{scene}_vh_bottom_right.png", vh[128:, 128:])
    subprocess.run(
        [sys.executable, "-m", "core", "gram", str(OUT / "vh_tiles"), str(gram), "--device", "cpu"],
        cwd=ROOT,
        check=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main("--if-missing" in sys.argv[1:]))
