"""The output folder is checked before any work: an unwritable folder (permissions, read-only filesystem) or a
full disk ends in one line (`error: ...`, exit 2) with nothing written; a disk that fills during a write also ends
in one line and leaves no temporary file (issue 11, point 3)."""

import errno
import os
import pathlib

import numpy as np
import pytest

import core.cli.speckle as speckle_cli
import core.files as files
from core import io as sio
from core.cli import main


@pytest.fixture()
def sar_tif(tmp_path):
    rng = np.random.default_rng(0)
    src = tmp_path / "in" / "a.tif"
    src.parent.mkdir()
    sio.write_geotiff(src, (0.1 * rng.gamma(1.0, 1.0, (40, 40))).astype(np.float32))
    return src


def _cli(argv, capsys):
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def _one_line(code, err, *words):
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    for w in words:
        assert w in lines[0], (w, lines[0])


def _no_work(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("filtering started although the output folder was refused")

    monkeypatch.setattr(speckle_cli, "despeckle_raster", boom)


def _everything(folder: pathlib.Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


def test_permission_denied_folder_is_one_line_before_work(sar_tif, tmp_path, capsys, monkeypatch):
    out = tmp_path / "locked"
    out.mkdir()
    out.chmod(0o555)
    if os.geteuid() == 0:  # root ignores the mode bits: answer as the kernel would for a normal user
        real = os.access
        monkeypatch.setattr(files.os, "access", lambda p, m: False if pathlib.Path(p) == out else real(p, m))
    _no_work(monkeypatch)
    code, err = _cli(["despeckle", sar_tif, out / "a.tif", "--filter", "lee"], capsys)
    _one_line(code, err, str(out), "cannot be written")
    assert _everything(out) == []
    # a folder run into a not-yet-existing folder under it is refused the same way
    code, err = _cli(["despeckle", sar_tif.parent, out / "sub", "--filter", "lee"], capsys)
    _one_line(code, err, "cannot be written")
    out.chmod(0o755)


def test_read_only_filesystem_is_one_line(sar_tif, tmp_path, capsys, monkeypatch):
    def erofs(*a, **k):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(files.tempfile, "mkstemp", erofs)  # the probe file is where a read-only mount shows
    _no_work(monkeypatch)
    code, err = _cli(["despeckle", sar_tif, tmp_path / "ro" / "a.tif", "--filter", "lee"], capsys)
    _one_line(code, err, "cannot be written", "Read-only file system")
    assert not (tmp_path / "ro").exists()


def test_full_disk_is_refused_from_the_estimate(sar_tif, tmp_path, capsys, monkeypatch):
    class Usage:
        total, used, free = 10**9, 10**9 - 1000, 1000

    monkeypatch.setattr(files.shutil, "disk_usage", lambda p: Usage)
    _no_work(monkeypatch)
    out = tmp_path / "out"
    code, err = _cli(["despeckle", sar_tif.parent, out, "--filter", "lee"], capsys)
    _one_line(code, err, "not enough free space", "1 kB is free")
    assert _everything(out) == []
    # the estimate: 40 x 40 float32 values, one band, plus the margin kept free; one byte less is refused
    need = 40 * 40 * 4 + files.FREE_SPACE_MARGIN
    Usage.free = need - 1
    code, err = _cli(["despeckle", sar_tif, out / "a.tif", "--filter", "lee"], capsys)
    _one_line(code, err, "not enough free space")
    Usage.free = need
    monkeypatch.undo()  # filtering allowed again; with exactly the room needed the run goes ahead
    monkeypatch.setattr(files.shutil, "disk_usage", lambda p: Usage)
    code, err = _cli(["despeckle", sar_tif, out / "a.tif", "--filter", "lee"], capsys)
    assert code == 0, err
    assert _everything(out) == ["a.tif"]


def test_disk_full_during_the_write_is_one_line_and_leaves_no_temporary_file(sar_tif, tmp_path, capsys, monkeypatch):
    def enospc(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))

    monkeypatch.setattr(pathlib.Path, "write_bytes", enospc)
    out = tmp_path / "out"
    # a PNG is written whole (atomic_output); a .tif is streamed block by block (BlockWriter): both paths
    code, err = _cli(["despeckle", sar_tif, out / "a.png", "--filter", "lee"], capsys)
    _one_line(code, err, "No space left on device")
    assert _everything(out) == []  # the temporary .part file was removed

    from core.io import blocks

    def enospc_block(self, window, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path))

    monkeypatch.setattr(blocks.BlockWriter, "write", enospc_block)
    code, err = _cli(["despeckle", sar_tif, out / "b.tif", "--filter", "lee"], capsys)
    _one_line(code, err, "No space left on device")
    assert _everything(out) == []


def test_other_os_errors_are_still_bugs(sar_tif, tmp_path, monkeypatch):
    def eio(self, data):
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(pathlib.Path, "write_bytes", eio)
    with pytest.raises(OSError):
        main(["despeckle", str(sar_tif), str(tmp_path / "o.png"), "--filter", "lee"])
