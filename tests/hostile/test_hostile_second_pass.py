"""The second hostile probe (issue 17, medium and low): every case ends in one line and exit status 2 (st.error on a
page), never a traceback, a hang or silent acceptance."""

import os
import pickle
import struct
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from core.cli import main
from tests.support.apptest import app_test
from tests.support.repo import ROOT


def _cli(argv, capsys):
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def _one_line(code, err, *words):
    """Exit status 2 and one `error:` line (informational `note:` / `features:` lines may precede it)."""
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err and "Warning" not in err, err
    assert all(ln.startswith(("error:", "note:", "features:")) for ln in err.splitlines() if ln.strip()), err
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def bomb_tiff(width: int = 1_000_000, height: int = 1_000_000) -> bytes:
    """A classic little-endian TIFF of 150 bytes declaring width x height 8-bit pixels in one 16-byte strip."""
    entries = [
        (256, 4, width),  # ImageWidth
        (257, 4, height),  # ImageLength
        (258, 3, 8),  # BitsPerSample
        (259, 3, 1),  # Compression: none
        (262, 3, 1),  # Photometric: min-is-black
        (273, 4, 0),  # StripOffsets (filled below)
        (277, 3, 1),  # SamplesPerPixel
        (278, 4, height),  # RowsPerStrip
        (279, 4, 16),  # StripByteCounts
        (284, 3, 1),  # PlanarConfiguration
    ]
    data_offset = 8 + 2 + len(entries) * 12 + 4
    out = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", len(entries))
    for tag, typ, value in entries:
        value = data_offset if tag == 273 else value
        out += struct.pack("<HHIHH", tag, typ, 1, value, 0) if typ == 3 else struct.pack("<HHII", tag, typ, 1, value)
    return out + struct.pack("<I", 0) + bytes(16)


def _png(path, size=32):
    img = (np.random.default_rng(0).random((size, size)) * 255).astype(np.uint8)
    Image.fromarray(img).save(path)
    return path


# ------------------------------------------------------------------------------------- a header-only bomb


def test_a_tiff_declaring_a_million_squared_pixels_is_refused_by_info_in_one_line(tmp_path, capsys):
    path = tmp_path / "bomb.tif"
    path.write_bytes(bomb_tiff())
    assert len(path.read_bytes()) < 222
    _one_line(*_cli(["info", path], capsys), "bomb.tif", "1000000x1000000")


def test_a_tiff_declaring_a_million_squared_pixels_is_one_line_on_the_speckle_page(tmp_path, monkeypatch):
    monkeypatch.setenv("SAR_STUDIO_UPLOADS", str(tmp_path / "uploads"))
    at = app_test("speckle.py").run()
    at.radio(key="speckle_mode").set_value("Upload").run()
    at.file_uploader(key="speckle_upload").set_value(("bomb.tif", bomb_tiff(), "image/tiff")).run()
    assert not at.exception
    assert len(at.error) == 1 and "bomb.tif" in at.error[0].value


# ------------------------------------------------------------------------------------------- argparse


