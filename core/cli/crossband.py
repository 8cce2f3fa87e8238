"""`python -m core crossband` (generate an image) and `python -m core gram` (a folder's mean Gram into a file):
argument parsing over the same core.crossband functions the cross-band page calls."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core import crossband as cb
from core import io as sio
from core.cli.args import positive_float, positive_int
from core.compute import DEVICES, resolve_device
from core.errors import UserError
from core.files import IMAGE_SUFFIXES, check_outputs, list_images, output_bytes


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


def _output_for(content: Path, out: Path) -> Path:
    """Where one content image's result goes: OUT itself, or OUT/<stem>.png (.tif for a GeoTIFF input)."""
    if not out.suffix or out.is_dir():
        suffix = ".tif" if content.suffix.lower() in (".tif", ".tiff") else ".png"
        return out / (content.stem + suffix)
    return out


def _cli_crossband(args: argparse.Namespace) -> int:
    _set_threads(args.threads)  # also for the style Gram computed before the run

    out = Path(args.output)
    source = Path(args.content)
    if source.is_dir():
        contents = list_images(source)
        if not contents:
            raise UserError(f"{source} holds no PNG, JPEG or TIFF images; give a folder of content images.")
        if out.suffix and not out.is_dir():
            raise UserError(f"{out.name}: a folder of content images needs an output folder, not a file name.")
    else:
        contents = [source]
        if out.suffix.lower() not in IMAGE_SUFFIXES:
            raise UserError(f"{out.name}: unknown output format {out.suffix or '(none)'}; use .png, .jpg or .tif.")
    extra = [Path(p) for p in (args.comparison, args.save_gram) if p]
    style_file = [Path(args.style)] if args.style and Path(args.style).exists() else []
    plan = [(c, _output_for(c, out)) for c in contents] + [(contents[0], o) for o in extra]
    # before any work: one line, nothing written
    check_outputs(plan, 3 * sum(output_bytes(c) for c in contents), style_file)
    per_content = args.style_source in ("real", "style")
    if per_content:  # transband's --style_source real | style: one style image per content image
        if not Path(args.style).is_dir():
            raise UserError(
                f"--style-source {args.style_source} draws style images from a folder; give one as --style."
            )
        picks = cb.style_images_for(contents, args.style, args.style_source, args.same_category, args.seed)
    elif args.same_category:
        raise UserError("--same-category goes with --style-source style (a style image drawn per content).")
    extractor = cb.make_extractor(args.vgg_weights, args.seed)
    print(f"features: {extractor.label}", file=sys.stderr)
    style_layers = cb.layers_from_text(extractor, args.style_layers)
    content_layers = cb.layers_from_text(extractor, args.content_layers)
    first = cb.read_display(contents[0], band=_band_arg(args.content_band), kind=args.kind)  # before the style
    device, _ = resolve_device(args.device)
    if per_content:
        style, style_img = cb.style_from_path(
            picks[0], extractor, style_layers, _band_arg(args.style_band), args.kind, device
        )
    else:
        style, style_img = cb.style_from_path(
            args.style, extractor, style_layers, _band_arg(args.style_band), args.kind, device
        )
    opts = cb.CrossbandOptions(
        steps=args.steps,
        optimizer=args.optimizer,
        lr=args.lr,
        style_weight=args.style_weight,
        content_weight=args.content_weight,
        style_layers=style_layers,
        content_layers=content_layers,
        seed=args.seed,
        init=args.init,
        device=args.device,
    )

    def progress(f: float, msg: str) -> None:
        if not args.quiet:
            print(f"\r{msg}   ", end="", file=sys.stderr, flush=True)

    for i, path in enumerate(contents):
        target = _output_for(path, out)
        if len(contents) > 1:
            print(f"[{i + 1}/{len(contents)}] {path.name}", file=sys.stderr)
        content, raster = first if i == 0 else cb.read_display(path, band=_band_arg(args.content_band), kind=args.kind)
        if per_content:
            if i > 0:
                style, style_img = cb.style_from_path(
                    picks[i], extractor, style_layers, _band_arg(args.style_band), args.kind, device
                )
            print(f"style: {picks[i].name} ({args.style_source})", file=sys.stderr)
        result = cb.generate_crossband(content, style, extractor, opts, progress=progress, name=raster.name)
        if not args.quiet:
            print(file=sys.stderr)
        for n in result.notes:
            print(f"note: {n}", file=sys.stderr)
        target.parent.mkdir(parents=True, exist_ok=True)
        cb.write_result_image(target, result.image, raster.geo)
        if args.comparison:
            comparison = Path(args.comparison)
            if len(contents) > 1:
                comparison = comparison.with_name(f"{comparison.stem}_{path.stem}{comparison.suffix or '.png'}")
            sio.write_bytes(comparison, cb.comparison_png(result.content, result.image, style_img))
        h = result.history
        print(
            f"{target}: {result.options.steps} {result.options.optimizer} steps from the {result.options.init} "
            f"image in {result.seconds:.1f} s on {result.device}; style loss {h[0]['style']:.4g} -> "
            f"{h[-1]['style']:.4g}, content loss {h[-1]['content']:.4g}"
        )
    if args.save_gram:
        cb.write_gram(args.save_gram, style)  # with a per-content style source: the last content's
    return 0


