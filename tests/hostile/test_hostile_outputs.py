"""No surprises on output: an output that is an input, or exists and is not a regular file, is refused; a second
folder run skips its own earlier outputs; temporary files go on every exit path and stale ones of a killed run are
cleaned; an all-constant result gets a warning (issue 11, points 5 and 6)."""

import fcntl
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from core import checkpoints as ck
from core import io as sio
from core.cli import main
from core.errors import UserError
from core.files import check_outputs, skip_own_outputs
from core.translate import TranslateOptions, open_translator, translate_raster
from core.translate.generators import translation_normalization
from models.registry import build
from tests.support.repo import ROOT


def _cli(argv, capsys):
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def _one_line(code, err, *words):
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    for w in words:
        assert w in lines[0], (w, lines[0])


def _sar(path, seed=0, value=None):
    rng = np.random.default_rng(seed)
    data = np.full((32, 32), value, np.float32) if value is not None else rng.gamma(1.0, 0.1, (32, 32))
    return sio.write_geotiff(path, data.astype(np.float32))


@pytest.fixture()
def gen_file(tmp_path):
    torch.manual_seed(0)
    m = build("sar2optical_unet", {"in_channels": 1, "width": 4, "n_down": 5})
    return ck.save_model(tmp_path / "gen.safetensors", m, normalization=translation_normalization(1))


@pytest.fixture()
def grey_png(tmp_path):
    return sio.write_png(tmp_path / "a.png", (np.random.default_rng(2).random((32, 32)) * 255).astype(np.uint8))


def test_output_equal_to_input_is_refused(tmp_path, capsys, gen_file, grey_png):
    src = _sar(tmp_path / "a.tif")
    before = src.read_bytes()
    _one_line(*_cli(["despeckle", src, src, "--filter", "lee"], capsys), "is the input a.tif")
    _one_line(*_cli(["despeckle", src, tmp_path / "." / "a.tif", "--filter", "lee"], capsys), "is the input")
    assert src.read_bytes() == before
    png = grey_png.read_bytes()
    _one_line(*_cli(["translate", grey_png, grey_png, "--model", gen_file], capsys), "is the input a.png")
    assert grey_png.read_bytes() == png
    os.link(src, tmp_path / "link.tif")  # another name, same inode
    _one_line(*_cli(["despeckle", src, tmp_path / "link.tif", "--filter", "lee"], capsys), "same file as the input")
    assert src.read_bytes() == before
    assert not list(tmp_path.glob(".*.part"))


def test_outputs_that_are_not_regular_files_are_refused(tmp_path, capsys, gen_file, grey_png):
    src = _sar(tmp_path / "a.tif")
    fifo = tmp_path / "out.tif"
    os.mkfifo(fifo)
    _one_line(*_cli(["despeckle", src, fifo, "--filter", "lee"], capsys), "named pipe (FIFO)")
    assert fifo.is_fifo()
    fifo_png = tmp_path / "out.png"
    os.mkfifo(fifo_png)
    _one_line(*_cli(["translate", grey_png, fifo_png, "--model", gen_file], capsys), "named pipe (FIFO)")
    assert fifo_png.is_fifo()
    # a folder where a file is expected: the folder run's output name is taken by a folder
    (tmp_path / "in").mkdir()
    _sar(tmp_path / "in" / "b.tif")
    (tmp_path / "out" / "b_lee.tif").mkdir(parents=True)
    _one_line(*_cli(["despeckle", tmp_path / "in", tmp_path / "out", "--filter", "lee"], capsys), "is a folder")
    assert (tmp_path / "out" / "b_lee.tif").is_dir()
    # atomic_output refuses it too, for writers that do not go through the CLI
    with pytest.raises(UserError, match="not a regular file"):
        sio.write_bytes(fifo, b"x")


