"""Cross-band SAR generation: Gatys style transfer with target-band Gram statistics.

An image is optimised so that its features carry the content of one radar band (the content image) and the
Gram statistics of another (the style: one image, the mean over a folder, or a Gram file). This follows
transband-SARgeneration: VGG19 features relu1_2, relu2_2, relu3_4, relu4_4, relu5_4 for style, relu4_4 for
content, Gram = F F^T / (C H W), loss = 1e5 * sum MSE(Gram) + sum MSE(content), Adam lr 0.01, 1000 steps,
starting from the content image, images in [-1, 1]. Every result says which extractor ran.

One job per module:
- features: the extractors (VGG weights or the random-feature fallback), layer names, index syntax, size limits
- images: display images in (dB, 2-98 % stretch) and out (PNG / GeoTIFF, comparison and grid PNGs)
- gram: Gram maths, one image's or a mean over images
- gram_files: our safetensors Gram file and transband's list-of-tensors .pth
- style: style statistics from an image, a folder or a Gram file
- generate: the optimisation (Adam / L-BFGS, content or noise start)
- visualise: images that excite one channel or one Gram element

The CLI (`python -m core crossband`, `python -m core gram`) is core/cli/crossband.py. torch is imported inside the
functions that need it, so importing this package (as `python -m core --help` does) stays light.
"""

from core.crossband.features import (
    BYTES_PER_PIXEL,
    DEFAULT_MEMORY_GB,
    RANDOM_CONTENT_LAYERS,
    RANDOM_DEFAULTS,
    VGG_DEFAULTS,
    Extractor,
    check_size,
    layer_names,
    layers_from_text,
    load_vgg,
    make_extractor,
    memory_limit_gb,
    parse_channels,
    parse_pairs,
    random_extractor,
    resolve_layers,
    torchvision_layer,
)
from core.crossband.generate import (
    INITS,
    OPTIMIZERS,
    CrossbandOptions,
    CrossbandResult,
    PreviewFn,
    final_losses,
    generate_crossband,
    inputs_signature,
    loss_log_rows,
    resolved_options,
)
from core.crossband.gram import (
    GramSet,
    ProgressFn,
    accumulate_grams,
    gram_matrix,
    image_grams,
    strongest_channels,
    strongest_pairs,
)
from core.crossband.gram_files import (
    GRAM_FORMAT,
    GRAM_SUFFIXES,
    encode_gram,
    is_gram_path,
    list_gram_files,
    load_gram,
    save_gram,
    save_transband_gram,
    write_gram,
)
from core.crossband.images import (
    as_rgb,
    band_display,
    comparison_png,
    encode_result_geotiff,
    grid_png,
    read_display,
    result_geo,
    to_display,
    to_tensor,
    value_histograms,
    write_result_image,
)
from core.crossband.style import (
    STYLE_SOURCES,
    category_of,
    folder_images,
    gram_from_folder,
    images_key,
    style_from_image,
    style_from_path,
    style_images_for,
)
from core.crossband.visualise import channel_images, gram_element_images, visual_targets

__all__ = [
    "STYLE_SOURCES",
    "category_of",
    "style_images_for",
    "torchvision_layer",
    "BYTES_PER_PIXEL",
    "DEFAULT_MEMORY_GB",
    "GRAM_FORMAT",
    "GRAM_SUFFIXES",
    "INITS",
    "OPTIMIZERS",
    "RANDOM_CONTENT_LAYERS",
    "RANDOM_DEFAULTS",
    "VGG_DEFAULTS",
    "CrossbandOptions",
    "CrossbandResult",
    "Extractor",
    "GramSet",
    "PreviewFn",
    "ProgressFn",
    "accumulate_grams",
    "as_rgb",
    "band_display",
    "channel_images",
    "check_size",
    "comparison_png",
    "encode_gram",
    "encode_result_geotiff",
    "final_losses",
    "folder_images",
    "generate_crossband",
    "gram_element_images",
    "visual_targets",
    "gram_from_folder",
    "gram_matrix",
    "grid_png",
    "image_grams",
    "images_key",
    "inputs_signature",
    "is_gram_path",
    "layer_names",
    "layers_from_text",
    "list_gram_files",
    "load_gram",
    "load_vgg",
    "loss_log_rows",
    "make_extractor",
    "memory_limit_gb",
    "parse_channels",
    "parse_pairs",
    "random_extractor",
    "read_display",
    "value_histograms",
    "resolve_layers",
    "resolved_options",
    "result_geo",
    "save_gram",
    "save_transband_gram",
    "strongest_channels",
    "strongest_pairs",
    "style_from_image",
    "style_from_path",
    "to_display",
    "to_tensor",
    "write_gram",
    "write_result_image",
]