def _cli_visualise(args: argparse.Namespace) -> int:
    out = Path(args.output)
    if out.suffix.lower() != ".png":
        raise UserError(f"{out.name}: the visualisation is a grid PNG; name the output .png.")
    if bool(args.channels) == bool(args.gram_elements):
        raise UserError("give either --channels (e.g. 0,1,2) or --gram-elements (e.g. 0-1,2-3).")
    _set_threads(args.threads)
    extractor = cb.make_extractor(args.vgg_weights, args.seed)
    print(f"features: {extractor.label}", file=sys.stderr)
    layers = cb.layers_from_text(extractor, args.layer) or ()
    if len(layers) != 1:
        raise UserError("give one layer with --layer, e.g. relu3_4 or its index 2.")
    device, _ = resolve_device(args.device)

    def progress(f: float, msg: str) -> None:
        print(f"\r{msg}   ", end="", file=sys.stderr, flush=True)

    kw = dict(size=args.size, steps=args.steps, lr=args.lr, seed=args.seed, device=device, progress=progress)
    if args.channels:
        panels = cb.channel_images(extractor, layers[0], cb.parse_channels(args.channels), **kw)
    else:
        panels = cb.gram_element_images(extractor, layers[0], cb.parse_pairs(args.gram_elements), **kw)
    print(file=sys.stderr)
    sio.write_bytes(out, cb.grid_png(panels, columns=args.columns))
    print(f"{out}: {len(panels)} panels of {layers[0]} ({extractor.arch})")
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
        cb.layers_from_text(extractor, args.layers),
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
    p.add_argument("content", help="content image (PNG, JPEG, GeoTIFF), or a folder of them")
    p.add_argument(
        "output",
        help="output .png/.jpg (display) or .tif (same values, content's georeference); for a content folder, "
        "a folder (each result named after its content image)",
    )
    p.add_argument("--style", required=True, help="style image, folder of images, or Gram file")
    p.add_argument(
        "--style-source",
        "--style_source",
        choices=cb.STYLE_SOURCES,
        default="total",
        help="transband's choice for a style folder: total (default: one mean Gram over the folder), real (each "
        "content image's partner, same place in name order), style (a style image drawn per content image, "
        "seeded by --seed)",
    )
    p.add_argument(
        "--same-category",
        "--same_category",
        action="store_true",
        help="with --style-source style: draw from style images of the content's category (name up to the first _)",
    )
    p.add_argument(
        "--vgg-weights", help="torchvision VGG19/VGG16 weights (.pth state_dict); default: random-feature fallback"
    )
    p.add_argument("--steps", type=positive_int, help="optimisation steps (default depends on the features)")
    p.add_argument("--optimizer", default="adam", choices=cb.OPTIMIZERS)
    p.add_argument("--init", default="content", choices=cb.INITS, help="start image (default content)")
    p.add_argument("--lr", type=positive_float, help="Adam learning rate")
    p.add_argument("--style-weight", type=float)
    p.add_argument("--content-weight", type=float)
    p.add_argument(
        "--style-layers",
        "--style_layer",
        help="comma-separated names (relu1_2,relu2_2) or indices into the five style layers from 0 (0,1) "
        "(default: all of the Gram file / the extractor's five)",
    )
    p.add_argument(
        "--content-layers",
        "--content_layer",
        help="comma-separated names or indices as transband's --content_layer 1,3 (0 relu1_2 .. 4 relu5_4), or "
        "their visualisation names Layer_N (torchvision feature index: VGG16 Layer_15 = relu3_3); "
        "default relu4_4 for VGG19, rand2 for random",
    )
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
    g.add_argument(
        "--layers", help="comma-separated layer names or indices (default: the extractor's five style layers)"
    )
    g.add_argument("--band", type=int, help="band of multi-band files, from 1 (default 1)")
    g.add_argument("--kind", choices=sio.KINDS, help="override the detected input kind")
    g.add_argument("--seed", type=int, default=0, help="seed of the random features (ignored with VGG)")
    g.add_argument("--device", default="auto", choices=DEVICES)
    g.add_argument("--threads", type=positive_int, help="PyTorch CPU threads (default: PyTorch's)")
    g.set_defaults(func=_cli_gram)

    v = subparsers.add_parser(
        "crossband-visualise",
        help="what a feature layer responds to: images that excite channels or Gram elements, as a grid PNG",
        description="transband's ContentVisualization / StyleVisualization: images optimised from faint noise to "
        "excite single channels (--channels) or Gram elements G[i,j] (--gram-elements) of one layer.",
    )
    v.add_argument("output", help="grid .png")
    v.add_argument(
        "--layer",
        required=True,
        help="layer name (relu3_4), index into the five style layers, or transband's Layer_N (torchvision feature "
        "index: VGG16 Layer_15 = relu3_3, VGG19 Layer_17 = relu3_4)",
    )
    v.add_argument("--channels", help="channel indices, e.g. 0,1,2")
    v.add_argument("--gram-elements", help="Gram elements i-j, e.g. 0-1,2-3")
    v.add_argument("--vgg-weights", help="torchvision VGG19/VGG16 weights; default: random-feature fallback")
    v.add_argument("--size", type=positive_int, default=96, help="panel size in pixels (default 96)")
    v.add_argument("--steps", type=positive_int, default=80, help="optimisation steps (default 80)")
    v.add_argument("--lr", type=positive_float, default=0.05, help="Adam learning rate (default 0.05)")
    v.add_argument("--columns", type=positive_int, default=4, help="panels per row (default 4)")
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--device", default="auto", choices=DEVICES)
    v.add_argument("--threads", type=positive_int, help="PyTorch CPU threads (default: PyTorch's)")
    v.set_defaults(func=_cli_visualise)
