"""GeoTIFF codec choice (issue 24): ZSTD by default with a predictor, DEFLATE, LZW or none, a level, the encoder's
threads; the values read back unchanged and the bytes do not depend on the thread count."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from core import io as sio
from core.errors import UserError
from core.io.write import compression_options, parse_compress


def _data() -> np.ndarray:
    rng = np.random.default_rng(1)
    return (rng.gamma(1.0, 1.0, (300, 280)) * np.linspace(0.1, 1, 280)).astype(np.float32)


@pytest.mark.parametrize(
    ("choice", "gdal_name", "predictor"),
    [
        (None, "zstd", 3),
        ("deflate", "deflate", 3),
        ("deflate:9", "deflate", 3),
        ("lzw", "lzw", 3),
        ("none", None, None),
    ],
)
def test_written_geotiff_has_the_chosen_codec_and_the_same_values(tmp_path, choice, gdal_name, predictor):
    x = _data()
    path = tmp_path / "x.tif"
    path.write_bytes(sio.encode_geotiff(x, compress=choice))
    with rasterio.open(path) as ds:
        assert (ds.compression.value.lower() if ds.compression else None) == gdal_name
        tags = ds.tags(ns="IMAGE_STRUCTURE")
        assert tags.get("PREDICTOR") == (str(predictor) if predictor else None)
        np.testing.assert_array_equal(ds.read(1), x)


def test_levels_change_the_bytes_and_a_bad_choice_is_refused():
    x = _data()
    assert len(sio.encode_geotiff(x, compress="zstd:1")) != len(sio.encode_geotiff(x, compress="zstd:19"))
    assert parse_compress("ZSTD:3") == ("zstd", 3)
    assert parse_compress(None) == ("zstd", 1)
    for bad, words in [("lz4", "unknown compression"), ("lzw:5", "has no level"), ("zstd:30", "out of range")]:
        with pytest.raises(UserError, match=words):
            parse_compress(bad)


def test_integer_data_gets_the_integer_predictor_and_the_environment_sets_the_default(monkeypatch):
    assert compression_options(np.uint8, "deflate")["predictor"] == 2
    monkeypatch.setenv("SAR_STUDIO_COMPRESS", "lzw")
    assert compression_options(np.float32)["compress"] == "lzw"


def test_encoder_threads_leave_the_bytes_unchanged(tmp_path, monkeypatch):
    x = np.tile(_data(), (4, 4))
    blobs = []
    for n in ("1", "2"):
        monkeypatch.setenv("SAR_STUDIO_THREADS", n)
        assert compression_options(np.float32).get("num_threads", 1) == int(n)
        with sio.BlockWriter(tmp_path / f"t{n}.tif", x.shape[1], x.shape[0], 1, np.float32, block=256) as w:
            for win in sio.iter_windows(*x.shape, 256):
                w.write(win, x[win.row : win.row + win.height, win.col : win.col + win.width])
        blobs.append((tmp_path / f"t{n}.tif").read_bytes())
    assert blobs[0] == blobs[1]
