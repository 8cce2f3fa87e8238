"""`python -m core fid FOLDER_A FOLDER_B`: pytorch-fid's definition (the FID Inception file the user gives), and
SAR2Optical's variant (torchvision's ImageNet Inception logits) labelled as not comparable. The Frechet formula is
checked against scipy's matrix square root on small feature sets, the command against features computed here."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import linalg

from core import io as sio
from core.cli import main
from core.metrics import frechet_distance_of_features, sar2optical_inputs
from models.inception_fid import InceptionFID
from tests.support.inception_reference import Ref, _random_state


def scipy_fid(a, b):
    """FID written out with scipy's sqrtm (pytorch-fid's formula), independent of core.metrics."""
    m1, m2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    cov = linalg.sqrtm(s1 @ s2).real
    return float(((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(cov))


@pytest.mark.parametrize("n1,n2,d", [(5, 7, 12), (40, 50, 6), (9, 9, 9)])
def test_frechet_formula_agrees_with_scipy_sqrtm(n1, n2, d):
    rng = np.random.default_rng(n1 * 100 + d)
    a = rng.normal(size=(n1, d))
    b = rng.normal(0.4, 1.7, size=(n2, d))
    assert frechet_distance_of_features(a, b) == pytest.approx(scipy_fid(a, b), rel=1e-6, abs=1e-8)


def _folders(tmp_path, n=3, size=40):
    rng = np.random.default_rng(5)
    for name, shift in (("a", 0), ("b", 60)):
        for k in range(n):
            img = np.clip(rng.integers(0, 196, (size, size, 3)) + shift, 0, 255).astype(np.uint8)
            sio.write_png(tmp_path / name / f"{k}.png", img)
    return tmp_path / "a", tmp_path / "b"


def test_fid_command_matches_features_computed_here(tmp_path, capsys, monkeypatch):
    import core.metrics

    monkeypatch.setattr(core.metrics, "FID_INPUT_SIZE", 75)  # the plumbing at the smallest Inception input
    monkeypatch.setattr(core.metrics, "SAR2OPTICAL_RESIZE", 86)  # their 342 / 299, scaled down alike
    monkeypatch.setattr(core.metrics, "SAR2OPTICAL_CROP", 75)
    a, b = _folders(tmp_path)
    torch.manual_seed(0)
    net = InceptionFID(input_size=75).eval()
    torch.save(net.state_dict(), tmp_path / "pt_inception.pth")
    assert main(["fid", str(a), str(b), "--weights", str(tmp_path / "pt_inception.pth"), "--device", "cpu"]) == 0
    out = json.loads(capsys.readouterr().out)

    def feats(folder):
        imgs = [sio.read_raster(folder / f"{k}.png").data for k in range(3)]
        x = torch.stack([torch.from_numpy(i).permute(2, 0, 1).float() / 255 for i in imgs])
        with torch.no_grad():
            return net(x).double().numpy()

    assert out["fid"] == pytest.approx(scipy_fid(feats(a), feats(b)), rel=1e-5)
    assert out["fid"] > 0 and "pytorch-fid" in out["fid_definition"] and out["n_a"] == 3
    # SAR2Optical's variant needs the other file, and says it is not comparable
    torch.save({"fc.weight": torch.zeros(1008, 2048)}, tmp_path / "fid_like.pth")  # no AuxLogits: the FID file
    assert main(["fid", str(a), str(b), "--torchvision-inception", str(tmp_path / "fid_like.pth")]) == 2
    assert "not torchvision's ImageNet Inception-v3" in capsys.readouterr().err
    tv = InceptionFID(num_classes=1000, aux_logits=True, torchvision_pools=True).eval()
    torch.save(tv.state_dict(), tmp_path / "inception_v3_google.pth")
    assert main(["fid", str(a), str(b), "--torchvision-inception", str(tmp_path / "inception_v3_google.pth")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "NOT comparable with pytorch-fid" in out["fid_sar2optical_variant_definition"] and "fid" not in out
    assert np.isfinite(out["fid_sar2optical_variant"])
    # no weights: one line that says what to give
    assert main(["fid", str(a), str(b)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "never downloaded" in err


class TorchvisionRef(Ref):
    """The functional reference with torchvision's pools: padding counted, an average pool in the last E block."""

    @staticmethod
    def avg_excluding_pad(x):
        return F.avg_pool2d(x, 3, 1, 1)  # count_include_pad=True, torchvision's

    def block_e(self, p, x, last):
        return super().block_e(p, x, last=False)


def test_torchvision_variant_matches_its_functional_reference():
    net = InceptionFID(num_classes=1000, aux_logits=True, torchvision_pools=True).double().eval()
    sd = _random_state(net)
    net.load_state_dict(sd, strict=True)
    x = torch.randn(1, 3, 107, 107, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    with torch.no_grad():
        ours = net.imagenet_logits(x)
        pool = TorchvisionRef(sd, 107)((x + 1) / 2)  # the reference maps [0, 1] to [-1, 1]: feed x back in
    ref = pool @ sd["fc.weight"].T + sd["fc.bias"]
    assert ours.shape == (1, 1000)
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-4 * float(ref.abs().max()))


def test_sar2optical_transform_sizes_and_normalisation():
    img = np.full((256, 300, 3), 128, np.uint8)
    x = sar2optical_inputs([img])
    assert x.shape == (1, 3, 299, 299)  # 256 x 300 -> 342 x 400 -> centre 299
    expect = (128 / 255 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(x[0, :, 150, 150].numpy(), expect, rtol=1e-5)
