"""The training page (AppTest): start a run in the background, watch it, stop, resume, send it to translation."""

import pytest

from core.train import jobs
from core.train.runs import list_runs
from tests.support.apptest import app_test


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SAR_STUDIO_RUNS", str(tmp_path / "runs"))
    (tmp_path / "no_checkpoints").mkdir()
    monkeypatch.setenv("SAR_STUDIO_CHECKPOINTS", str(tmp_path / "no_checkpoints"))
    return tmp_path / "runs"


def _small(at, epochs=1):
    at.number_input(key="train_epochs").set_value(epochs)
    at.number_input(key="train_count").set_value(8)
    at.select_slider(key="train_size").set_value(32)
    at.number_input(key="train_width").set_value(4)


def test_start_a_job_then_watch_and_send_a_finished_run(runs_dir):
    from core.train.runs import RunFolder
    from core.train_dispatch import train

    at = app_test("train.py")
    at.run()
    assert not at.exception
    assert "No training runs yet" in at.info[0].value
    _small(at)
    at.button(key="train_start").click()
    at.run()
    assert not at.error, [e.value for e in at.error]
    runs = list_runs(runs_dir)
    assert len(runs) == 1
    cfg = runs[0].read_config()
    assert (cfg["task"], cfg["epochs"], cfg["size"], cfg["width"], cfg["data"]) == ("pix2pix", 1, 32, 4, "synthetic")
    assert jobs.job_status(runs[0])["alive"]  # a background process trains it (the browser test watches one finish)
    jobs.stop_job(runs[0], force=True)
    jobs.wait(runs[0], condition=lambda s: not s["alive"], timeout=30)
    # a finished run: metrics, samples and "Send to translation"
    done = RunFolder(runs_dir / "done")
    done.path.mkdir()
    train(
        dict(
            task="pix2pix",
            data="synthetic",
            synthetic_count=5,
            size=32,
            synthetic_size=32,
            width=4,
            n_down=3,
            ndf=4,
            batch_size=2,
            epochs=2,
            threads=1,
        ),
        done,
        resume=False,
    )
    at.run()  # the new run is listed
    at.selectbox(key="train_select").set_value(str(done.path))
    at.run()
    val = done.read_rows("val.csv")[-1]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Validation PSNR (dB)"] == f"{val['psnr']:.2f}"
    assert metrics["Validation SSIM"] == f"{val['ssim']:.3f}"
    assert any("Finished" in m.value for m in at.markdown)
    if done.state().get("collapsed"):  # 4 steps of a width-4 net give flat grey (issue 13.4): sent on confirmation
        at.checkbox(key="train_send_anyway").check().run()
    at.button(key="train_send").click()
    at.run()
    assert at.session_state["translate_model_path"] == str(done.generator_path)


def test_resume_and_stop_from_the_page(runs_dir):
    # a run stopped at step 2 (trained in this process), then resumed and stopped again from the page
    from core.train.runs import RunFolder
    from core.train_dispatch import train

    run = RunFolder(runs_dir / "stopped-run")
    run.path.mkdir(parents=True)
    cfg = dict(
        task="pix2pix",
        data="synthetic",
        synthetic_count=8,
        size=32,
        synthetic_size=32,
        width=4,
        n_down=3,
        ndf=4,
        batch_size=2,
        epochs=200,
        log_every=1,
        threads=1,
    )
    train(cfg, run, resume=False, progress=lambda f, m: run.request_stop() if m.startswith("step 2/") else None)
    at = app_test("train.py")
    at.run()
    assert any("Stopped" in m.value and "step 2 of" in m.value for m in at.markdown)
    at.button(key="train_resume").click()
    at.run()
    assert jobs.job_status(run)["status"] in ("starting", "running")
    at.button(key="train_stop").click()  # shown while the resumed process starts
    at.run()
    assert run.stop_requested()
    st = jobs.wait(run, condition=lambda s: s["status"] == "stopped" and not s["alive"], timeout=90)
    assert st["resumed"] and st["step"] == 3  # resumed at step 2, stopped after the next step
    assert [int(r["step"]) for r in run.read_rows("log.csv")] == [1, 2, 3]


def test_bad_server_folder_is_one_error_and_start_is_disabled(runs_dir, tmp_path, data_roots):
    from core.roots import refusal

    at = app_test("train.py")
    at.run()
    at.radio(key="train_data_mode").set_value("Folder on the server")
    at.run()
    at.text_input(key="train_folder").set_value(str(tmp_path / "nowhere"))
    at.run()
    # a missing folder reads like any refused path (core.roots: no answer about what exists on the server)
    assert [e.value for e in at.error] == [refusal(str(tmp_path / "nowhere"), "dir")]
    assert at.button(key="train_start").disabled
    at.selectbox(key="train_task").set_value("lora")
    at.run()
    assert any("No generator to start from" in w.value for w in at.warning)
