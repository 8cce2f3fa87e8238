"""Memory flat with the scene's size (issue 24): GDAL's block cache is set where core.io opens rasters, before the
first read, so a streamed filter's peak RSS does not grow with the scene."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.scale_scene import ROOT, run_child, write_scene

CHECK_CACHE = """
import sys
from core import io as sio
from core.io.gdal_config import gdal_cache_in_use
with sio.open_source(sys.argv[1]) as src:
    src.read(sio.Window(0, 0, 64, 64))
print(gdal_cache_in_use())
"""


def _cache_after_open(path, env: dict) -> int:
    import os

    out = subprocess.run(
        [sys.executable, "-c", CHECK_CACHE, str(path)], cwd=ROOT, capture_output=True, text=True, check=True,
        env={**{k: v for k, v in os.environ.items() if k not in ("GDAL_CACHEMAX", "SAR_STUDIO_GDAL_CACHE_MB")}, **env},
    )  # fmt: skip
    return int(out.stdout.split()[-1])


def test_gdal_cache_is_set_before_the_first_read_and_can_be_overridden(tmp_path):
    from core.io.gdal_config import DEFAULT_CACHE_MB

    path = write_scene(tmp_path / "s.tif", 256, 256)
    assert _cache_after_open(path, {}) == DEFAULT_CACHE_MB * 1024 * 1024
    assert _cache_after_open(path, {"SAR_STUDIO_GDAL_CACHE_MB": "5"}) == 5 * 1024 * 1024
    assert _cache_after_open(path, {"GDAL_CACHEMAX": "7MB"}) == 7 * 1024 * 1024  # the user's own GDAL setting


def test_a_bad_cache_setting_is_refused_in_one_line(tmp_path, monkeypatch):
    from core.errors import UserError
    from core.io.gdal_config import gdal_cache_bytes

    monkeypatch.setenv("SAR_STUDIO_GDAL_CACHE_MB", "lots")
    with pytest.raises(UserError, match="SAR_STUDIO_GDAL_CACHE_MB"):
        gdal_cache_bytes()


def test_streamed_lee_peak_memory_is_flat_from_2048_to_20000x16000(tmp_path):
    """Peak RSS of the child process filtering a 2048² and a 20000 x 16000 float32 scene (1.2 GB) within 20 %."""
    peaks = {}
    for name, (h, w) in {"small": (2048, 2048), "big": (16_000, 20_000)}.items():
        src = write_scene(tmp_path / f"{name}.tif", h, w)
        rc, peak, err = run_child(
            ["-m", "core", "despeckle", str(src), str(tmp_path / f"{name}_lee.tif"), "--filter", "lee", "--window",
             "7", "--no-progress"],
        )  # fmt: skip
        assert rc == 0, err
        peaks[name] = peak
        src.unlink()
        (tmp_path / f"{name}_lee.tif").unlink()
    print(f"peak RSS MiB: {peaks}")
    assert peaks["big"] <= 1.2 * peaks["small"], peaks
    assert peaks["big"] <= 500, peaks
