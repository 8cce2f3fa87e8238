"""Folders on a Dask cluster of 2 worker processes: same bytes as the serial run, per-file failures, a killed worker,
--skip-existing. One cluster for the module; the CLI reaches it with --scheduler."""

import functools
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from core import batch
from core import io as sio
from core.cli import main as cli_main


@pytest.fixture
def folder(tmp_path, utm_geo):
    rng = np.random.default_rng(7)
    src = tmp_path / "in"
    src.mkdir()
    for i in range(5):
        sio.write_geotiff(src / f"s{i}.tif", rng.gamma(1.0, 0.1, (96 + 8 * i, 80)).astype(np.float32), utm_geo)
    return src


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_cluster_run_writes_the_bytes_of_the_serial_run(cluster, folder, tmp_path, capsys):
    lc, _ = cluster
    argv = ["despeckle", str(folder), "--filter", "lee", "--window", "5"]
    assert cli_main([argv[0], argv[1], str(tmp_path / "serial"), *argv[2:]]) == 0
    assert cli_main([argv[0], argv[1], str(tmp_path / "dask"), *argv[2:], "--scheduler", lc.scheduler_address]) == 0
    serial, dask = _files(tmp_path / "serial"), _files(tmp_path / "dask")
    assert len(serial) == 5 and serial == dask  # names and bytes; no temporary files left
    err = capsys.readouterr().err
    assert "5 done, 0 failed, 0 skipped" in err
    assert sio.read_raster(tmp_path / "dask" / "s0_lee.tif").geo.transform == (10.0, 0.0, 500000.0, 0.0, -10.0, 4e6)


def test_translate_on_the_cluster_matches_the_serial_run(cluster, tmp_path):
    import torch

    from core.checkpoints import save_model
    from models.registry import build

    lc, _ = cluster
    torch.manual_seed(0)
    model = save_model(tmp_path / "g.safetensors", build("sar2optical_unet", {"width": 4, "n_down": 5}).eval())
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(3)
    for i in range(3):
        sio.write_png(src / f"t{i}.png", (rng.random((70 + 10 * i, 90)) * 255).astype(np.uint8))
    base = ["translate", str(src), "--model", str(model), "--device", "cpu"]
    assert cli_main([base[0], base[1], str(tmp_path / "serial"), *base[2:]]) == 0
    assert cli_main([base[0], base[1], str(tmp_path / "dask"), *base[2:], "--scheduler", lc.scheduler_address]) == 0
    assert _files(tmp_path / "serial") == _files(tmp_path / "dask") and len(_files(tmp_path / "dask")) == 3


def test_a_corrupt_file_fails_in_one_line_and_the_others_finish(cluster, folder, tmp_path, capsys):
    lc, _ = cluster
    (folder / "broken.tif").write_bytes(b"II*\x00" + b"\x01" * 40)
    out = tmp_path / "out"
    code = cli_main(["despeckle", str(folder), str(out), "--filter", "boxcar", "--scheduler", lc.scheduler_address])
    assert code == 2
    assert sorted(_files(out)) == [f"s{i}_boxcar.tif" for i in range(5)]
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 2 and "broken.tif" in lines[0] and "corrupt" in lines[0]
    assert "1 of 6 files failed" in lines[1] and "(5 done, 1 failed, 0 skipped)" in lines[1]


def test_skip_existing_finishes_only_what_is_missing(cluster, folder, tmp_path, capsys):
    lc, _ = cluster
    out = tmp_path / "out"
    argv = ["despeckle", str(folder), str(out), "--filter", "lee", "--scheduler", lc.scheduler_address]
    assert cli_main(argv) == 0
    (out / "s3_lee.tif").unlink()
    kept = (out / "s0_lee.tif").stat().st_mtime_ns
    capsys.readouterr()
    assert cli_main([*argv, "--skip-existing"]) == 0
    text = capsys.readouterr()
    assert text.out.strip().splitlines() == [f"s3.tif -> {out / 's3_lee.tif'}"]
    assert "1 done, 0 failed, 4 skipped" in text.err
    assert (out / "s3_lee.tif").exists() and (out / "s0_lee.tif").stat().st_mtime_ns == kept


def _slow_despeckle(job: batch.Job, started: str) -> tuple[str, list[str]]:
    """A task that announces itself (pid), leaves a half-written temporary file beside its output and sleeps
    inside the atomic write, then writes the real result: a kill during the sleep is a kill mid-write."""
    raster = sio.read_raster(job.src)
    from core.speckle import despeckle_raster

    result = despeckle_raster(raster, "lee", window=5)
    with sio.atomic_output(job.dst) as tmp:
        tmp.write_bytes(b"partial")
        Path(started, f"{job.src.stem}.{os.getpid()}").touch()  # announced once the partial file exists
        time.sleep(1.5)
    sio.write_geotiff(job.dst, result.data, raster.geo)
    return f"{job.src.name} -> {job.dst}", []


def test_a_killed_worker_loses_no_output_and_leaves_no_partial_file(cluster, folder, tmp_path, capsys):
    lc, client = cluster
    started = tmp_path / "started"
    started.mkdir()
    out = tmp_path / "out"
    jobs = [batch.Job(f, out / f"{f.stem}_lee.tif") for f in sorted(folder.iterdir())]
    pids = set(client.run(os.getpid).values())
    result: dict = {}

    def go():
        result["summary"] = batch.run_files(
            jobs, functools.partial(_slow_despeckle, started=str(started)), scheduler=lc.scheduler_address
        )

    runner = threading.Thread(target=go)
    runner.start()
    deadline = time.monotonic() + 120
    victim = None
    while victim is None and time.monotonic() < deadline:
        for p in started.iterdir():
            pid = int(p.suffix[1:])
            if pid in pids:
                victim = pid
                break
        time.sleep(0.05)
    assert victim is not None, "no task started on a worker"
    os.kill(victim, signal.SIGKILL)  # while its task sleeps inside the atomic write
    runner.join(timeout=300)
    assert not runner.is_alive()
    summary = result["summary"]
    assert (summary.done, summary.failed) == (5, 0)
    assert sorted(_files(out)) == [f"s{i}_lee.tif" for i in range(5)]  # no .part file left by the dead worker
    for job in jobs:
        raster = sio.read_raster(job.src)
        from core.speckle import despeckle_raster

        np.testing.assert_array_equal(sio.read_raster(job.dst).data, despeckle_raster(raster, "lee", window=5).data)
    assert victim not in set(client.run(os.getpid).values())  # the nanny started a new worker process
