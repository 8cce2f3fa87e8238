"""Losses and discriminators against independent references (scikit-image SSIM, closed forms, autograd)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.train import losses as L
from models.multiscale_discriminator import MultiscaleDiscriminator
from models.patchgan import PatchGAN


def test_ssim_matches_scikit_image(rng):
    from skimage.metrics import structural_similarity

    a = rng.random((2, 3, 40, 36)).astype(np.float32)
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1).astype(np.float32)
    ours = L.ssim(torch.from_numpy(a), torch.from_numpy(b), reduction="none").numpy()
    ref = [
        structural_similarity(
            a[i].transpose(1, 2, 0),
            b[i].transpose(1, 2, 0),
            data_range=1.0,
            channel_axis=2,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
        for i in range(2)
    ]
    np.testing.assert_allclose(ours, ref, atol=2e-4)
    x = torch.from_numpy(a[:1]) * 2 - 1
    assert float(L.ssim_loss(x, x)) == pytest.approx(0.0, abs=1e-5)
    y = torch.from_numpy(b[:1]) * 2 - 1
    assert float(L.ssim_loss(x, y)) == pytest.approx(2 * (1 - ref[0]), abs=5e-4)


def test_gan_losses_closed_form():
    logits = torch.tensor([[0.0, 2.0], [-1.0, 0.5]])
    sig = torch.sigmoid(logits)
    assert float(L.gan_loss(logits, True, "bce")) == pytest.approx(float(-torch.log(sig).mean()), rel=1e-6)
    assert float(L.gan_loss(logits, False, "bce")) == pytest.approx(float(-torch.log(1 - sig).mean()), rel=1e-6)
    assert float(L.gan_loss(logits, True, "lsgan")) == pytest.approx(float(((logits - 1) ** 2).mean()), rel=1e-6)
    nested = [[torch.zeros(1), logits], [torch.zeros(1), logits * 2]]
    assert float(L.gan_loss(nested, False, "lsgan")) == pytest.approx(
        float((logits**2).mean() + ((2 * logits) ** 2).mean()), rel=1e-6
    )
    with pytest.raises(ValueError):
        L.gan_loss(logits, True, "wgan")


def test_feature_matching_weights_like_pix2pixhd():
    # 2 scales, n_layers 1 -> 3 outputs per scale (2 features + logits); weight 4/(1+1)/2 = 1 per feature
    f = [[torch.full((1, 2), 1.0), torch.full((1, 2), 2.0), torch.zeros(1)] for _ in range(2)]
    r = [[torch.full((1, 2), 0.0), torch.full((1, 2), 0.5), torch.ones(1)] for _ in range(2)]
    assert float(L.feature_matching_loss(f, r)) == pytest.approx(2 * (1.0 + 1.5))


def test_psnr_closed_form():
    a = torch.zeros(1, 1, 4, 4)
    b = torch.full((1, 1, 4, 4), 0.1)
    assert float(L.psnr(a, b)[0]) == pytest.approx(10 * np.log10(1 / 0.01), rel=1e-6)


def test_patchgan_is_junyanz_70x70():
    d = PatchGAN(in_channels=6, ndf=64, n_layers=3)
    assert sum(p.numel() for p in d.parameters()) == 2_768_705  # junyanz's "Total number of parameters: 2.769 M"
    convs = sorted(k for k in d.state_dict() if k.endswith("weight") and d.state_dict()[k].ndim == 4)
    assert convs == ["model.0.weight", "model.11.weight", "model.2.weight", "model.5.weight", "model.8.weight"]
    assert "model.3.running_var" in d.state_dict() and "model.11.bias" in d.state_dict()
    # receptive field from autograd: the input pixels that reach one logit span exactly 70 x 70
    d = PatchGAN(in_channels=2, ndf=4, n_layers=3).eval()
    x = torch.randn(1, 2, 140, 140, requires_grad=True)
    out = d(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    ys, xs = np.nonzero(x.grad.abs().sum(1)[0].numpy())
    assert ys.max() - ys.min() + 1 == 70 and xs.max() - xs.min() + 1 == 70


def test_multiscale_discriminator_scales_and_features():
    d = MultiscaleDiscriminator(in_channels=6, ndf=8, n_layers=3, num_D=3)
    out = d(torch.randn(2, 6, 64, 64))
    assert len(out) == 3 and all(len(s) == 5 for s in out)
    # pix2pixHD geometry: k4 p2; s2 three times then s1 twice -> 64 -> 33 -> 17 -> 9 -> 10 -> 11
    assert out[0][-1].shape == (2, 1, 11, 11)
    # the second scale sees the input average-pooled once (3x3, stride 2, pad 1, no padded zeros)
    x = torch.randn(1, 6, 32, 32)
    pooled = F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)
    first = d.scale1_layer0(pooled)
    torch.testing.assert_close(d(x)[1][0], first)
    assert "scale2_layer4.0.weight" in d.state_dict()


def test_vgg_perceptual_loss_from_a_torchvision_file(tmp_path):
    from models.vgg import VGG19

    torch.manual_seed(0)
    net = VGG19()
    state = {f"module.{k}": v for k, v in net.state_dict().items()}
    state.update({"classifier.6.weight": torch.zeros(1000, 4096), "classifier.6.bias": torch.zeros(1000)})
    torch.save(state, tmp_path / "vgg19.pth")
    loss = L.VGGPerceptualLoss(str(tmp_path / "vgg19.pth"))
    a, b = torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        feats_a, feats_b = net(a, list(L.VGG_LAYERS)), net(b, list(L.VGG_LAYERS))
    expected = sum(w * F.l1_loss(feats_a[k], feats_b[k]) for k, w in zip(L.VGG_LAYERS, L.VGG_WEIGHTS))
    assert float(loss(a, b)) == pytest.approx(float(expected), rel=1e-5)
    assert float(loss(a, a)) == 0.0
    assert all(not p.requires_grad for p in loss.parameters())
