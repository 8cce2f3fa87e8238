"""RGTGAN's full forward (models/rgtgan.py, tiny widths) against a functional reference written here from its
published structure: F.conv2d / F.conv_transpose2d on the module's own state dict, the GTEM with its
TensorFlow-port pixel shuffle written as an index scatter, the dense block, DCNv3 (depthwise conv + LayerNorm +
GELU offsets, softmax mask per group) with explicit bilinear gathers, and the LR-up residual."""

import torch
import torch.nn.functional as F

from models.rgtgan import RGTGANGenerator
from tests.models.rrsgan_functional import Ref as RRSRef
from tests.models.rrsgan_functional import _lrelu
from tests.support.superres import _inputs


def _lrelu_default(t):
    return F.leaky_relu(t, 0.01)


class Ref(RRSRef):
    def __init__(self, sd, groups, rounds, steps):
        super().__init__(sd, groups)
        self.rounds, self.steps = rounds, steps

    def linear(self, key, x):
        return x @ self.sd[f"{key}.weight"].T + self.sd[f"{key}.bias"]

    def deconv_selu(self, key, x):
        w = self.sd[f"{key}.0.weight"]
        return F.selu(F.conv_transpose2d(x, w, self.sd[f"{key}.0.bias"], 1, w.shape[-1] // 2))

    def conv_selu(self, key, x, stride=1):
        return F.selu(self.conv(f"{key}.0", x, stride))

    def dense(self, p, h):
        d = lambda i, t: _lrelu_default(self.deconv_selu(f"{p}.dconv_ud{i}", t))  # noqa: E731
        for _ in range(self.rounds):
            x1 = x2 = x3 = h
            for _ in range(self.steps):
                a = torch.cat([d(1, x1), d(2, x2), d(3, x3)], 1)
                x1, x2, x3 = d(4, torch.cat([a, x1], 1)), d(5, torch.cat([a, x2], 1)), d(6, torch.cat([a, x3], 1))
            h = h + d(7, torch.cat([x1, x2, x3], 1))
        return h

    @staticmethod
    def tf_pixel_shuffle(x, r=2):
        """Channel g*r*r + j*r + i at (h, w) lands at flat position ((h*W + w)*r + i)*r + j of plane g."""
        n, c, hh, ww = x.shape
        out = torch.zeros(n, c // (r * r), r * hh * r * ww, dtype=x.dtype)
        for g in range(c // (r * r)):
            for i in range(r):
                for j in range(r):
                    for h in range(hh):
                        for w in range(ww):
                            out[:, g, ((h * ww + w) * r + i) * r + j] = x[:, g * r * r + j * r + i, h, w]
        return out.reshape(n, c // (r * r), r * hh, r * ww)

    def gtem(self, x):
        p, cs, ds = "GTEM", self.conv_selu, self.deconv_selu
        f = _lrelu_default(cs(f"{p}.conv_e1", x))
        f = _lrelu_default(cs(f"{p}.conv_e3", cs(f"{p}.conv_e2", f), 2))
        f = _lrelu_default(cs(f"{p}.conv_e4", f))
        f = _lrelu_default(cs(f"{p}.conv_e5", f, 2))
        f = _lrelu_default(cs(f"{p}.conv_e7", f))
        res_in = f
        f = self.dense(p, f)
        f = self.res_stack(f"{p}.res_dense", f, self.n_gtem_blocks) + f
        f = _lrelu_default(cs(f"{p}.conv_e8", f))
        m = _lrelu_default(ds(f"{p}.dconv_m3", res_in))
        m = _lrelu_default(ds(f"{p}.dconv_m5", _lrelu_default(ds(f"{p}.dconv_m4", m))))
        f = torch.sigmoid(m) * f + f
        f = _lrelu_default(ds(f"{p}.dconv_m6", f))
        f = _lrelu_default(self.tf_pixel_shuffle(ds(f"{p}.dconv_d3", f)))
        f = _lrelu_default(self.tf_pixel_shuffle(ds(f"{p}.dconv_d4", f)))
        return ds(f"{p}.dconv_fusion2", f)

    def dcn(self, key, value, offset_feature):
        n, c, h, w = value.shape
        g = self.groups
        v = self.linear(f"{key}.input_proj", value.permute(0, 2, 3, 1))  # (N, H, W, C)
        dw = F.conv2d(offset_feature, self.sd[f"{key}.dw_conv.0.weight"], self.sd[f"{key}.dw_conv.0.bias"], 1, 1, 1, c)
        t = dw.permute(0, 2, 3, 1)
        t = (t - t.mean(-1, keepdim=True)) / torch.sqrt(t.var(-1, unbiased=False, keepdim=True) + 1e-6)
        t = t * self.sd[f"{key}.dw_conv.1.1.weight"] + self.sd[f"{key}.dw_conv.1.1.bias"]
        t = 0.5 * t * (1 + torch.erf(t / 2**0.5))  # GELU
        offset = self.linear(f"{key}.offset", t).reshape(n, h, w, g, 9, 2)  # (x, y) per group and point
        mask = torch.softmax(self.linear(f"{key}.mask", t).reshape(n, h, w, g, 9), -1)
        ys, xs = torch.meshgrid(torch.arange(h, dtype=value.dtype), torch.arange(w, dtype=value.dtype), indexing="ij")
        cg = c // g
        out = torch.zeros(n, c, h, w, dtype=value.dtype)
        for b in range(n):
            img = v[b].permute(2, 0, 1)
            for gi in range(g):
                for q in range(9):
                    dx, dy = q // 3 - 1, q % 3 - 1  # InternImage's point order
                    y = ys + dy + offset[b, :, :, gi, q, 1]
                    x = xs + dx + offset[b, :, :, gi, q, 0]
                    s = self.bilinear_zero(img[gi * cg : (gi + 1) * cg], y, x)
                    out[b, gi * cg : (gi + 1) * cg] += s * mask[b, :, :, gi, q]
        return self.linear(f"{key}.output_proj", out.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    def __call__(self, lr, lr_up, ref, ref_dup, n_blocks):
        feats = []
        for img in (lr_up, ref_dup, ref):
            a, b = self.encoder("Encoder", img), self.encoder("Encoder_grad_ori", self.gtem(self.gradient(img)))
            feats.append([torch.cat([u, v], 1) for u, v in zip(a, b)])
        lr_f, ref_f, use_f = feats
        maps = self.align(use_f, ref_f, lr_f)
        h = _lrelu(self.conv("content_extractor.head.0", lr))
        x = self.res_stack("content_extractor.body", h, n_blocks) + h
        t = "texture_transfer"
        for scale, m in (("small", maps[2]), ("medium", maps[1]), ("large", maps[0])):
            r = f"{t}.ram_head_{scale}"
            cat = torch.cat([m, x], 1)
            mul = torch.sigmoid(self.conv(f"{r}.mul_conv2", _lrelu(self.conv(f"{r}.mul_conv1", cat))))
            hh = m * mul + self.conv(f"{r}.add_conv2", _lrelu(self.conv(f"{r}.add_conv1", cat)))
            hh = _lrelu(self.conv(f"{t}.head_{scale}.0", torch.cat([x, hh], 1)))
            hh = self.dense(t, hh)
            hh = self.res_stack(f"{t}.body_{scale}", hh, n_blocks) + x
            if scale == "large":
                x = self.conv(f"{t}.tail_large.2", _lrelu(self.conv(f"{t}.tail_large.0", hh)))
            else:
                x = _lrelu(self.pixel_shuffle2(self.conv(f"{t}.tail_{scale}.0", hh)))
        return x + lr_up


def test_rgtgan_forward_matches_functional_reference():
    kw = dict(ngf=8, n_blocks=1, groups=2, gtem_nf=4, gtem_blocks=1, dense_rounds=1, dense_steps=2)
    net = RGTGANGenerator(**kw, with_unused=False).double().eval()
    g = torch.Generator().manual_seed(0)
    sd = {}
    for k, v in net.state_dict().items():
        if "get_g_nopadding" in k:
            sd[k] = v  # the fixed difference kernels
        elif v.dim() > 1:
            fan_in = v[0].numel() if "dconv" not in k else v.shape[0] * v[0, 0].numel()
            sd[k] = torch.randn(v.shape, generator=g, dtype=torch.float64) / fan_in**0.5
        else:
            sd[k] = torch.randn(v.shape, generator=g, dtype=torch.float64) * 0.05
    net.load_state_dict(sd, strict=True)
    ref_net = Ref(sd, kw["groups"], kw["dense_rounds"], kw["dense_steps"])
    ref_net.n_gtem_blocks = kw["gtem_blocks"]
    lr, lr_up, ref, ref_dup = (t.double() for t in _inputs(6))
    with torch.no_grad():
        ours = net(lr, lr_up, ref, ref_dup)
        separate = net(lr, lr_up, ref, ref_dup, separate_encoders=True)
        want = ref_net(lr, lr_up, ref, ref_dup, kw["n_blocks"])
    assert ours.shape == (1, 3, 24, 24)
    assert (want - lr_up).abs().max() > 1e-2  # the network's residual is not negligible
    torch.testing.assert_close(ours, want, rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(separate, want, rtol=1e-6, atol=1e-8)
