"""Images smaller than a generator's minimum side are refused with one line (core.translate.check_size), on the
CLI (in-memory PNG and streamed GeoTIFF paths) and on the translation page, instead of "translating" to one pixel."""

import numpy as np
import pytest

from core import io as sio
from core.cli import main as cli_main
from core.translate import MIN_SIDE
from tests.support.apptest import _with_model_path, app_test
from tests.translate.formats import _write_pth


@pytest.mark.parametrize("suffix", [".png", ".tif"])  # .png: in memory; .tif: streamed tile by tile
def test_cli_refuses_a_1x1_image_with_one_line(tmp_path, capsys, suffix):
    path, _ = _write_pth(tmp_path, "sar2optical")
    src = tmp_path / "dot.png"
    src.write_bytes(sio.encode_png(np.full((1, 1), 128, np.uint8)))
    out = tmp_path / f"dot_optical{suffix}"
    assert cli_main(["translate", str(src), str(out), "--model", str(path), "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("error:")]
    assert len(errors) == 1 and "1×1 px" in errors[0] and f"{MIN_SIDE} px" in errors[0]
    assert not out.exists()


def test_cli_translates_an_image_of_exactly_the_minimum_side(tmp_path):
    path, _ = _write_pth(tmp_path, "sar2optical")
    src = tmp_path / "small.png"
    src.write_bytes(sio.encode_png(np.random.default_rng(0).integers(0, 255, (MIN_SIDE, 40), np.uint8)))
    out = tmp_path / "small_optical.png"
    assert cli_main(["translate", str(src), str(out), "--model", str(path), "--device", "cpu"]) == 0
    assert sio.read_raster(out).data.shape == (MIN_SIDE, 40, 3)


@pytest.mark.usefixtures("data_roots", "empty_checkpoints")
def test_page_refuses_a_1x1_image_with_one_error(tmp_path, tiny_model):  # noqa: F811
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "dot.png").write_bytes(sio.encode_png(np.full((1, 1), 128, np.uint8)))
    at = _with_model_path(app_test("translate.py").run(), tiny_model)
    at.radio(key="translate_mode").set_value("Server folder").run()
    at.text_input(key="translate_folder").set_value(str(folder)).run()
    at.button(key="translate_run").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [next(e.value for e in at.error if "1×1 px" in e.value)]
    assert not at.get("iframe") and not at.download_button  # no result shown
