"""RRSGAN written as a functional reference from its published structure (F.conv2d on the module's own state dict,
central-difference gradients, a DCNv2 with explicit bilinear gathers, a hand pixel shuffle, the bilinear x4 residual
base); the RGTGAN reference extends it."""

import torch
import torch.nn.functional as F


def _lrelu(t):
    return F.leaky_relu(t, 0.1)


class Ref:
    def __init__(self, sd, groups):
        self.sd, self.groups = sd, groups

    def conv(self, key, x, stride=1):
        w = self.sd[f"{key}.weight"]
        return F.conv2d(x, w, self.sd[f"{key}.bias"], stride, w.shape[-1] // 2)

    @staticmethod
    def gradient(x):
        p = F.pad(x, (1, 1, 1, 1))
        dv = p[:, :, 2:, 1:-1] - p[:, :, :-2, 1:-1]
        dh = p[:, :, 1:-1, 2:] - p[:, :, 1:-1, :-2]
        return torch.sqrt(dv * dv + dh * dh + 1e-6)

    def encoder(self, prefix, x):
        c1 = F.selu(self.conv(f"{prefix}.conv1.0", F.selu(self.conv(f"{prefix}.layer_f.0", x))))
        c2 = F.selu(self.conv(f"{prefix}.conv2.0", c1, 2))
        return c1, c2, F.selu(self.conv(f"{prefix}.conv3.0", c2, 2))

    @staticmethod
    def bilinear_zero(img, y, x):
        """img (C, H, W); y, x (...): bilinear samples (C, ...), zero outside the image."""
        c, h, w = img.shape
        y0, x0 = torch.floor(y), torch.floor(x)
        out = torch.zeros((c,) + y.shape, dtype=img.dtype)
        for yy, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
            for xx, wx in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
                ok = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
                v = img[:, yy.clamp(0, h - 1).long(), xx.clamp(0, w - 1).long()]
                out += v * (wy * wx * ok)
        return out

    def dcn(self, key, value, offset_feature):
        om = self.conv(f"{key}.conv_offset_mask", offset_feature)
        n, c, h, w = value.shape
        g = self.groups
        third = om.shape[1] // 3
        offset = torch.cat([om[:, :third], om[:, third : 2 * third]], 1).reshape(n, g, 9, 2, h, w)
        mask = torch.sigmoid(om[:, 2 * third :]).reshape(n, g, 9, h, w)
        weight, bias = self.sd[f"{key}.weight"], self.sd[f"{key}.bias"]
        ys, xs = torch.meshgrid(torch.arange(h, dtype=value.dtype), torch.arange(w, dtype=value.dtype), indexing="ij")
        out = torch.zeros(n, weight.shape[0], h, w, dtype=value.dtype)
        cg = c // g
        for b in range(n):
            for gi in range(g):
                chans = slice(gi * cg, (gi + 1) * cg)
                for q in range(9):
                    ky, kx = divmod(q, 3)
                    y = ys + ky - 1 + offset[b, gi, q, 0]
                    x = xs + kx - 1 + offset[b, gi, q, 1]
                    s = self.bilinear_zero(value[b, chans], y, x) * mask[b, gi, q]  # (cg, h, w)
                    out[b] += torch.einsum("oc,chw->ohw", weight[:, chans, ky, kx], s)
        return out + bias.view(1, -1, 1, 1)

    def align(self, use, ref, lr):
        a = "gpcd_align"

        def up(t):
            return F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)

        o3 = _lrelu(
            self.conv(f"{a}.L3_offset_conv2", _lrelu(self.conv(f"{a}.L3_offset_conv1", torch.cat([ref[2], lr[2]], 1))))
        )
        f3 = _lrelu(self.conv(f"{a}.L3_fea_conv", self.dcn(f"{a}.L3_dcnpack", use[2], o3)))
        o2 = _lrelu(self.conv(f"{a}.L2_offset_conv1", torch.cat([ref[1], lr[1]], 1)))
        o2 = _lrelu(self.conv(f"{a}.L2_offset_conv2", torch.cat([o2, up(o3) * 2], 1)))
        o2 = _lrelu(self.conv(f"{a}.L2_offset_conv3", o2))
        f2 = _lrelu(self.conv(f"{a}.L2_fea_conv", torch.cat([self.dcn(f"{a}.L2_dcnpack", use[1], o2), up(f3)], 1)))
        o1 = _lrelu(self.conv(f"{a}.L1_offset_conv1", torch.cat([ref[0], lr[0]], 1)))
        o1 = _lrelu(self.conv(f"{a}.L1_offset_conv2", torch.cat([o1, up(o2) * 2], 1)))
        o1 = _lrelu(self.conv(f"{a}.L1_offset_conv3", o1))
        f1 = self.conv(f"{a}.L1_fea_conv", torch.cat([self.dcn(f"{a}.L1_dcnpack", use[0], o1), up(f2)], 1))
        oc = _lrelu(
            self.conv(f"{a}.cas_offset_conv2", _lrelu(self.conv(f"{a}.cas_offset_conv1", torch.cat([f1, lr[0]], 1))))
        )
        return _lrelu(self.conv(f"{a}.cas_fea_conv", self.dcn(f"{a}.cas_dcnpack", f1, oc))), f2, f3

    def res_stack(self, prefix, x, n):
        for i in range(n):
            x = x + self.conv(f"{prefix}.{i}.body.2", torch.relu(self.conv(f"{prefix}.{i}.body.0", x)))
        return x

    @staticmethod
    def pixel_shuffle2(x):
        n, c4, h, w = x.shape
        return x.reshape(n, c4 // 4, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3).reshape(n, c4 // 4, 2 * h, 2 * w)

    def __call__(self, lr, lr_up, ref, ref_dup, n_blocks):
        feats = []
        for img in (lr_up, ref_dup, ref):
            a, b = self.encoder("Encoder", img), self.encoder("Encoder_grad", self.gradient(img))
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
            hh = self.res_stack(f"{t}.body_{scale}", hh, n_blocks) + x
            if scale == "large":
                x = self.conv(f"{t}.tail_large.2", _lrelu(self.conv(f"{t}.tail_large.0", hh)))
            else:
                x = _lrelu(self.pixel_shuffle2(self.conv(f"{t}.tail_{scale}.0", hh)))
        return x + F.interpolate(lr, scale_factor=4, mode="bilinear", align_corners=False)
