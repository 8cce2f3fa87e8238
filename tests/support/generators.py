"""Random-weight translation generators and their hand-written functional references.

The references are written with torch.nn.functional directly from the state_dict (eval mode), following the
architecture descriptions of the source projects, not from the module code (tests/models/test_models_translate.py
checks the networks against them; the translation tests use them for the expected pixels). `_tiny_unet` writes a
small SAR2Optical U-Net in our safetensors format."""

import torch
import torch.nn.functional as F

from core import checkpoints as ck
from core.translate import generators as gn
from models.registry import build

# ------------------------------------------------------------------- hand-written functional references


def _randomise(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for k, t in model.state_dict().items():
            if t.dtype.is_floating_point:
                if k.endswith("running_var"):
                    t.copy_(torch.rand(t.shape, generator=g) + 0.5)
                elif k.endswith("res_weight"):
                    t.copy_(torch.tensor([0.7]))
                else:
                    t.copy_(torch.randn(t.shape, generator=g) * 0.2)
    return model.eval()


def _bn(x, sd, p):
    return F.batch_norm(
        x, sd[p + "running_mean"], sd[p + "running_var"], sd[p + "weight"], sd[p + "bias"], False, 0.0, 1e-5
    )


def _inorm(x):
    mu = x.mean(dim=(2, 3), keepdim=True)
    var = x.var(dim=(2, 3), keepdim=True, unbiased=False)
    return (x - mu) / torch.sqrt(var + 1e-5)


def sar2optical_reference(sd, x, n_down):
    skips = []
    for i in range(1, n_down + 1):
        p = f"encoder.enc{i}.conv_block."
        x = F.conv2d(x, sd[p + "0.weight"], sd.get(p + "0.bias"), stride=2, padding=1)
        if i > 1:
            x = _bn(x, sd, p + "1.")
        x = F.leaky_relu(x, 0.2)
        skips.append(x)
    for j in range(1, n_down + 1):
        p = f"decoder.dec{j}.conv_block."
        x = F.conv_transpose2d(x, sd[p + "0.weight"], stride=2, padding=1)
        x = F.relu(_bn(x, sd, p + "1."))
        if j < n_down:
            x = torch.cat([skips[n_down - 1 - j], x], 1)
    return torch.tanh(F.conv2d(x, sd["head.0.weight"], sd["head.0.bias"], padding=1))


def junyan_reference(sd, x, num_downs):
    def block(x, prefix, level):  # level 0 = outermost
        p = prefix + "model."
        if level == 0:
            h = F.conv2d(x, sd[p + "0.weight"], stride=2, padding=1)
            h = block(h, p + "1.", 1)
            return torch.tanh(F.conv_transpose2d(F.relu(h), sd[p + "3.weight"], sd[p + "3.bias"], stride=2, padding=1))
        if level == num_downs - 1:
            h = F.conv2d(F.leaky_relu(x, 0.2), sd[p + "1.weight"], stride=2, padding=1)
            h = F.conv_transpose2d(F.relu(h), sd[p + "3.weight"], stride=2, padding=1)
            return torch.cat([x, _bn(h, sd, p + "4.")], 1)
        h = _bn(F.conv2d(F.leaky_relu(x, 0.2), sd[p + "1.weight"], stride=2, padding=1), sd, p + "2.")
        h = block(h, p + "3.", level + 1)
        h = _bn(F.conv_transpose2d(F.relu(h), sd[p + "5.weight"], stride=2, padding=1), sd, p + "6.")
        return torch.cat([x, h], 1)

    return block(x, "model.", 0)


def _pad(t, n):
    return F.pad(t, (n, n, n, n), mode="reflect")


def _resblock(sd, p, x, se):
    r = F.relu(_inorm(F.conv2d(_pad(x, 1), sd[p + "conv_block.1.weight"], sd[p + "conv_block.1.bias"])))
    r = _inorm(F.conv2d(_pad(r, 1), sd[p + "conv_block.5.weight"], sd[p + "conv_block.5.bias"]))
    if se:
        s = r.mean(dim=(2, 3), keepdim=True)
        s = F.relu(F.conv2d(s, sd[p + "se.1.weight"], sd[p + "se.1.bias"]))
        s = torch.sigmoid(F.conv2d(s, sd[p + "se.3.weight"], sd[p + "se.3.bias"]))
        return x + sd[p + "res_weight"] * r * s
    return x + r


def global_trunk(sd, x, d, nb, se):
    """GlobalGenerator up to (and including) its last up-sampling block, instance norm."""
    x = F.relu(_inorm(F.conv2d(_pad(x, 3), sd["model.1.weight"], sd["model.1.bias"])))
    for i in range(d):
        k = 4 + 3 * i
        x = F.relu(_inorm(F.conv2d(x, sd[f"model.{k}.weight"], sd[f"model.{k}.bias"], stride=2, padding=1)))
    for j in range(nb):
        x = _resblock(sd, f"model.{4 + 3 * d + j}.", x, se)
    for i in range(d):
        k = 4 + 3 * d + nb + 3 * i
        x = F.relu(
            _inorm(
                F.conv_transpose2d(
                    x, sd[f"model.{k}.weight"], sd[f"model.{k}.bias"], stride=2, padding=1, output_padding=1
                )
            )
        )
    return x


def global_reference(sd, x, d, nb, se):
    k = 5 + 6 * d + nb
    return torch.tanh(F.conv2d(_pad(global_trunk(sd, x, d, nb, se), 3), sd[f"model.{k}.weight"], sd[f"model.{k}.bias"]))


def local_reference(sd, x, d, nb_global, nb_local):
    """LocalEnhancer with one enhancer: the global trunk on the 3x3/s2 average-pooled input, plus the local branch."""
    coarse = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
    g = global_trunk(sd, coarse, d, nb_global, False)
    h = F.relu(_inorm(F.conv2d(_pad(x, 3), sd["model1_1.1.weight"], sd["model1_1.1.bias"])))
    h = F.relu(_inorm(F.conv2d(h, sd["model1_1.4.weight"], sd["model1_1.4.bias"], stride=2, padding=1)))
    h = h + g
    for j in range(nb_local):
        h = _resblock(sd, f"model1_2.{j}.", h, False)
    k = nb_local
    h = F.relu(
        _inorm(
            F.conv_transpose2d(
                h, sd[f"model1_2.{k}.weight"], sd[f"model1_2.{k}.bias"], stride=2, padding=1, output_padding=1
            )
        )
    )
    return torch.tanh(F.conv2d(_pad(h, 3), sd[f"model1_2.{k + 4}.weight"], sd[f"model1_2.{k + 4}.bias"]))


def _tiny_unet(tmp_path, seed=0, in_channels=1, name="tiny.safetensors"):
    torch.manual_seed(seed)
    model = build("sar2optical_unet", {"width": 4, "n_down": 4, "in_channels": in_channels}).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    path = tmp_path / name
    ck.save_model(path, model, normalization=gn.translation_normalization(in_channels))
    return path
