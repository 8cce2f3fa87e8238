"""Write the bundled synthetic SAR/optical pairs: samples/pairs/sar/*.png and samples/pairs/optical/*.png.

  .venv/bin/python scripts/make_synthetic_samples.py [--if-missing]

Scenes from core/train/synthetic.py at 256 x 256, held-out seeds (100000 and up) that the demo models never saw
in training or validation: four from sensor A (4-look speckle, the demo models' sensor) and two from sensor B
(single-look, 2.5x gain, blur: the LoRA demo's sensor). SAR is written as an 8-bit display PNG (dB with a 2-98 %
stretch, exactly what the translation page feeds a model for float SAR), the optical partner under the same name.
Each pair also gets the float32 linear intensity as a GeoTIFF in samples/pairs/sar_intensity/.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAIRS = [("A", 100000), ("A", 100001), ("A", 100002), ("A", 100003), ("B", 100004), ("B", 100005)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--if-missing", action="store_true", help="do nothing when the samples exist")
    ap.add_argument("--out", default=str(ROOT / "samples" / "pairs"))
    args = ap.parse_args(argv)
    from core import io as sio
    from core.train import synthetic

    out = Path(args.out)
    names = [f"synthetic_{s}_{seed}.png" for s, seed in PAIRS]
    if args.if_missing and all((out / "sar" / n).exists() and (out / "optical" / n).exists() for n in names):
        return 0
    for (sensor, seed), name in zip(PAIRS, names):
        inten, optical = synthetic.make_sensor_pair(seed, sensor, 256)
        sio.write_png(out / "sar" / name, sio.render_intensity(inten))
        sio.write_png(out / "optical" / name, optical)
        sio.write_geotiff(out / "sar_intensity" / name.replace(".png", ".tif"), inten)
        print(out / "sar" / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
