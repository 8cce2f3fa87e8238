"""The duration is estimated before a translation starts (issue 20): tiles x the time per tile measured now; the
CLI prints it and refuses a run above --max-minutes, writing nothing."""

import numpy as np

from core import io as sio
from core import translate as tr
from core.cli import main as cli_main
from core.tiling import count_tiles
from tests.translate.formats import _write_pth


def test_estimate_counts_the_tiles_and_the_cli_refuses_above_the_limit(tmp_path, rng, capsys):
    model, _ = _write_pth(tmp_path, "sar2optical")
    translator = tr.open_translator(model, tr.TranslateOptions(device="cpu", backend="torch", batch_size=2))
    est = tr.estimate_duration(translator, [(600, 900), (100, 80)])
    assert est.tiles == count_tiles(600, 900, 256, 32) + 1 and est.per_tile > 0
    assert est.seconds == est.tiles * est.per_tile  # no per-sample layers: no statistics pass
    src = tmp_path / "s.tif"
    sio.write_geotiff(src, rng.gamma(1.0, 0.05, (300, 300)).astype(np.float32), None, ["VV"])
    out = tmp_path / "o.tif"
    code = cli_main(["translate", str(src), str(out), "--model", str(model), "--max-minutes", "0"])
    err = capsys.readouterr().err
    assert code == 2 and not out.exists() and "above --max-minutes 0" in err and "4 tiles" in err
    assert cli_main(["translate", str(src), str(out), "--model", str(model)]) == 0
    assert "estimated duration" in capsys.readouterr().err and out.exists()
