"""`python -m core crossband` and `python -m core gram`: outputs, georeference, one-line errors with exit 2."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from core import io as sio
from core.cli import main
from tests.crossband.scenes import scene
from tests.support.repo import ROOT


def run(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse refuses a bad option itself (one line, exit 2)
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def content_tif(tmp_path, rng, utm_geo):
    inten = (rng.gamma(1.0, 1.0, (64, 64)) * np.linspace(0.05, 0.5, 64)[None]).astype(np.float32)
    path = tmp_path / "content.tif"
    sio.write_geotiff(path, inten, utm_geo, ["VV"])
    return path


@pytest.fixture
def style_png(tmp_path, rng):
    path = tmp_path / "style.png"
    sio.write_png(path, scene(rng, 64, 3.0))
    return path


def test_crossband_writes_geotiff_with_georeference_and_comparison(content_tif, style_png, tmp_path, capsys, utm_geo):
    out = tmp_path / "out.tif"
    code, stdout, err = run(
        [
            "crossband",
            str(content_tif),
            str(out),
            "--style",
            str(style_png),
            "--steps",
            "3",
            "--comparison",
            str(tmp_path / "cmp.png"),
            "--save-gram",
            str(tmp_path / "g.safetensors"),
            "--quiet",
        ],
        capsys,
    )
    assert code == 0, err
    assert "random multi-scale features (fallback" in err
    assert "3 adam steps" in stdout
    r = sio.read_raster(out)
    assert r.data.shape == (64, 64) and r.data.dtype == np.uint8
    assert r.geo is not None and r.geo.transform == utm_geo.transform
    assert sio.read_raster(tmp_path / "cmp.png").data.shape[1] > 3 * 64
    # the saved Gram drives a second run (our safetensors format through the CLI)
    code, _, err = run(
        [
            "crossband",
            str(content_tif),
            str(tmp_path / "o2.png"),
            "--style",
            str(tmp_path / "g.safetensors"),
            "--steps",
            "2",
            "--quiet",
        ],
        capsys,
    )
    assert code == 0, err
    assert sio.read_raster(tmp_path / "o2.png").data.shape == (64, 64)


def test_gram_command_writes_a_folder_mean(tmp_path, rng, capsys):
    folder = tmp_path / "vh"
    folder.mkdir()
    for i in range(2):
        sio.write_png(folder / f"{i}.png", scene(rng, 48 + 16 * i))
    code, stdout, err = run(["gram", str(folder), str(tmp_path / "g.safetensors")], capsys)
    assert code == 0, err
    assert "mean Gram of 2 images" in stdout
    from core.checkpoints import read_metadata

    assert read_metadata(tmp_path / "g.safetensors")["count"] == 2


@pytest.mark.parametrize(
    "args,message",
    [
        (["--style", "{tmp}/missing.png"], "style file or folder not found"),
        (["--style", "{tmp}/empty"], "holds no PNG, JPEG or TIFF images"),
        (["--style", "{tmp}/transband.pth"], "transband Gram file of VGG19 features"),
        (["--style", "{style}", "--vgg-weights", "{tmp}/nope.pth"], "VGG weights file not found"),
        (["--style", "{style}", "--content-layers", "relu4_4"], "content layer relu4_4 does not exist"),
        (["--style", "{style}", "--steps", "0"], "--steps: must be at least 1"),
        (["--style", "{style}", "--content-band", "3"], "band 3 does not exist"),
        (["--style", "{style}", "--threads", "0"], "--threads must be at least 1"),
    ],
)
def test_crossband_errors_are_one_line(args, message, content_tif, style_png, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    torch.save([torch.zeros(1, c, c) for c in (64, 128, 256, 512, 512)], tmp_path / "transband.pth")
    argv = ["crossband", str(content_tif), str(tmp_path / "out.png"), "--quiet"]
    argv += [a.format(tmp=tmp_path, style=style_png) for a in args]
    code, _, err = run(argv, capsys)
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], err
    assert not (tmp_path / "out.png").exists()


def test_gram_errors(tmp_path, capsys):
    code, _, err = run(["gram", str(tmp_path), str(tmp_path / "g.npy")], capsys)
    assert code == 2 and "error: g.npy: a Gram file ends in .safetensors" in err
    code, _, err = run(["gram", str(tmp_path / "nowhere"), str(tmp_path / "g.safetensors")], capsys)
    assert code == 2 and "is not a folder" in err
    (tmp_path / "a.png").write_bytes(b"not a png")
    code, _, err = run(["gram", str(tmp_path), str(tmp_path / "g.safetensors")], capsys)
    assert code == 2 and "error: a.png is not a PNG, JPEG or TIFF image" in err
    assert not (tmp_path / "g.safetensors").exists()


def test_real_command_line_exit_status(tmp_path):
    """The module entry point itself: stderr carries `error: ...`, exit status 2, no traceback."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "core",
            "crossband",
            str(tmp_path / "none.png"),
            str(tmp_path / "o.png"),
            "--style",
            str(tmp_path / "s.png"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == "error: none.png: file not found; check the path."
    assert "Traceback" not in proc.stderr


def test_transband_output_needs_vgg19(tmp_path, rng, capsys):
    sio.write_png(tmp_path / "a.png", scene(rng, 48))
    code, _, err = run(["gram", str(tmp_path), str(tmp_path / "g.pth")], capsys)
    assert code == 2 and "transband's Gram format holds VGG19" in err
    assert not (tmp_path / "g.pth").exists()