def test_second_folder_run_skips_its_own_outputs(tmp_path, capsys):
    folder = tmp_path / "scenes"
    folder.mkdir()
    _sar(folder / "a.tif", 0)
    _sar(folder / "road_lee.tif", 1)  # a user's file that only looks like ours: no road.tif beside it
    code, err = _cli(["despeckle", folder, folder, "--filter", "lee"], capsys)
    assert code == 0, err
    first = sorted(p.name for p in folder.iterdir())
    assert first == ["a.tif", "a_lee.tif", "road_lee.tif", "road_lee_lee.tif"]
    code, err = _cli(["despeckle", folder, folder, "--filter", "lee"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in folder.iterdir()) == first  # no a_lee_lee.tif, no road_lee_lee_lee.tif
    assert "skipped 2 earlier outputs" in err
    # the rule by itself, for another filter's outputs too
    names = [folder / n for n in ("a.tif", "a_lee.tif", "a_frost.tif", "b_lee.png", "c.png", "c_median.tif")]
    keep, skipped = skip_own_outputs(names, ("lee", "frost", "median"))
    assert [p.name for p in keep] == ["a.tif", "b_lee.png", "c.png"]
    assert [p.name for p in skipped] == ["a_lee.tif", "a_frost.tif", "c_median.tif"]


def test_two_inputs_with_one_output_are_refused(tmp_path):
    with pytest.raises(UserError, match="would both be written"):
        check_outputs([(tmp_path / "a.png", tmp_path / "o" / "a.tif"), (tmp_path / "a.tif", tmp_path / "o" / "a.tif")])


def test_temporary_files_go_on_every_exit_path(tmp_path):
    target = tmp_path / "x.tif"
    for exc in (ValueError("boom"), KeyboardInterrupt(), SystemExit(143)):  # error, Ctrl-C, SIGTERM via main()
        with pytest.raises(type(exc)):
            with sio.atomic_output(target) as tmp:
                tmp.write_bytes(b"partial")
                raise exc
    assert sorted(os.listdir(tmp_path)) == []
    # BlockWriter: a failure while opening the dataset (after the temporary file exists) leaves nothing either
    writer = sio.BlockWriter(target, 16, 16, 1, "complex256")  # kept alive: garbage collection must not be the cleanup
    with pytest.raises(TypeError):
        with writer:
            pass
    assert sorted(os.listdir(tmp_path)) == []
    with pytest.raises(RuntimeError):
        with sio.BlockWriter(target, 32, 32, 1, "float32", cog=True) as w:
            w.write(sio.Window(0, 0, 32, 32), np.zeros((32, 32), np.float32))
            raise RuntimeError("killed mid-write")
    assert sorted(os.listdir(tmp_path)) == []


def test_stale_part_files_of_a_killed_run_are_cleaned_at_the_next_run(tmp_path, capsys):
    src = _sar(tmp_path / "a.tif")
    out = tmp_path / "out"
    out.mkdir()
    # a run killed a second ago (SIGKILL: no lock held any more) left these; the next run removes them at once
    stale = [out / ".a_lee.tif.k3j_x9q2.part", out / ".b.tif.abcdefgh.gtiff.part", out / ".d.tif.qqqqqqqq.part"]
    live = [out / ".c.tif.zzzzzzzz.part", out / ".c.tif.zzzzzzzz.gtiff.part"]  # another run is writing c.tif
    theirs = [out / ".notes.part", out / "draft.part", out / ".a.tif.short.part"]  # not our pattern
    for p in [*stale, *live, *theirs]:
        p.write_bytes(b"x")
    fd = os.open(live[0], os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # what atomic_output holds while it writes
    try:
        code, err = _cli(["despeckle", src, out / "a_lee.tif", "--filter", "lee"], capsys)
    finally:
        os.close(fd)
    assert code == 0, err
    left = sorted(p.name for p in out.iterdir())
    assert left == sorted(["a_lee.tif", *(p.name for p in live), *(p.name for p in theirs)])


def test_a_part_file_of_the_same_output_left_by_sigkill_is_removed_by_the_rerun(tmp_path):
    """kill -9 during a streamed GeoTIFF write leaves the hidden .part; rerunning into the same output removes it."""
    out = tmp_path / "scene_lee.tif"
    code = (
        "import os, signal, numpy as np\n"
        "from core import io as sio\n"
        f"with sio.BlockWriter({str(out)!r}, 64, 64, 1, 'float32', cog=True) as w:\n"
        "    w.write(sio.Window(0, 0, 64, 64), np.ones((64, 64), np.float32))\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, timeout=120)
    assert run.returncode == -9
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 2 and all(n.startswith(".scene_lee.tif.") and n.endswith(".part") for n in left), left
    with sio.BlockWriter(out, 8, 8, 1, "float32") as w:  # the rerun (the CLI and the page's job write so)
        w.write(sio.Window(0, 0, 8, 8), np.zeros((8, 8), np.float32))
    assert [p.name for p in tmp_path.iterdir()] == ["scene_lee.tif"]


def test_all_constant_outputs_get_a_warning(tmp_path, capsys, gen_file):
    flat = _sar(tmp_path / "flat.tif", value=0.25)
    code, err = _cli(["despeckle", flat, tmp_path / "o.tif", "--filter", "lee"], capsys)
    assert code == 0, err
    assert any(ln.startswith("warning:") and "same value (0.25)" in ln for ln in err.splitlines()), err
    textured = _sar(tmp_path / "t.tif", 4)
    code, err = _cli(["despeckle", textured, tmp_path / "o2.tif", "--filter", "lee"], capsys)
    assert code == 0 and "warning:" not in err
    # a generator whose weights are all zero answers a constant image: a warning line and a note pages show
    zero = build("sar2optical_unet", {"in_channels": 1, "width": 4, "n_down": 5})
    with torch.no_grad():
        for p in zero.parameters():
            p.zero_()
    zpath = ck.save_model(tmp_path / "zero.safetensors", zero, normalization=translation_normalization(1))
    code, err = _cli(["translate", textured, tmp_path / "z.png", "--model", zpath], capsys)
    assert code == 0, err
    warn = [ln for ln in err.splitlines() if ln.startswith("warning:")]
    assert len(warn) == 1 and "same value" in warn[0], err
    tr = open_translator(str(zpath), TranslateOptions())
    res = translate_raster(sio.read_raster(textured), tr)
    tr.close()
    assert np.ptp(res.output) <= 1 and any("same value" in n for n in res.notes)  # 127.5 rounds to 127 or 128
    tr = open_translator(str(gen_file), TranslateOptions())
    res = translate_raster(sio.read_raster(textured), tr)
    tr.close()
    assert np.ptp(res.output) > 1 and not any("same value" in n for n in res.notes)
