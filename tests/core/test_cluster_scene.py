"""One scene split across a Dask cluster (issue 24): its windows (with their halo) are tasks, the blocks are written
in the serial order, so the file has the bytes of the serial run; a task lost with a killed worker is redone."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from core import batch
from core import io as sio
from core.cli import main as cli_main


def test_one_scene_on_two_workers_has_the_bytes_of_the_serial_run(cluster, tmp_path, utm_geo):
    lc, client = cluster
    rng = np.random.default_rng(3)
    scene = rng.gamma(1.0, 0.1, (1100, 1300)).astype(np.float32)  # 3 x 3 windows of 512, edges smaller
    scene[:40, :40] = np.nan
    src = sio.write_geotiff(tmp_path / "scene.tif", scene, utm_geo)
    argv = ["despeckle", str(src), "--filter", "lee", "--window", "7", "--no-progress"]
    assert cli_main([*argv[:2], str(tmp_path / "serial.tif"), *argv[2:]]) == 0
    before = len(client.who_has())
    assert cli_main([*argv[:2], str(tmp_path / "dask.tif"), *argv[2:], "--scheduler", lc.scheduler_address]) == 0
    assert (tmp_path / "serial.tif").read_bytes() == (tmp_path / "dask.tif").read_bytes()
    assert len(client.who_has()) >= before  # the scheduler saw the run (its tasks are released when done)
    out = sio.read_raster(tmp_path / "dask.tif")
    assert out.geo.crs_wkt == utm_geo.crs_wkt and out.data.shape == scene.shape


def test_a_single_scene_refuses_the_cluster_for_png_output(tmp_path, utm_geo, capsys):
    src = sio.write_geotiff(tmp_path / "s.tif", np.ones((64, 64), np.float32), utm_geo)
    rc = cli_main(["despeckle", str(src), str(tmp_path / "o.png"), "--filter", "lee", "--workers", "2"])
    assert rc == 2 and "split one scene only" in capsys.readouterr().err


def _square_or_die_once(marker: str, i: int) -> int:
    """i², except that the first attempt at item 3 kills its worker process (as an OOM kill would)."""
    if i == 3 and not os.path.exists(marker):
        Path(marker).write_text("killed")
        os._exit(1)
    return i * i


def test_map_ordered_redoes_the_tasks_of_a_killed_worker_and_keeps_the_order(cluster, tmp_path):
    _, client = cluster
    marker = str(tmp_path / "killed")
    got = list(batch.map_ordered(client, _square_or_die_once, [(marker, i) for i in range(8)], in_flight=4))
    assert got == [i * i for i in range(8)]
    assert Path(marker).read_text() == "killed"  # the worker did die, and item 3 was computed again elsewhere
