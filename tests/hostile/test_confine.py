"""Browser-reached paths make GDAL read nothing outside the allowed roots and nothing but the formats we document
(issue 17, high): a VRT named .tif (SimpleSource or VRTRawRasterBand) pointing outside, a product with a link out,
/vsicurl/ and /vsizip/ strings, connection strings, FIFOs. Every case is refused before GDAL opens anything (a spy
on rasterio.open sees no call), while the CLI still opens the operator's own VRT."""

import os
import zipfile

import numpy as np
import pytest
import rasterio

from core import io as sio
from core import roots
from core.errors import UserError
from core.io.confine import Confine
from core.speckle import jobs
from tests.support.s1_product import write_s1_product, zip_product

REFUSAL = "REFUSED: the one sentence"


@pytest.fixture
def spy(monkeypatch):
    """Every path rasterio.open is asked to open for reading (fixtures writing files are not counted)."""
    seen: list[str] = []
    real = rasterio.open

    def spying(fp, mode="r", *args, **kwargs):
        if mode.startswith("r"):
            seen.append(str(fp))
        return real(fp, mode, *args, **kwargs)

    monkeypatch.setattr(rasterio, "open", spying)
    return seen


@pytest.fixture
def tree(tmp_path):
    """allowed/ (the root) and private/ beside it holding a 64x64 float32 GeoTIFF with known values."""
    allowed, private = tmp_path / "allowed", tmp_path / "private"
    allowed.mkdir()
    private.mkdir()
    secret = (np.arange(64 * 64, dtype=np.float32).reshape(64, 64) % 97) + 1
    sio.write_geotiff(private / "secret.tif", secret)
    (private / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n" * 64)
    return allowed, private, Confine((allowed.resolve(),), REFUSAL)


def _vrt(source: str, size: int = 5000) -> str:
    return (
        f'<VRTDataset rasterXSize="{size}" rasterYSize="{size}"><VRTRasterBand dataType="Float32" band="1">'
        f"<SimpleSource><SourceFilename>{source}</SourceFilename><SourceBand>1</SourceBand></SimpleSource>"
        "</VRTRasterBand></VRTDataset>"
    )


def _raw_vrt(source: str) -> str:
    return (
        '<VRTDataset rasterXSize="64" rasterYSize="16"><VRTRasterBand dataType="Byte" band="1" '
        f'subClass="VRTRawRasterBand"><SourceFilename relativetoVRT="0">{source}</SourceFilename>'
        "<ImageOffset>0</ImageOffset><PixelOffset>1</PixelOffset><LineOffset>64</LineOffset>"
        "</VRTRasterBand></VRTDataset>"
    )


def test_today_gdal_would_read_the_outside_file_through_such_a_vrt(tree):
    """The attack is real: without confinement GDAL opens the VRT and reads the private file's pixels."""
    allowed, private, _ = tree
    (allowed / "x.tif").write_text(_vrt(str(private / "secret.tif"), 64))
    with rasterio.open(allowed / "x.tif") as ds:
        assert ds.driver == "VRT"
        assert ds.read(1)[1, 2] == pytest.approx((64 + 2) % 97 + 1)


@pytest.mark.parametrize("make", [_vrt, _raw_vrt], ids=["SimpleSource", "VRTRawRasterBand"])
def test_vrt_named_tif_inside_the_root_is_refused_before_gdal_opens_it(tree, spy, make):
    allowed, private, confine = tree
    target = private / ("secret.tif" if make is _vrt else "passwd")
    (allowed / "x.tif").write_text(make(str(target)))
    for call in (
        lambda: jobs.scene_size(allowed / "x.tif", confine=confine),
        lambda: sio.open_source(allowed / "x.tif", confine=confine),
        lambda: jobs.decimated_read(allowed / "x.tif", confine=confine),
    ):
        with pytest.raises(UserError, match="not a GeoTIFF, PNG, JPEG or Sentinel-1 product") as info:
            call()
        assert str(target) not in str(info.value)
    assert spy == []


def test_the_cli_still_opens_the_operators_own_vrt(tree):
    allowed, private, _ = tree
    (allowed / "mine.vrt").write_text(_vrt(str(private / "secret.tif"), 64))
    with sio.open_source(allowed / "mine.vrt") as src:
        assert src.driver == "VRT" and src.read()[1, 2] == pytest.approx((64 + 2) % 97 + 1)


def test_a_tiff_inside_the_root_opens_with_the_gtiff_driver_only(tree, spy):
    allowed, _, confine = tree
    data = np.random.default_rng(0).gamma(1.0, 1.0, (40, 30)).astype(np.float32)
    sio.write_geotiff(allowed / "scene.tif", data)
    assert jobs.scene_size(allowed / "scene.tif", confine=confine) == (40, 30)
    np.testing.assert_array_equal(jobs.decimated_read(allowed / "scene.tif", confine=confine), data)
    assert spy and all(p == str((allowed / "scene.tif").resolve()) for p in spy)


def test_a_sidecar_overview_linked_out_of_the_root_is_not_read(tree):
    """x.tif.ovr beside a TIFF is read by GDAL with it (found by listing the folder); confined opens list nothing."""
    allowed, private, confine = tree
    data = np.ones((64, 64), np.float32)
    sio.write_geotiff(allowed / "x.tif", data)
    with rasterio.open(private / "ovr.tif", "w", driver="GTiff", width=32, height=32, count=1, dtype="float32") as d:
        d.write(np.full((1, 32, 32), 7, np.float32))
    (allowed / "x.tif.ovr").symlink_to(private / "ovr.tif")
    assert np.nanmax(jobs.decimated_read(allowed / "x.tif", size=32)) == 7  # unconfined: the link's pixels
    assert np.nanmax(jobs.decimated_read(allowed / "x.tif", size=32, confine=confine)) == 1


@pytest.mark.parametrize(
    "text",
    [
        "/vsicurl/http://127.0.0.1:9/x.tif",
        "/vsizip/{private}/secret.zip/secret.tif",
        "/vsizip//vsicurl/http://127.0.0.1:9/a.zip/x.tif",
        "SENTINEL1_CALIB:SIGMA0:{private}/S1.SAFE/manifest.safe:IW_VV:AMPLITUDE",
        "GTiff:{private}/secret.tif",
        "{allowed}/../private/secret.tif",
        "{allowed}/missing.tif",
    ],
)
def test_vsi_strings_connection_strings_and_escapes_get_the_one_sentence(tree, spy, text):
    allowed, private, confine = tree
    with zipfile.ZipFile(private / "secret.zip", "w") as zf:
        zf.write(private / "secret.tif", "secret.tif")
    text = text.format(allowed=allowed, private=private)
    with pytest.raises(UserError) as info:
        sio.open_source(text, confine=confine)
    assert str(info.value) == REFUSAL
    assert spy == []


@pytest.mark.timeout(60)  # opening a FIFO without a writer blocks: a regression fails here instead of hanging
def test_a_fifo_is_refused_before_anything_opens_it(tree, spy):
    allowed, _, confine = tree
    os.mkfifo(allowed / "pipe.tif")
    with pytest.raises(UserError) as info:
        sio.open_source(allowed / "pipe.tif", confine=confine)  # opening a FIFO without a writer would hang
    assert str(info.value) == REFUSAL and spy == []


def test_a_link_out_of_the_root_is_refused_whether_or_not_its_target_exists(tree, spy):
    allowed, private, confine = tree
    (allowed / "link.tif").symlink_to(private / "secret.tif")
    (allowed / "dangling.tif").symlink_to(private / "nothing.tif")
    messages = set()
    for name in ("link.tif", "dangling.tif"):
        with pytest.raises(UserError) as info:
            sio.open_source(allowed / name, confine=confine)
        messages.add(str(info.value))
    assert messages == {REFUSAL} and spy == []


# ---------------------------------------------------------------------------------------------- products


def test_a_product_inside_the_root_opens_with_its_calibration(tree):
    allowed, _, confine = tree
    product = write_s1_product(allowed, "GRD")
    dn = product.dn[("IW", "VV")].astype(np.float64)
    a = product.luts[("IW", "VV", "sigmaNought")]
    for path in (product.safe, product.manifest, zip_product(product.safe)):
        with sio.open_source(path, "sigma0", pol="VV", noise="keep", confine=confine) as src:
            got = src.read()
        assert got.shape == product.shape
        # LUT knot (0, 0): sigma0 = DN^2 / A^2
        assert got[0, 0] == pytest.approx(dn[0, 0] ** 2 / a[0, 0] ** 2, rel=1e-5)


def test_a_product_whose_measurement_links_out_of_the_root_is_refused(tree, spy):
    allowed, private, confine = tree
    product = write_s1_product(allowed, "GRD")
    tif = next((product.safe / "measurement").glob("*vv*.tiff"))
    moved = private / tif.name
    tif.rename(moved)
    tif.symlink_to(moved)  # GDAL's SAFE driver would follow it
    with pytest.raises(UserError) as info:
        sio.open_source(product.safe, confine=confine)
    assert str(info.value) == REFUSAL and spy == []
    with sio.open_source(product.safe, pol="VV") as src:  # the CLI follows the operator's own links
        assert src.height == product.shape[0]


def test_a_product_with_any_link_out_is_refused(tree, spy):
    allowed, private, confine = tree
    product = write_s1_product(allowed, "GRD")
    (product.safe / "preview").symlink_to(private)
    with pytest.raises(UserError) as info:
        jobs.scene_size(product.safe, confine=confine)
    assert str(info.value) == REFUSAL and spy == []


def test_a_manifest_that_names_a_file_outside_the_product_is_refused(tree, spy):
    allowed, private, confine = tree
    product = write_s1_product(allowed, "GRD")
    text = product.manifest.read_text()
    tif = next((product.safe / "measurement").glob("*vv*.tiff")).name
    product.manifest.write_text(text.replace(f"./measurement/{tif}", "../../private/secret.tif"))
    with pytest.raises(UserError, match="not a GeoTIFF, PNG, JPEG or Sentinel-1 product"):
        sio.open_source(product.safe, confine=confine)
    product.manifest.write_text(text.replace(f"./measurement/{tif}", str(private / "secret.tif")))
    with pytest.raises(UserError, match="not a GeoTIFF, PNG, JPEG or Sentinel-1 product"):
        sio.open_source(product.manifest, confine=confine)
    assert spy == []


def test_a_product_whose_measurement_is_a_vrt_is_refused(tree, spy):
    allowed, private, confine = tree
    product = write_s1_product(allowed, "GRD")
    tif = next((product.safe / "measurement").glob("*vv*.tiff"))
    tif.write_text(_vrt(str(private / "secret.tif"), 60))
    with pytest.raises(UserError, match="not a GeoTIFF, PNG, JPEG or Sentinel-1 product"):
        sio.open_source(product.safe, confine=confine)
    zipped = zip_product(product.safe)
    with pytest.raises(UserError, match="not a GeoTIFF, PNG, JPEG or Sentinel-1 product"):
        sio.open_source(zipped, confine=confine)
    assert spy == []


def test_a_zipped_product_holding_a_symbolic_link_is_refused(tree, spy):
    allowed, _, confine = tree
    product = write_s1_product(allowed, "GRD")
    zipped = zip_product(product.safe)
    with zipfile.ZipFile(zipped, "a") as zf:
        info = zipfile.ZipInfo(f"{product.safe.name}/measurement/link.tiff")
        info.external_attr = (0o120777 << 16) | 0
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(UserError, match="not a GeoTIFF, PNG, JPEG or Sentinel-1 product"):
        sio.open_source(zipped, confine=confine)
    assert spy == []


def test_roots_confinement_refuses_with_the_same_sentence_as_resolve_allowed(tree, monkeypatch):
    allowed, private, _ = tree
    monkeypatch.setenv("SAR_STUDIO_DATA_ROOTS", str(allowed))
    (allowed / "link.tif").symlink_to(private / "secret.tif")
    text = str(allowed / "link.tif")
    with pytest.raises(UserError) as typed:
        roots.resolve_allowed(text, "any")
    with pytest.raises(UserError) as opened:
        sio.open_source(text, confine=roots.confinement(text, "any"))
    assert str(typed.value) == str(opened.value)


def test_a_product_missing_a_member_says_so(tree):
    allowed, _, confine = tree
    product = write_s1_product(allowed, "GRD")
    next((product.safe / "annotation" / "calibration").glob("calibration-*vv*.xml")).unlink()
    with pytest.raises(UserError, match="lacks annotation/calibration/calibration-.*download the product again"):
        sio.open_source(product.safe, confine=confine)
