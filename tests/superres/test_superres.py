"""Super-resolution engine: input preparation, tiles see consistent reference crops, metrics, demo model, CLI."""

import numpy as np
import pytest
import torch

from core import io as sio
from core import superres as sr
from core.cli import main as cli_main
from core.superres import inputs as sri
from tests.support.repo import ROOT

DEMO = ROOT / "checkpoints" / "rgtgan_demo.safetensors"
SAMPLES = ROOT / "samples" / "superres"


class PointwiseNet(torch.nn.Module):
    """A stand-in network with no spatial context: any tiling gives exactly the whole-image result, so a
    difference can only come from tiles being handed inconsistent crops of the four inputs."""

    def forward(self, lr, lr_up, ref, ref_dup):
        assert lr_up.shape[-2:] == ref.shape[-2:] == ref_dup.shape[-2:]
        assert lr_up.shape[-1] == 4 * lr.shape[-1]
        lr_nn = torch.nn.functional.interpolate(lr, scale_factor=4, mode="nearest")
        return 0.4 * lr_up + 0.3 * ref - 0.2 * ref_dup + 0.5 * lr_nn


def test_bicubic_resize_matches_pil(rng):
    from PIL import Image

    img = rng.random((10, 14, 3)).astype(np.float32)
    got = sri.resize_bicubic(img, 40, 56)
    want = np.asarray(Image.fromarray(img[..., 1]).resize((56, 40), Image.Resampling.BICUBIC))
    np.testing.assert_allclose(got[..., 1], want, atol=1e-6)
    assert got.shape == (40, 56, 3)


def test_prepare_inputs_are_what_the_network_expects(rng):
    lr = rng.random((12, 10, 3)).astype(np.float32)
    ref = rng.random((30, 30, 3)).astype(np.float32)  # another size: resized to 4x LR
    lr_, lr_up, ref_hr, ref_dup = sri.prepare_inputs(lr, ref)
    assert lr_up.shape == ref_hr.shape == ref_dup.shape == (48, 40, 3)
    np.testing.assert_allclose(lr_up, np.clip(sri.resize_bicubic(lr, 48, 40), 0, 1))
    np.testing.assert_allclose(ref_dup, np.clip(sri.resize_bicubic(sri.resize_bicubic(ref_hr, 12, 10), 48, 40), 0, 1))
    for x in (lr_up, ref_hr, ref_dup):
        assert x.min() >= 0 and x.max() <= 1


def test_fold_unfold_round_trip(rng):
    x = rng.random((16, 24, 3)).astype(np.float32)
    folded = sri.fold(x)
    assert folded.shape == (4, 6, 48)
    np.testing.assert_array_equal(folded[1, 2].reshape(4, 4, 3), x[4:8, 8:12])  # one LR pixel = one 4x4 block
    np.testing.assert_array_equal(sri.unfold(folded[None], 3)[0], x)


def test_tiles_get_the_reference_crop_of_their_own_footprint(rng):
    lr = rng.random((40, 52, 3)).astype(np.float32)
    ref = rng.random((160, 208, 3)).astype(np.float32)
    net = PointwiseNet()
    whole = sr.super_resolve(lr, ref, net, tile=64)  # one pass
    seen = []
    tiled = sr.super_resolve(lr, ref, net, tile=16, overlap=4, progress=lambda f, m: seen.append(f))
    assert whole.shape == tiled.shape == (160, 208, 3)
    np.testing.assert_allclose(tiled, whole, atol=1e-5)
    assert len(seen) > 4 and seen[-1] == 1.0
    # and the whole-image result is the closed form of PointwiseNet on the prepared inputs
    _, lr_up, ref_hr, ref_dup = sri.prepare_inputs(lr, ref)
    want = np.clip(0.4 * lr_up + 0.3 * ref_hr - 0.2 * ref_dup + 0.5 * np.repeat(np.repeat(lr, 4, 0), 4, 1), 0, 1)
    np.testing.assert_allclose(whole, want, atol=1e-5)


def test_psnr_and_ssim_crop_the_border():
    hr = np.full((32, 32, 3), 0.5, np.float32)
    test = hr + 0.1
    test[:4] = 1.0  # damage confined to the cropped border
    assert sr.psnr(test, hr) == pytest.approx(20.0, abs=1e-4)  # 10 log10(1 / 0.1^2)
    assert sr.psnr(test, hr, border=0) < 19.0
    assert sr.ssim(hr, hr) == pytest.approx(1.0)


def _sample(kind: str, name: str = "synthetic_town.png"):
    return sio.read_raster(SAMPLES / kind / name)


def _write_lr_geotiff(path, utm_geo, rng, size=24):
    img = (rng.random((size, size, 3)) * 255).astype(np.uint8)
    sio.write_geotiff(path, img, sio.GeoInfo(crs=utm_geo.crs, transform=utm_geo.transform))
    return img


