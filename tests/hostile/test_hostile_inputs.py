"""Tiny inputs that would cost gigabytes (issue 11 §2) and broken zips (§3): refused from their headers with one
sentence before anything is decoded or extracted, and nothing left behind."""

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from core import budget
from core import io as sio
from core.errors import UserError
from core.train import dataset_zip

GB = 1024**3


def _png(arr) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


# ------------------------------------------------------------------------------------------- estimates


def test_whole_image_estimate_matches_a_hand_computation():
    # 10000 x 10000 uint8: 1e8 bytes decoded + 24 bytes of float working copies per pixel
    assert budget.whole_image_bytes(10000, 10000, 1, 1) == 100_000_000 + 2_400_000_000
    # 5000 x 4000 complex64, 2 bands: 8 B read + 16 B float64 |z|^2 temporaries + 24 B work, per pixel and band
    assert budget.whole_image_bytes(5000, 4000, 2, 8, is_complex=True) == 5000 * 4000 * 2 * (8 + 16 + 24)
    # a streamed window: (1024 + 2*8)^2 pixels of float32, whatever the scene
    assert budget.window_bytes(1024, 8, 1, 4) == 1040 * 1040 * (4 + 24)


def test_budget_from_the_environment_or_the_machine(monkeypatch):
    monkeypatch.setenv("SAR_STUDIO_MEMORY_GB", "1.5")
    assert budget.budget_bytes() == int(1.5 * GB)
    monkeypatch.setenv("SAR_STUDIO_MEMORY_GB", "lots")
    with pytest.raises(UserError, match="is not a number"):
        budget.budget_bytes()
    monkeypatch.delenv("SAR_STUDIO_MEMORY_GB")
    with open("/proc/meminfo") as fh:
        avail = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("MemAvailable:"))
    assert abs(budget.budget_bytes() - avail * budget.BUDGET_FRACTION) < 0.2 * avail  # memory moves a little


def test_over_budget_sentence_names_size_estimate_and_budget(monkeypatch):
    monkeypatch.setenv("SAR_STUDIO_MEMORY_GB", "0.1")
    blob = _png(np.zeros((3000, 3000), np.uint8) + np.arange(3000, dtype=np.uint8)[None, :])  # an ordinary ratio
    with pytest.raises(UserError) as info:
        sio.read_raster(blob, name="wide.png")
    msg = str(info.value)
    # 9e6 px x (1 + 24) B = 225e6 B = 215 MB against 0.1 GB = 102 MB
    assert msg.startswith("wide.png (3000x3000, 1 band L) needs about 215 MB of memory, above the budget of 102 MB;")
    assert "\n" not in msg
    monkeypatch.setenv("SAR_STUDIO_MEMORY_GB", "0.25")
    assert sio.read_raster(blob, name="wide.png").data.shape == (3000, 3000)


# ------------------------------------------------------------------------------------ bombs and sparse files


def test_decompression_bomb_png_is_refused_from_its_header(monkeypatch):
    blob = _png(np.zeros((10000, 10000), np.uint8))
    assert len(blob) < 200_000  # about 97 KB that decodes to 100 MB (and GBs of work)
    calls = []
    monkeypatch.setattr(Image.Image, "load", lambda self: calls.append(1))  # decoding would be a failure
    with pytest.raises(UserError, match=r"bomb\.png \(10000x10000, 1 band L\) declares 95 MB of pixels") as info:
        sio.read_raster(blob, name="bomb.png")
    assert "decompression bomb" in str(info.value) and not calls


def test_sparse_complex_tiff_is_refused_from_its_header(tmp_path, monkeypatch):
    import rasterio

    path = tmp_path / "sparse.tif"
    profile = dict(driver="GTiff", width=9000, height=9000, count=1, dtype="complex64", tiled=True, SPARSE_OK=True)
    with rasterio.open(path, "w", **profile):
        pass  # declared 9000 x 9000 complex64, no tile written
    assert path.stat().st_size < 200_000
    monkeypatch.setenv("SAR_STUDIO_MEMORY_GB", "100")  # refused for its ratio even with memory to spare
    with pytest.raises(UserError, match=r"sparse\.tif \(9000x9000, 1 band complex64\) declares 618 MB"):
        sio.read_raster(path)


def test_small_constant_images_still_read():
    assert sio.read_raster(_png(np.zeros((1000, 1000), np.uint8))).data.shape == (1000, 1000)


# ----------------------------------------------------------------------------------------------- zips


