"""Random-weight checkpoints of every foreign generator format, small widths, written the way their projects write
them (.pth state_dicts, some with `module.` / `_orig_mod.` prefixes), each with its functional reference."""

import torch

from models.registry import build
from tests.support.generators import (
    _randomise,
    global_reference,
    junyan_reference,
    local_reference,
    sar2optical_reference,
)

FORMATS = {
    # name: (arch, config, key prefix written in the file, reference forward)
    "sar2optical": ("sar2optical_unet", {"width": 4}, "module.", lambda sd, x: sar2optical_reference(sd, x, 8)),
    "junyanz": ("junyan_unet", {"ngf": 4}, "_orig_mod.", lambda sd, x: junyan_reference(sd, x, 8)),
    "pix2pixhd": (
        "pix2pixhd_global",
        {"ngf": 4, "n_downsample": 2, "n_blocks": 2},
        "",
        lambda sd, x: global_reference(sd, x, 2, 2, False),
    ),
    "chrgan": (
        "pix2pixhd_global",
        {"ngf": 4, "n_downsample": 2, "n_blocks": 2, "se_blocks": True},
        "",
        lambda sd, x: global_reference(sd, x, 2, 2, True),
    ),
    "pix2pixhd_local": (
        "pix2pixhd_local",
        {"ngf": 4, "n_downsample_global": 2, "n_blocks_global": 1, "n_blocks_local": 1},
        "module.",
        lambda sd, x: local_reference(sd, x, 2, 1, 1),
    ),
}


def _write_pth(tmp_path, fmt, seed=0):
    arch, config, prefix, _ = FORMATS[fmt]
    torch.manual_seed(seed)
    model = _randomise(build(arch, config), seed=seed)
    path = tmp_path / f"{fmt}_latest_net_G.pth"
    torch.save({prefix + k: v for k, v in model.state_dict().items()}, path)
    return path, model