@pytest.mark.parametrize(
    "argv, words",
    [
        (["despeckle", "a.tif", "b.tif", "--looks", "0"], ["--looks", "above 0"]),
        (["despeckle", "a.tif", "b.tif", "--filter", "lee", "--window", "abc"], ["--window", "'abc'"]),
        (["translate", "a.tif", "b.png", "--model", "m", "--tile", "0"], ["--tile", "at least 1, got 0"]),
        (["translate", "a.tif", "b.png", "--model", "m", "--batch", "0"], ["--batch", "got 0"]),
        (["translate", "a.tif", "b.png", "--model", "m", "--batch", "-3"], ["--batch", "got -3"]),
        (["superres", "a.tif", "b.tif", "--ref", "r", "--model", "m", "--tile", "0"], ["--tile", "got 0"]),
        (["crossband", "a.png", "b.png", "--style", "s.png", "--steps", "0"], ["--steps", "got 0"]),
        (["despeckle", "a.tif"], ["required"]),
        (["nosuchcommand"], ["invalid choice"]),
    ],
)
def test_bad_options_are_one_line_with_exit_status_2(argv, words, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    line = _one_line(info.value.code, err, *words)
    assert "--help" in line and "usage:" not in err


# ------------------------------------------------------------------------------------- non-regular inputs


@pytest.mark.timeout(60)  # opening a FIFO without a writer blocks forever: a regression fails instead of hanging
@pytest.mark.parametrize("command", ["info", "despeckle", "crossband-style"])
def test_a_fifo_input_is_refused_before_it_is_opened(tmp_path, capsys, command):
    fifo = tmp_path / "pipe.tif"
    os.mkfifo(fifo)
    argv = {
        "info": ["info", fifo],
        "despeckle": ["despeckle", fifo, tmp_path / "o.tif", "--filter", "lee"],
        "crossband-style": ["crossband", _png(tmp_path / "c.png"), tmp_path / "o.png", "--style", fifo, "--steps", "1"],
    }[command]
    _one_line(*_cli(argv, capsys), "pipe.tif", "named pipe")


# ----------------------------------------------------------------------------------- hostile style files


class _Runs:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_named_safetensors_given_as_style_is_refused_in_one_line_and_runs_nothing(tmp_path, capsys):
    marker = tmp_path / "ran"
    style = tmp_path / "style.safetensors"
    style.write_bytes(pickle.dumps(_Runs(marker), protocol=2))
    code, err = _cli(
        ["crossband", _png(tmp_path / "c.png"), tmp_path / "o.png", "--style", style, "--steps", "1"], capsys
    )
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert code == 2 and len(errors) == 1 and "Traceback" not in err, err
    assert "style.safetensors" in errors[0] and "refused for safety" in errors[0]
    assert not marker.exists() and not (tmp_path / "o.png").exists()


def test_the_cli_prints_no_python_warning_for_a_plain_png(tmp_path):
    """rasterio's NotGeoreferencedWarning used to print two lines (with a source line) before every result."""
    src = _png(tmp_path / "plain.png", 48)
    run = subprocess.run(
        [sys.executable, "-m", "core", "despeckle", str(src), str(tmp_path / "o.tif"), "--filter", "lee"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "default"},
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "Warning" not in run.stderr and "warnings.warn" not in run.stderr and ".py:" not in run.stderr, run.stderr


def test_a_local_cluster_that_fails_to_start_is_one_line(tmp_path, capsys, monkeypatch):
    """A worker killed while the local cluster starts: distributed raises RuntimeError("Nanny failed to start.")."""
    import distributed

    def dies(*args, **kwargs):
        raise RuntimeError("Nanny failed to start.")

    monkeypatch.setattr(distributed, "LocalCluster", dies)
    folder = tmp_path / "in"
    folder.mkdir()
    _png(folder / "a.png")
    code, err = _cli(["despeckle", folder, tmp_path / "out", "--filter", "lee", "--workers", "2"], capsys)
    _one_line(code, err, "Dask cluster of 2 workers did not start", "Nanny failed to start")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


# ------------------------------------------------------------------------------------------ costs up front


@pytest.mark.parametrize("option", [["--batch-size", "100000"], ["--width", "100000"]])
def test_training_that_cannot_fit_is_refused_before_it_starts(tmp_path, capsys, monkeypatch, option):
    """Used to grow to 6.75 GB (batch) or end in torch's RuntimeError (width); now an estimate refuses it."""
    monkeypatch.setenv("SAR_STUDIO_MEMORY_GB", "8")
    run = tmp_path / "run"
    argv = ["train", "--data", "synthetic", "--run-dir", run, "--epochs", "1", "--device", "cpu", *option]
    _one_line(*_cli(argv, capsys), "needs about", "above the memory budget", "8.0 GB")
    assert not (run / "checkpoints").exists() and not list(run.glob("*.safetensors"))


def test_the_training_estimate_grows_with_batch_and_width_as_the_networks_do():
    """Against a closed form: weights x4 copies are batch-independent, activations scale linearly with batch."""
    import torch

    from core.train.config import TrainConfig
    from core.train.cost import BYTES, WEIGHT_COPIES, training_bytes
    from core.train.networks import build_discriminator, build_generator, objective_for

    cfg = TrainConfig(size=256, batch_size=1, width=4)
    g, d = build_generator(cfg, 3), build_discriminator(objective_for(cfg, None), cfg, 3)
    weights = sum(p.numel() for p in [*g.parameters(), *d.parameters()])
    one, four = training_bytes(cfg), training_bytes(TrainConfig(size=256, batch_size=4, width=4))
    acts_one = one - BYTES * WEIGHT_COPIES * weights
    assert acts_one > 0 and four - BYTES * WEIGHT_COPIES * weights == 4 * acts_one
    with torch.no_grad():  # activations counted are real module outputs: at least the generator's output
        assert acts_one >= 2 * g.eval()(torch.zeros(1, 3, 256, 256)).numel()


def test_torch_out_of_memory_is_the_one_out_of_memory_line(monkeypatch, capsys):
    from core.cli import info as info_cli

    def oom(args):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:121] DefaultCPUAllocator: can't allocate memory: 9e12 B")

    monkeypatch.setattr(info_cli, "run", oom)
    _one_line(*_cli(["info", "x.tif"], capsys), "out of memory")
    monkeypatch.setattr(info_cli, "run", lambda args: (_ for _ in ()).throw(RuntimeError("a real bug")))
    with pytest.raises(RuntimeError, match="a real bug"):  # other RuntimeErrors stay bugs
        main(["info", "x.tif"])


def test_crossband_with_a_billion_steps_is_refused_by_an_estimate(tmp_path, capsys):
    content = _png(tmp_path / "c.png", 64)
    argv = ["crossband", content, tmp_path / "o.png", "--style", content, "--steps", "1000000000", "--quiet"]
    _one_line(*_cli(argv, capsys), "1000000000 steps", "days", "SAR_STUDIO_MAX_RUN_HOURS")
    assert not (tmp_path / "o.png").exists()


def test_a_library_warning_during_a_folder_job_becomes_a_note_of_that_file(tmp_path):
    """Dask workers print to the user's terminal: their warnings travel back as the file's notes instead."""
    import warnings
    from pathlib import Path

    from core.batch import Job, run_job

    lib = {"__name__": "somelibrary", "warnings": warnings}
    exec("def work():\n    warnings.warn('the library\\n noticed something', UserWarning)\n", lib)
    expected = {"__name__": "rasterio.fake", "warnings": warnings}
    exec("def work():\n    warnings.warn('Dataset has no geotransform, gcps, or rpcs. x', UserWarning)\n", expected)

    def process_one(job):
        lib["work"]()
        lib["work"]()
        expected["work"]()
        return "done", ["our note"]

    with warnings.catch_warnings(record=True) as escaped:
        warnings.simplefilter("always")
        outcome = run_job(process_one, Job(Path(tmp_path / "a.png"), Path(tmp_path / "b.png")))
    assert outcome.status == "done" and escaped == []  # nothing left run_job as a Python warning
    assert outcome.notes == ["our note", "the library noticed something"]