def _zip(entries, method=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return buf.getvalue()


PNG = _png(np.arange(64, dtype=np.uint8).reshape(8, 8))


def _refused(blob, dest, pattern):
    with pytest.raises(UserError, match=pattern) as info:
        dataset_zip.extract_zip(blob, dest, "data.zip")
    assert "\n" not in str(info.value)
    assert not dest.exists() and not [p for p in dest.parent.iterdir() if p.name.startswith(f".{dest.name}")]
    return str(info.value)


def test_zip_bomb_is_refused_before_extraction(tmp_path):
    blob = _zip([("d/sar/a.png", PNG), ("d/sar/big.png", b"\0" * (64 * 1024**2))])
    assert len(blob) < 200_000
    msg = _refused(blob, tmp_path / "x", "typical of a zip bomb")
    assert "data.zip" in msg and "64 MB" in msg


def test_bad_crc_leaves_nothing_extracted(tmp_path):
    blob = bytearray(_zip([("d/sar/a.png", PNG), ("d/sar/b.png", PNG)], zipfile.ZIP_STORED))
    at = blob.rfind(PNG[20:40])  # a byte inside the second member's stored data
    blob[at] ^= 0xFF
    _refused(bytes(blob), tmp_path / "x", r"bad checksum \(CRC\) in d/sar/b\.png")


def _patch_local_and_central(blob: bytes, offset_local: int, offset_central: int, value: bytes) -> bytes:
    """Set the same field in every local header (PK\\3\\4) and central record (PK\\1\\2)."""
    out = bytearray(blob)
    for sig, off in ((b"PK\x03\x04", offset_local), (b"PK\x01\x02", offset_central)):
        i = out.find(sig)
        while i >= 0:
            out[i + off : i + off + len(value)] = value
            i = out.find(sig, i + 4)
    return bytes(out)


def test_encrypted_entry_is_refused(tmp_path):
    blob = _patch_local_and_central(_zip([("d/sar/a.png", PNG)]), 6, 8, b"\x01\x00")  # general purpose flag bit 0
    assert zipfile.ZipFile(io.BytesIO(blob)).infolist()[0].flag_bits & 1
    _refused(blob, tmp_path / "x", r"encrypted entry \(d/sar/a\.png\)")


def test_unknown_compression_method_is_refused(tmp_path):
    blob = _patch_local_and_central(_zip([("d/sar/a.png", PNG)]), 8, 10, (99).to_bytes(2, "little"))
    _refused(blob, tmp_path / "x", "compression method 99")


@pytest.mark.parametrize(
    "names",
    [
        ["d/sar/a.png", "d/sar/a.png/b.png"],  # a file, then a folder of the same name
        ["d/sar/x/b.png", "d/sar/x"],  # a folder, then a file of the same name
        ["d/sar/a.png", "d/sar/A.PNG"],  # the same name on a case-insensitive disk
    ],
)
def test_file_folder_name_clash_is_refused(tmp_path, names):
    _refused(_zip([(n, PNG) for n in names]), tmp_path / "x", "two entries named")


def test_zip_slip_is_refused(tmp_path):
    _refused(_zip([("../../evil.png", PNG)]), tmp_path / "x", "unsafe path")
    assert not (tmp_path.parent / "evil.png").exists()


def test_session_folders_are_swept_by_age_unless_a_live_run_reads_them(tmp_path, monkeypatch):
    import os
    import time

    monkeypatch.setenv("SAR_STUDIO_UPLOADS", str(tmp_path / "uploads"))
    blob = _zip([("d/sar/a.png", PNG), ("d/optical/a.png", PNG)])
    old, live, fresh = (dataset_zip.session_folder(s) for s in ("old", "live", "fresh"))
    root_live = dataset_zip.extract_zip(blob, live / "abc", "data.zip")
    dataset_zip.extract_zip(blob, old / "abc", "data.zip")
    past = time.time() - 3 * 3600
    for f in (old, live):
        os.utime(f, (past, past))
    removed = dataset_zip.sweep_datasets(2 * 3600, in_use=[root_live])
    assert removed == [old] and not old.exists() and live.exists() and fresh.exists()
    # the run ended: its dataset goes, the session folder stays
    assert not dataset_zip.release_dataset(root_live, in_use=[root_live])
    assert dataset_zip.release_dataset(root_live) and not (live / "abc").exists() and live.exists()
    assert not dataset_zip.release_dataset(tmp_path / "elsewhere")
