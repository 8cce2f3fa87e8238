"""Large float32 scenes for the memory tests, written block by block (never whole in memory), and a child-process
runner that reads the child's own peak RSS (os.wait4's ru_maxrss)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.support.repo import ROOT


def write_scene(path: Path, height: int, width: int, block: int = 512) -> Path:
    """Tiled uncompressed float32 GeoTIFF (UTM transform): one random 512 x 512 speckle tile repeated."""
    import rasterio
    from rasterio.transform import Affine
    from rasterio.windows import Window

    rng = np.random.default_rng(0)
    tile = (rng.gamma(1.0, 1.0, (block, block)) * np.where(rng.random((block, block)) < 0.5, 0.05, 0.3)).astype(
        np.float32
    )
    profile = dict(
        driver="GTiff", width=width, height=height, count=1, dtype="float32", tiled=True, blockxsize=block,
        blockysize=block, BIGTIFF="YES", crs="EPSG:32633", transform=Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 5e6),
    )  # fmt: skip
    reps = -(-width // block)
    strip = np.tile(tile, (1, reps))[:, :width]
    with rasterio.open(path, "w", **profile) as ds:
        for r in range(0, height, block):
            h = min(block, height - r)
            ds.write(strip[:h], 1, window=Window(0, r, width, h))
    return path


# The kernel counts the image a child had before exec in its ru_maxrss: a child forked (or vforked) from a big
# process (pytest with torch loaded, 280 MB) reports at least that. A small launcher process starts the real child
# and reports the child's own peak, so the figure is the command's, not its parent's.
_LAUNCH = """
import os, subprocess, sys
p = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(p.pid, 0)
open(sys.argv[1], "w").write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_child(argv: list[str], env: dict | None = None) -> tuple[int, float, str]:
    """(exit code, peak RSS in MiB of that child, stderr tail) of `python argv...` run from the repo root."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        peak_file = os.path.join(tmp, "peak")
        proc = subprocess.run(
            [sys.executable, "-c", _LAUNCH, peak_file, sys.executable, *argv], cwd=ROOT, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        )  # fmt: skip
        err = proc.stderr.decode(errors="replace")
        peak_kb = int(open(peak_file).read()) if os.path.exists(peak_file) else 0
    return proc.returncode, peak_kb / 1024, err.strip()[-400:]
