"""An independent functional Inception-v3 (pytorch-fid's FID variant) on a state dict, and random weights for it."""

import torch
import torch.nn.functional as F


def _random_state(net, seed=0):
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k, v in net.state_dict().items():
        if k.endswith("conv.weight"):
            fan_in = v[0].numel()
            sd[k] = torch.randn(v.shape, generator=g, dtype=torch.float64) * (2.0 / fan_in) ** 0.5
        elif k.endswith("bn.weight") or k.endswith("bn.running_var"):
            sd[k] = 0.5 + torch.rand(v.shape, generator=g, dtype=torch.float64)
        elif k.endswith("bn.bias") or k.endswith("bn.running_mean"):
            sd[k] = 0.1 * torch.randn(v.shape, generator=g, dtype=torch.float64)
        elif v.is_floating_point():
            sd[k] = 0.01 * torch.randn(v.shape, generator=g, dtype=torch.float64)
        else:
            sd[k] = v
    return sd


class Ref:
    """Functional pytorch-fid Inception-v3 reading a state dict by name."""

    def __init__(self, sd, size):
        self.sd, self.size = sd, size

    def conv(self, name, x, stride=1, padding=0):
        s = self.sd
        y = F.conv2d(x, s[f"{name}.conv.weight"], None, stride, padding)
        mean, var = s[f"{name}.bn.running_mean"], s[f"{name}.bn.running_var"]
        gamma, beta = s[f"{name}.bn.weight"], s[f"{name}.bn.bias"]
        y = (y - mean[:, None, None]) / torch.sqrt(var[:, None, None] + 1e-3) * gamma[:, None, None]
        return torch.relu(y + beta[:, None, None])

    @staticmethod
    def avg_excluding_pad(x):
        # 3x3 mean over the in-image neighbours only (count_include_pad=False), written as sum / count
        ones = torch.ones_like(x[:, :1])
        k = torch.ones(x.shape[1], 1, 3, 3, dtype=x.dtype)
        total = F.conv2d(x, k, padding=1, groups=x.shape[1])
        count = F.conv2d(ones, torch.ones(1, 1, 3, 3, dtype=x.dtype), padding=1)
        return total / count

    def block_a(self, p, x):
        c = self.conv
        b1 = c(f"{p}.branch1x1", x)
        b5 = c(f"{p}.branch5x5_2", c(f"{p}.branch5x5_1", x), padding=2)
        b3 = c(f"{p}.branch3x3dbl_3", c(f"{p}.branch3x3dbl_2", c(f"{p}.branch3x3dbl_1", x), padding=1), padding=1)
        bp = c(f"{p}.branch_pool", self.avg_excluding_pad(x))
        return torch.cat([b1, b5, b3, bp], 1)

    def block_b(self, p, x):
        c = self.conv
        b3 = c(f"{p}.branch3x3", x, stride=2)
        d = c(f"{p}.branch3x3dbl_3", c(f"{p}.branch3x3dbl_2", c(f"{p}.branch3x3dbl_1", x), padding=1), stride=2)
        return torch.cat([b3, d, F.max_pool2d(x, 3, 2)], 1)

    def block_c(self, p, x):
        c = self.conv
        h, v = (0, 3), (3, 0)  # paddings of the 1x7 and 7x1 convolutions
        b7 = c(f"{p}.branch7x7_3", c(f"{p}.branch7x7_2", c(f"{p}.branch7x7_1", x), padding=h), padding=v)
        d = c(f"{p}.branch7x7dbl_1", x)
        for i, pad in zip(range(2, 6), (v, h, v, h)):
            d = c(f"{p}.branch7x7dbl_{i}", d, padding=pad)
        bp = c(f"{p}.branch_pool", self.avg_excluding_pad(x))
        return torch.cat([c(f"{p}.branch1x1", x), b7, d, bp], 1)

    def block_d(self, p, x):
        c = self.conv
        b3 = c(f"{p}.branch3x3_2", c(f"{p}.branch3x3_1", x), stride=2)
        b7 = c(f"{p}.branch7x7x3_1", x)
        b7 = c(f"{p}.branch7x7x3_3", c(f"{p}.branch7x7x3_2", b7, padding=(0, 3)), padding=(3, 0))
        b7 = c(f"{p}.branch7x7x3_4", b7, stride=2)
        return torch.cat([b3, b7, F.max_pool2d(x, 3, 2)], 1)

    def block_e(self, p, x, last):
        c = self.conv
        b3 = c(f"{p}.branch3x3_1", x)
        b3 = torch.cat([c(f"{p}.branch3x3_2a", b3, padding=(0, 1)), c(f"{p}.branch3x3_2b", b3, padding=(1, 0))], 1)
        d = c(f"{p}.branch3x3dbl_2", c(f"{p}.branch3x3dbl_1", x), padding=1)
        d = torch.cat([c(f"{p}.branch3x3dbl_3a", d, padding=(0, 1)), c(f"{p}.branch3x3dbl_3b", d, padding=(1, 0))], 1)
        pool = F.max_pool2d(x, 3, 1, 1) if last else self.avg_excluding_pad(x)  # pytorch-fid's FIDInceptionE_2
        return torch.cat([c(f"{p}.branch1x1", x), b3, d, c(f"{p}.branch_pool", pool)], 1)

    def __call__(self, x):
        x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        x = 2 * x - 1
        x = self.conv("Conv2d_1a_3x3", x, stride=2)
        x = self.conv("Conv2d_2a_3x3", x)
        x = F.max_pool2d(self.conv("Conv2d_2b_3x3", x, padding=1), 3, 2)
        x = F.max_pool2d(self.conv("Conv2d_4a_3x3", self.conv("Conv2d_3b_1x1", x)), 3, 2)
        for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d"):
            x = self.block_a(name, x)
        x = self.block_b("Mixed_6a", x)
        for name in ("Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"):
            x = self.block_c(name, x)
        x = self.block_d("Mixed_7a", x)
        x = self.block_e("Mixed_7b", x, last=False)
        x = self.block_e("Mixed_7c", x, last=True)
        return x.mean(dim=(2, 3))  # pool3: global average
