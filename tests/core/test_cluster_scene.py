"""One scene split across a Dask cluster (issue 24): its windows (with their halo) are tasks, the blocks are written
in the serial order, so the file has the bytes of the serial run; a task lost with a killed worker is redone."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from core import batch
from core import io as sio
from core.cli import main as cli_main
from core.errors import UserError
from tests.support.repo import ROOT


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


def _finished(job, timeout=120):
    import time

    t = time.monotonic()
    while not job.finished and time.monotonic() - t < timeout:
        time.sleep(0.02)
    assert job.finished, "the page's job did not finish"
    return job


def test_cli_page_job_and_cluster_write_the_same_bytes(cluster, tmp_path, utm_geo):
    """One function per job (issue 18): `despeckle` on one filter, the speckle page's whole-scene job and the same
    command with its windows on a 2-worker cluster write byte-identical COGs; the values equal the in-memory
    filter."""
    from core import speckle as sp
    from core.speckle.jobs import start_scene_job

    lc, _ = cluster
    rng = np.random.default_rng(5)
    scene = rng.gamma(1.0, 0.1, (700, 600)).astype(np.float32)  # 2 x 2 windows of 512, edges smaller
    scene[:30, :50] = np.nan
    src = sio.write_geotiff(tmp_path / "scene.tif", scene, utm_geo)
    argv = ["despeckle", str(src), "--filter", "lee", "--window", "7", "--looks", "1", "--cog", "--no-progress"]
    assert cli_main([*argv[:2], str(tmp_path / "cli.tif"), *argv[2:]]) == 0
    assert cli_main([*argv[:2], str(tmp_path / "dask.tif"), *argv[2:], "--scheduler", lc.scheduler_address]) == 0
    job = _finished(start_scene_job(src, tmp_path / "page.tif", "lee", {"window": 7, "looks": 1.0}))
    assert job.error is None and job.phase == "done"
    cli = (tmp_path / "cli.tif").read_bytes()
    assert (tmp_path / "page.tif").read_bytes() == cli
    assert (tmp_path / "dask.tif").read_bytes() == cli
    expected = sp.despeckle_raster(sio.read_raster(src), "lee", window=7, looks=1.0).data
    got = sio.read_raster(tmp_path / "page.tif").data
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=1e-7, equal_nan=True)


def test_several_filters_on_the_cluster_write_the_bytes_of_the_serial_run(cluster, tmp_path, utm_geo):
    """despeckle_scene with a Dask client: every window is one read on a worker for all the filters; each file has
    the bytes of the serial run."""
    from core.speckle.stream import despeckle_scene

    _, client = cluster
    scene = np.random.default_rng(7).gamma(1.0, 0.1, (600, 530)).astype(np.float32)
    src = sio.write_geotiff(tmp_path / "scene.tif", scene, utm_geo)
    params = {"lee": {"window": 7, "looks": 1.0}, "median": {"window": 5}}
    for how, c in (("serial", None), ("dask", client)):
        despeckle_scene(src, [(n, p, tmp_path / f"{how}_{n}.tif") for n, p in params.items()], client=c)
    for n in params:
        assert (tmp_path / f"dask_{n}.tif").read_bytes() == (tmp_path / f"serial_{n}.tif").read_bytes()
    assert not np.array_equal(sio.read_raster(tmp_path / "dask_lee.tif").data, scene)  # it did filter


def test_a_fresh_command_forks_its_workers_and_writes_the_bytes_of_the_serial_run(tmp_path, utm_geo):
    # a fresh `python -m core` has no torch, ONNX Runtime or OpenCV loaded when the cluster starts: its workers are
    # forked from it (worker_start_method), and the scene's windows computed there give the serial run's bytes
    import subprocess

    rng = np.random.default_rng(5)
    scene = rng.gamma(1.0, 0.1, (700, 900)).astype(np.float32)  # 2 x 2 windows of 512, edges smaller
    src = sio.write_geotiff(tmp_path / "scene.tif", scene, utm_geo)
    argv = ["despeckle", str(src), "--filter", "gamma_map", "--window", "5", "--no-progress"]
    assert cli_main([*argv[:2], str(tmp_path / "serial.tif"), *argv[2:]]) == 0
    root = ROOT
    env = {**os.environ, "PYTHONPATH": str(root)}
    env.pop(batch.START_ENV, None)
    probe = "from core import batch; import sys; sys.exit(batch.worker_start_method() != 'fork')"
    if sys.platform.startswith("linux"):
        assert subprocess.run([sys.executable, "-c", probe], cwd=root, env=env).returncode == 0
    out = tmp_path / "forked.tif"
    done = subprocess.run(
        [sys.executable, "-m", "core", *argv[:2], str(out), *argv[2:], "--workers", "2"],
        cwd=root, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-500:]
    assert (tmp_path / "serial.tif").read_bytes() == out.read_bytes()


def test_worker_start_method_forks_only_without_fork_unsafe_libraries(monkeypatch):
    monkeypatch.delenv(batch.START_ENV, raising=False)
    monkeypatch.setattr(batch.sys, "platform", "linux")
    assert batch.worker_start_method(["numpy", "rasterio", "distributed"]) == "fork"
    for unsafe in ("torch", "onnxruntime", "cv2"):  # their thread pools do not survive a fork once they ran
        assert batch.worker_start_method(["numpy", unsafe]) == "spawn"  # distributed's default
    monkeypatch.setattr(batch.sys, "platform", "darwin")
    assert batch.worker_start_method(["numpy"]) == "spawn"
    monkeypatch.setenv(batch.START_ENV, "forkserver")
    assert batch.worker_start_method(["torch"]) == "forkserver"  # the user's choice wins
    monkeypatch.setenv(batch.START_ENV, "thread")
    with pytest.raises(UserError, match="SAR_STUDIO_WORKER_START='thread' is not a start method"):
        batch.worker_start_method()


def test_task_groups_cover_the_items_in_order_with_about_eight_tasks_per_thread():
    items = list(range(256))  # the 512² windows of an 8192² scene
    groups = batch.task_groups(items, threads=2)
    assert [x for g in groups for x in g] == items
    assert len(groups) == 32 and {len(g) for g in groups} == {8}  # 256 / (8 tasks x 2 threads) = 16, capped at 8
    assert len(batch.task_groups(items, threads=32)) == 256  # many threads: one window each
    assert [len(g) for g in batch.task_groups(list(range(20)), threads=1)] == [3] * 6 + [2]
    assert batch.task_groups([], threads=2) == []


def test_open_source_with_a_known_kind_reads_no_preview(tmp_path, utm_geo, monkeypatch):
    from core.io import products

    src = sio.write_geotiff(tmp_path / "s.tif", np.full((64, 64), 0.2, np.float32), utm_geo)

    def no_preview(*_a, **_k):
        raise AssertionError("the whole-file preview was read")

    monkeypatch.setattr(products, "preview", no_preview)
    with sio.open_source(src, kind="amplitude") as s:  # what the client found, passed to a worker
        assert s.kind == "amplitude" and s.read(sio.Window(0, 0, 2, 2)).shape == (2, 2)
    with pytest.raises(AssertionError, match="preview"):
        sio.open_source(src)


def test_a_blank_result_is_told_on_the_cluster_as_in_the_serial_run(cluster, tmp_path, utm_geo, capsys):
    # the workers find each task's value range; the client joins them: a constant output gets the serial warning
    lc, _ = cluster
    src = sio.write_geotiff(tmp_path / "flat.tif", np.full((600, 700), 0.25, np.float32), utm_geo)
    argv = ["despeckle", str(src), "--filter", "lee", "--window", "5", "--looks", "1", "--no-progress"]
    assert cli_main([*argv[:2], str(tmp_path / "serial.tif"), *argv[2:]]) == 0
    serial_err = capsys.readouterr().err
    assert cli_main([*argv[:2], str(tmp_path / "dask.tif"), *argv[2:], "--scheduler", lc.scheduler_address]) == 0
    dask_err = capsys.readouterr().err
    warning = [line for line in serial_err.splitlines() if line.startswith("warning:")]
    assert warning and "0.25" in warning[0]
    assert warning[0].replace("serial.tif", "dask.tif") in dask_err.splitlines()
    assert (tmp_path / "serial.tif").read_bytes() == (tmp_path / "dask.tif").read_bytes()


_FAULTS = """
import resource, sys
import numpy as np
from core import budget
getattr(budget, sys.argv[1])()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):  # a window's temporaries: 13 MB, made and freed window after window
    a = np.ones((1700, 2000), np.float32)
    del a
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_scene_worker_reuses_its_heap_instead_of_faulting_each_window_in_again():
    import subprocess

    root = ROOT
    faults = {}
    for policy in ("bound_heap_growth", "keep_window_heap"):
        done = subprocess.run(
            [sys.executable, "-c", _FAULTS, policy], cwd=root, capture_output=True, text=True, check=True,
            env={**os.environ, "PYTHONPATH": str(root)},
        )  # fmt: skip
        faults[policy] = int(done.stdout.split()[-1])
    # 20 fresh 13 MB mappings: every page of each faulted in again (fewer faults where the kernel maps huge pages);
    # the kept heap faults the first one in only
    assert faults["bound_heap_growth"] > 5000, faults
    assert faults["keep_window_heap"] < faults["bound_heap_growth"] / 5, faults
