"""`python -m core fid FOLDER_A FOLDER_B`: Frechet Inception distance between two folders of 8-bit RGB images.

  python -m core fid real/ generated/ --weights pt_inception-2015-12-05-6726825d.pth
  python -m core fid real/ generated/ --torchvision-inception inception_v3_google-0cc3c7bd.pth   # SAR2Optical's
--weights gives pytorch-fid's FID (the number papers compare); --torchvision-inception gives SAR2Optical's variant
(torchvision ImageNet Inception logits), labelled as not comparable with pytorch-fid. Neither weights file ships
with SAR Studio and nothing is downloaded: the user gives the file.
"""

from __future__ import annotations

import argparse
import json

from core.cli.args import positive_int
from core.compute import DEVICES, resolve_device
from core.progress import add_progress_option, cli_progress


def add_cli(sub) -> None:
    p = sub.add_parser(
        "fid",
        help="FID between two folders of images (pytorch-fid's definition; SAR2Optical's variant on request)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("folder_a", metavar="FOLDER_A")
    p.add_argument("folder_b", metavar="FOLDER_B")
    p.add_argument("--weights", help="pytorch-fid's FID Inception weights (pt_inception-2015-12-05-6726825d.pth)")
    p.add_argument(
        "--torchvision-inception",
        help="torchvision's ImageNet Inception-v3 weights (inception_v3_google-0cc3c7bd.pth): SAR2Optical's FID "
        "variant, not comparable with pytorch-fid",
    )
    p.add_argument("--batch-size", type=positive_int, default=16)
    p.add_argument("--device", default="auto", choices=DEVICES)
    add_progress_option(p)
    p.set_defaults(func=cmd_fid)


def cmd_fid(args) -> int:
    from core.metrics import fid_of_folders  # noqa: PLC0415 - start-up: core.metrics loads numpy; `fid --help` does not

    device, _ = resolve_device(args.device)
    with cli_progress("fid", unit="image", force=args.progress) as bar:
        out = fid_of_folders(
            args.folder_a, args.folder_b, args.weights, args.torchvision_inception, device, args.batch_size, bar
        )
    print(json.dumps(out, indent=2))
    return 0
