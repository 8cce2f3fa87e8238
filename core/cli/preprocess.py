"""`python -m core preprocess`: SAR2Optical's extended `preprocess_qxslab.py`, same options (core.speckle.prepare).

  python -m core preprocess -i sar_images/ -o prepared/sar_images/ --filter lee --window-size 5 \\
      [--percentile-low 2 --percentile-high 98 | --no-normalize] [--gamma 0.8] [--grayscale]
A folder in gives a folder out with the same file names (their script renamed files N_lee.tif), so `train` reads
the prepared folder in the dataset's layout; `train --prefilter NAME[:window]` filters on the fly instead.
"""

from __future__ import annotations

import argparse

from core.cli.args import positive_int
from core.progress import add_progress_option, cli_progress


def add_cli(sub) -> None:
    p = sub.add_parser(
        "preprocess",
        help="speckle filter + percentile stretch + gamma of 8/16-bit SAR images (SAR2Optical's "
        "preprocess_qxslab.py options); a folder in gives a folder out with the same file names",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-i", "--input", required=True, help="an image, or a folder of images")
    p.add_argument("-o", "--output", required=True, help="output file, or folder (created; names kept)")
    p.add_argument(
        "--filter",
        default="lee",
        help="speckle filter (lee, frost, median, gaussian, bilateral, "
        "any core.speckle filter with a window) or none; default lee",
    )
    p.add_argument("--window-size", type=positive_int, default=5, help="filter window (odd); default 5")
    p.add_argument("--percentile-low", type=float, default=2.0, help="lower clip percentile; default 2")
    p.add_argument("--percentile-high", type=float, default=98.0, help="upper clip percentile; default 98")
    p.add_argument("--no-normalize", action="store_true", help="no percentile stretch (values kept)")
    p.add_argument("--gamma", type=float, default=1.0, help="gamma (<1 brightens); default 1")
    p.add_argument("--grayscale", action="store_true", help="read as one grey band, write RGB (3 equal bands)")
    add_progress_option(p)
    p.set_defaults(func=cmd_preprocess)


def cmd_preprocess(args) -> int:
    from core.speckle.prepare import PrepareOptions, prepare_files, prepare_plan  # noqa: PLC0415 - start-up: core.speckle loads numpy; `preprocess --help` does not

    opts = PrepareOptions(
        filter=args.filter,
        window=args.window_size,
        p_low=args.percentile_low,
        p_high=args.percentile_high,
        normalize=not args.no_normalize,
        gamma=args.gamma,
        grayscale=args.grayscale,
    ).check()
    pairs = prepare_plan(args.input, args.output)
    with cli_progress("preprocess", unit="image", force=args.progress) as bar:
        written = prepare_files(pairs, opts, progress=bar)
    print(f"{len(written)} image{'s' if len(written) != 1 else ''} written to {written[0].parent}")
    return 0