def test_cli_writes_a_georeferenced_x4_geotiff(tmp_path, utm_geo, rng, capsys):
    lr = tmp_path / "lr.tif"
    _write_lr_geotiff(lr, utm_geo, rng)
    out = tmp_path / "out.tif"
    code = cli_main(
        [
            "superres",
            str(lr),
            str(out),
            "--ref",
            str(SAMPLES / "ref" / "synthetic_town.png"),
            "--model",
            str(DEMO),
            "--device",
            "cpu",
            "--tile",
            "16",
        ]
    )
    assert code == 0
    r = sio.read_raster(out)
    assert r.data.shape == (96, 96, 3) and r.data.dtype == np.uint8
    assert r.geo.transform == pytest.approx((2.5, 0.0, 500000.0, 0.0, -2.5, 4000000.0))
    assert r.geo.crs == utm_geo.crs
    assert "note: The reference" in capsys.readouterr().err  # 256x256 reference resized to 96x96


def test_cli_prints_metrics_against_hr(tmp_path, capsys):
    # a 32x32 corner of the bundled town sample (and the matching 128x128 reference and HR corners)
    for part, size in (("lr", 32), ("ref", 128), ("hr", 128)):
        sio.write_png(
            tmp_path / f"{part}.png", sio.read_raster(SAMPLES / part / "synthetic_town.png").data[:size, :size]
        )
    out = tmp_path / "sr.png"
    code = cli_main(
        [
            "superres",
            str(tmp_path / "lr.png"),
            str(out),
            "--ref",
            str(tmp_path / "ref.png"),
            "--model",
            str(DEMO),
            "--hr",
            str(tmp_path / "hr.png"),
            "--bicubic",
            str(tmp_path / "bic.png"),
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    sr_img = sio.read_raster(out).data.astype(np.float64) / 255
    bic = sio.read_raster(tmp_path / "bic.png").data.astype(np.float64) / 255
    hr = sio.read_raster(tmp_path / "hr.png").data.astype(np.float64) / 255
    assert sr_img.shape == bic.shape == (128, 128, 3)
    psnr = lambda a: 10 * np.log10(1 / np.mean((a[4:-4, 4:-4] - hr[4:-4, 4:-4]) ** 2))  # noqa: E731
    # printed from float results, recomputed here from the 8-bit files: equal to rounding
    printed = float(text.split("PSNR bicubic ")[1].split(" dB")[0])
    assert printed == pytest.approx(psnr(bic), abs=0.05)
    printed_model = float(text.split("model ")[1].split(" dB")[0])
    assert printed_model == pytest.approx(psnr(sr_img), abs=0.05)
    assert printed_model > printed  # the demo beats bicubic on this held-out crop


def test_cli_errors_are_one_line_and_leave_no_output(tmp_path, capsys):
    lr = SAMPLES / "lr" / "synthetic_town.png"
    out = tmp_path / "o.tif"
    code = cli_main(["superres", str(lr), str(out), "--ref", str(tmp_path / "missing.png"), "--model", str(DEMO)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: missing.png: file not found")
    assert err.count("\n") == 1
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    code = cli_main(["superres", str(lr), str(out), "--ref", str(lr), "--model", str(bad)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: bad.pth ") and err.count("\n") == 1
    code = cli_main(["superres", str(lr), str(tmp_path / "o.bmp"), "--ref", str(lr), "--model", str(bad)])
    assert code == 2 and "unknown output format" in capsys.readouterr().err
    hr_wrong = tmp_path / "hr.png"
    sio.write_png(hr_wrong, np.zeros((100, 100, 3), np.uint8))
    if DEMO.exists():
        code = cli_main(["superres", str(lr), str(out), "--ref", str(lr), "--model", str(DEMO), "--hr", str(hr_wrong)])
        assert code == 2 and "4× the LR image is 256×256" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".o.tif*"))


def test_onnx_export_runs_in_onnx_runtime_like_pytorch(tmp_path, capsys, rng):
    from core.checkpoints import save_model
    from models.rgtgan import RGTGANGenerator

    torch.manual_seed(0)
    model = RGTGANGenerator(
        ngf=8,
        n_blocks=1,
        groups=2,
        gtem_nf=4,
        gtem_blocks=1,
        align_tail_blocks=0,
        dense_rounds=1,
        dense_steps=1,
        with_unused=False,
    ).eval()
    for k, v in model.state_dict().items():
        if "dcnpack.offset" in k or "dcnpack.mask" in k:
            v.normal_(0, 0.1)  # real deformations, not the zero init
    ckpt = save_model(tmp_path / "m.safetensors", model)
    onnx_path = tmp_path / "m.onnx"
    assert cli_main(["superres-onnx", str(ckpt), str(onnx_path)]) == 0
    assert "max difference to PyTorch" in capsys.readouterr().out
    runner, desc = sr.load_superres_model(onnx_path)
    assert "ONNX Runtime" in desc
    lr = rng.random((12, 20, 3)).astype(np.float32)  # another size than the export's: dynamic height / width
    ref = rng.random((48, 80, 3)).astype(np.float32)
    got = sr.super_resolve(lr, ref, runner)
    want = sr.super_resolve(lr, ref, model)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_an_lr_image_too_large_for_memory_is_refused_before_any_work(monkeypatch):
    from core.errors import UserError

    monkeypatch.setenv("SAR_STUDIO_SR_MAX_LR_PIXELS", "1000")
    with pytest.raises(UserError, match=r"LR image is 40x30: .* crop it or raise SAR_STUDIO_SR_MAX_LR_PIXELS"):
        sr.super_resolve(np.zeros((30, 40, 3), np.float32), np.zeros((120, 160, 3), np.float32), PointwiseNet())
