"""`train --resume` checks what it resumes from: a run whose saved state is missing or fails its checksum is
refused with one line; it never restarts silently at step 0 or logs the same steps twice (issue 11, point 4)."""

import json

import numpy as np
import pytest
from safetensors import safe_open

from core.cli import main
from core.errors import UserError
from core.train.runs import TRAIN_STATE, RunFolder
from core.train_dispatch import train


def tiny(**kw):
    cfg = dict(
        task="pix2pix",
        data="synthetic",
        synthetic_count=6,
        size=32,
        synthetic_size=32,
        width=4,
        n_down=5,
        ndf=4,
        batch_size=2,
        epochs=3,
        log_every=1,
        checkpoint_every=2,
        val_max=2,
        seed=3,
        threads=1,
    )
    cfg.update(kw)
    return cfg


@pytest.fixture()
def stopped_run(tmp_path):
    """A run stopped at step 3 with its state saved (as a page's Stop or a SIGTERM leaves it)."""
    run = RunFolder(tmp_path / "run")
    run.path.mkdir()

    def stop_at_3(fraction, message):
        if message.startswith("step 3/"):
            run.request_stop()

    first = train(tiny(), run, resume=False, progress=stop_at_3)
    assert first["status"] == "stopped" and first["step"] == 3
    return run


def _resume(run, capsys):
    code = main(["train", "--run-dir", str(run.path), "--resume"])
    err = capsys.readouterr().err
    return code, err


def _steps(run):
    return [int(r["step"]) for r in run.read_rows("log.csv")]


def _one_line(code, err, *words):
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    for w in words:
        assert w in lines[0], (w, lines[0])


def test_deleted_state_is_refused_not_restarted(stopped_run, capsys):
    before = _steps(stopped_run)
    assert before == [1, 2, 3]
    stopped_run.train_state_path.unlink()
    code, err = _resume(stopped_run, capsys)
    _one_line(code, err, TRAIN_STATE, "step 3", "missing", "cannot resume")
    assert _steps(stopped_run) == before  # nothing trained, nothing logged twice
    assert not stopped_run.generator_path.exists()


def test_state_with_flipped_data_bytes_fails_its_checksum(stopped_run, capsys):
    path = stopped_run.train_state_path
    with safe_open(str(path), framework="pt") as f:
        assert len(f.metadata()["sha256"].strip('"')) == 64  # stored at save time
    blob = bytearray(path.read_bytes())
    header = 8 + int.from_bytes(blob[:8], "little")
    rng = np.random.default_rng(0)
    for i in rng.integers(header, len(blob), 16):  # flip bytes in the tensor data, header left intact
        blob[i] ^= 0xFF
    path.write_bytes(bytes(blob))
    before = _steps(stopped_run)
    code, err = _resume(stopped_run, capsys)
    _one_line(code, err, "fails its checksum", "cannot resume")
    assert "OverflowError" not in err and _steps(stopped_run) == before


def test_truncated_state_is_one_line(stopped_run, capsys):
    path = stopped_run.train_state_path
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    code, err = _resume(stopped_run, capsys)
    _one_line(code, err, "cannot resume")


def test_intact_state_still_resumes_to_the_end(stopped_run, capsys):
    code, err = _resume(stopped_run, capsys)
    assert code == 0, err
    assert _steps(stopped_run) == [1, 2, 3, 4, 5, 6]


def test_run_killed_before_its_first_checkpoint_restarts_without_duplicate_rows(tmp_path):
    run = RunFolder(tmp_path / "early")
    run.path.mkdir()
    run.write_config(tiny())
    # what a kill before the first checkpoint leaves: two logged steps, no state file, no checkpoint record
    run.append_row("log.csv", {"step": 1, "epoch": 0, "loss_G_L1": 0.5})
    run.append_row("log.csv", {"step": 2, "epoch": 0, "loss_G_L1": 0.4})
    result = train(tiny(), run, resume=True)
    assert result["step"] == 6 and _steps(run) == [1, 2, 3, 4, 5, 6]


def test_corrupt_run_config_is_called_corrupt(tmp_path, capsys):
    run = RunFolder(tmp_path / "r")
    run.path.mkdir()
    (run.path / "config.json").write_text('{"task": "pix2pix", ')
    code, err = _resume(run, capsys)
    _one_line(code, err, "config.json is corrupt")
    (run.path / "config.json").unlink()
    with pytest.raises(UserError, match="has no config.json"):
        run.read_config()
    (run.path / "config.json").write_text(json.dumps([1, 2]))
    with pytest.raises(UserError, match="corrupt"):
        run.read_config()
