"""Options shared by every command that writes GeoTIFFs: `--compress CODEC[:LEVEL]`.

The choice is applied for the whole run by `apply_compress` (core.cli.main calls it): it sets SAR_STUDIO_COMPRESS,
which every GeoTIFF writer in core.io reads (core.io.write.compression_options) and which a Dask worker of the run
gets too (core.batch sends it to the workers).
"""

from __future__ import annotations

import argparse
import os

COMPRESS_HELP = (
    "GeoTIFF codec: zstd (default, level 1), deflate, lzw or none, with an optional level (zstd:1-22, deflate:1-12), "
    "e.g. --compress deflate:6; the encoder uses the run's thread budget"
)


def add_compress_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--compress", default=None, metavar="CODEC[:LEVEL]", help=COMPRESS_HELP)


def apply_compress(args: argparse.Namespace) -> None:
    """Check `--compress` (one-line UserError when wrong) and make it the run's default for every writer."""
    text = getattr(args, "compress", None)
    if text is None:
        return
    from core.io.write import COMPRESS_ENV, parse_compress  # noqa: PLC0415 - start-up: core.io.write loads numpy; a command's `--help` does not

    codec, level = parse_compress(text)
    os.environ[COMPRESS_ENV] = codec if level is None else f"{codec}:{level}"
