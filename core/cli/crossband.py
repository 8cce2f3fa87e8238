"""`python -m core crossband` (generate an image) and `python -m core gram` (a folder's mean Gram into a file):
argument parsing over the same core.crossband functions the cross-band page calls."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core import crossband as cb
from core import io as sio
from core.compute import DEVICES, resolve_device
from core.errors import UserError
from core.files import IMAGE_SUFFIXES, check_outputs, output_bytes


def _layers_arg(text: str | None) -> tuple[str, ...] | None:
    return tuple(s.strip() for s in text.split(",") if s.strip()) if text else None


def _band_arg(b: int | None) -> int | None:
    if b is None:
        return None
    if b < 1:
        raise UserError(f"bands are numbered from 1 (got {b}).")
    return b - 1


def _set_threads(n: int | None) -> None:
    if n is not None:
        if n < 1:
            raise UserError(f"--threads must be at least 1 (got {n}).")
        import torch  # heavy: only a run needs it, not `python -m core --help`

        torch.set_num_threads(n)


def _cli_crossband(args: argparse.Namespace) -> int:
    _set_threads(args.threads)  # also for the style Gram computed before the run

    out = Path(args.output)
    if out.suffix.lower() not in IMAGE_SUFFIXES:
        raise UserError(f"{out.name}: unknown output format {out.suffix or '(none)'}; use .png, .jpg or .tif.")
    extra = [Path(p) for p in (args.comparison, args.save_gram) if p]
    style_file = [Path(args.style)] if args.style and Path(args.style).exists() else []
    plan = [(Path(args.content), o) for o in [out, *extra]]
    check_outputs(plan, 3 * output_bytes(Path(args.content)), style_file)  # before any work: one line, nothing written
    extractor = cb.make_extractor(args.vgg_weights, args.seed)
    print(f"features: {extractor.label}", file=sys.stderr)
    content, raster = cb.read_display(args.content, band=_band_arg(args.content_band), kind=args.kind)
    device, _ = resolve_device(args.device)
    style, style_img = cb.style_from_path(
        args.style, extractor, _layers_arg(args.style_layers), _band_arg(args.style_band), args.kind, device
    )
    opts = cb.CrossbandOptions(
        steps=args.steps,
        optimizer=args.optimizer,
        lr=args.lr,
        style_weight=args.style_weight,
        content_weight=args.content_weight,
        style_layers=_layers_arg(args.style_layers),
        content_layers=_layers_arg(args.content_layers),
        seed=args.seed,
        device=args.device,
    )

    def progress(f: float, msg: str) -> None:
        if not args.quiet:
            print(f"\r{msg}   ", end="", file=sys.stderr, flush=True)

    result = cb.generate_crossband(content, style, extractor, opts, progress=progress, name=raster.name)
    if not args.quiet:
        print(file=sys.stderr)
    for n in result.notes:
        print(f"note: {n}", file=sys.stderr)
    cb.write_result_image(out, result.image, raster.geo)
    if args.comparison:
        sio.write_bytes(args.comparison, cb.comparison_png(result.content, result.image, style_img))
    if args.save_gram:
        cb.write_gram(args.save_gram, style)
    h = result.history
    print(
        f"{out}: {result.options.steps} {result.options.optimizer} steps in {result.seconds:.1f} s on "
        f"{result.device}; style loss {h[0]['style']:.4g} -> {h[-1]['style']:.4g}, content loss "
        f"{h[-1]['content']:.4g}"
    )
    return 0


def _cli_gram(args: argparse.Namespace) -> int:
    out = Path(args.output)
    if not cb.is_gram_path(out):
        raise UserError(
            f"{out.name}: a Gram file ends in .safetensors (ours) or .pth (transband's list); rename the output."
        )
    _set_threads(args.threads)
    extractor = cb.make_extractor(args.vgg_weights, args.seed)
    print(f"features: {extractor.label}", file=sys.stderr)
    device, note = resolve_device(args.device)
    if note:
        print(f"note: {note}", file=sys.stderr)
    gs = cb.gram_from_folder(
        args.folder,
        extractor,
        _layers_arg(args.layers),
        _band_arg(args.band),
        args.kind,
        device,
        progress=lambda f, m: print(f"\r{m}   ", end="", file=sys.stderr, flush=True),
    )
    print(file=sys.stderr)
    cb.write_gram(out, gs)
    print(f"{out}: mean Gram of {gs.count} images over {', '.join(gs.grams)} ({extractor.arch})")
    return 0


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "crossband",
        help="cross-band generation: content of one band, Gram statistics of another",
        description="Optimise an image that keeps the content of CONTENT and takes the texture statistics "
        "(Gram matrices) of STYLE: an image, a folder of images (mean Gram) or a Gram file "
        "(.safetensors from `gram`, or transband's .pth list). Without --vgg-weights the "
        "random multi-scale feature fallback runs (its own defaults: 60 steps, lr 0.03, style "
        "weight 1e6); with VGG19 weights transband's defaults (1000 steps, lr 0.01, 1e5).",
    )
    p.add_argument("content", help="content image (PNG, JPEG, GeoTIFF)")
    p.add_argument("output", help="output .png/.jpg (display) or .tif (same values, content's georeference)")
    p.add_argument("--style", required=True, help="style image, folder of images, or Gram file")
    p.add_argument(
        "--vgg-weights", help="torchvision VGG19/VGG16 weights (.pth state_dict); default: random-feature fallback"
    )
    p.add_argument("--steps", type=int, help="optimisation steps (default depends on the features)")
    p.add_argument("--optimizer", default="adam", choices=cb.OPTIMIZERS)
    p.add_argument("--lr", type=float, help="Adam learning rate")
    p.add_argument("--style-weight", type=float)
    p.add_argument("--content-weight", type=float)
    p.add_argument(
        "--style-layers", help="comma-separated, e.g. relu1_2,relu2_2 (default: all of the file / the extractor's five)"
    )
    p.add_argument("--content-layers", help="comma-separated (default relu4_4 for VGG19, rand2 for random)")
    p.add_argument("--content-band", type=int, help="band of a multi-band content file, from 1 (default 1)")
    p.add_argument("--style-band", type=int, help="band of multi-band style files, from 1 (default 1)")
    p.add_argument("--kind", choices=sio.KINDS, help="override the detected input kind of content and style")
    p.add_argument("--seed", type=int, default=0, help="seed (also picks the random features)")
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--comparison", help="also write a labelled content | style | generated PNG here")
    p.add_argument("--save-gram", help="also write the style statistics used (.safetensors or .pth)")
    p.add_argument(
        "--threads",
        type=int,
        help="PyTorch CPU threads (default: PyTorch's); on a busy shared machine 1 can be several times faster",
    )
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=_cli_crossband)

    g = subparsers.add_parser(
        "gram",
        help="accumulate a folder's mean Gram statistics into a Gram file",
        description="'Training' for cross-band generation: the mean Gram matrix per layer over every image in "
        "FOLDER (the target band), written to OUT (.safetensors, ours; or .pth, transband's list "
        "of 5 tensors, VGG19 only).",
    )
    g.add_argument("folder")
    g.add_argument("output")
    g.add_argument("--vgg-weights", help="torchvision VGG19/VGG16 weights; default: random-feature fallback")
    g.add_argument("--layers", help="comma-separated layers (default: the extractor's five style layers)")
    g.add_argument("--band", type=int, help="band of multi-band files, from 1 (default 1)")
    g.add_argument("--kind", choices=sio.KINDS, help="override the detected input kind")
    g.add_argument("--seed", type=int, default=0, help="seed of the random features (ignored with VGG)")
    g.add_argument("--device", default="auto", choices=DEVICES)
    g.add_argument("--threads", type=int, help="PyTorch CPU threads (default: PyTorch's)")
    g.set_defaults(func=_cli_gram)
