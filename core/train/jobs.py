"""Background training jobs started from the page: one detached process per run, all state in the run folder.

`start_job(config)` writes the run's config.json and starts `python -m core train --run-dir RUN --resume` in its
own session (so a page reload, or a restart of the Streamlit server, does not end it); its output goes to
RUN/output.log and its pid to RUN/job.json. `job_status(run)` reads state.json and checks that the process is
still alive: a run whose process died without saying so (killed, machine restarted) reads "interrupted" and can
be resumed from its last checkpoint. `stop_job(run)` asks the trainer to save a checkpoint and exit after the
current step; `resume_job(run)` starts it again where it stopped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from core.errors import UserError
from core.train.config import TrainConfig
from core.train.runs import ROOT, RunFolder, read_json, write_json

ACTIVE = ("starting", "running", "stopping")


def _alive(pid: int, run: RunFolder) -> bool:
    """The process exists, is not a zombie, and is training this run (guards against pid reuse)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    proc = Path(f"/proc/{pid}")
    if proc.exists():
        try:
            if (proc / "stat").read_text().split(")")[-1].split()[0] == "Z":
                return False
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            return str(run.path) in cmd
        except OSError:
            return False
    return True


def start_job(config: dict, run: RunFolder | None = None, name: str | None = None) -> RunFolder:
    """Create a run folder for `config` (a TrainConfig dict) and start training it in the background."""
    cfg = TrainConfig.from_dict(config).check()
    if run is None:
        run = RunFolder.create(name or f"{time.strftime('%Y%m%d-%H%M%S')}-{cfg.task}")
    run.write_config(cfg.to_dict())
    return _spawn(run)


def resume_job(run: RunFolder | str) -> RunFolder:
    run = run if isinstance(run, RunFolder) else RunFolder(run)
    run.read_config()  # raises if this is no run folder
    st = job_status(run)
    if st["alive"]:
        raise UserError(f"run {run.name} is still running; stop it before resuming.")
    if st["status"] == "finished":
        raise UserError(f"run {run.name} has finished; start a new run (or fine-tune its generator) to train more.")
    return _spawn(run)


def _spawn(run: RunFolder) -> RunFolder:
    run.clear_stop()
    run.update_state(status="starting", message="starting the training process")
    log = open(run.path / "output.log", "ab")
    env = dict(os.environ, PYTHONUNBUFFERED="1", SAR_STUDIO_JOB_STARTED=repr(time.time()))
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 2) // 2)))
    proc = start_detached([sys.executable, "-m", "core", "train", "--run-dir", str(run.path), "--resume"], log, env)
    log.close()
    write_json(run.path / "job.json", {"pid": proc.pid, "started": time.time()})
    return run


def start_detached(cmd: list[str], log, env: dict[str, str]) -> subprocess.Popen:
    """Start `cmd` in its own session (a page reload or server restart does not end it) and reap it when it
    exits: a daemon thread waits on it, so a stopped or finished job leaves no zombie behind in the server."""
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
    )
    threading.Thread(target=proc.wait, name=f"reap {proc.pid}", daemon=True).start()
    return proc


def job_status(run: RunFolder | str) -> dict:
    """status, alive, step, total_steps, message, val, ... from the run folder (never raises for a bad run)."""
    run = run if isinstance(run, RunFolder) else RunFolder(run)
    st = run.state()
    job = read_json(run.path / "job.json")
    pid = int(job.get("pid") or 0)
    alive = _alive(pid, run)
    status = st.get("status", "new")
    if status in ACTIVE and not alive:
        status = "interrupted"
        if st.get("status") == "starting" and time.time() - float(job.get("started", 0)) < 20:
            status = "starting"  # the process may not be visible yet (or failed at once: see output.log)
    if status == "running" and run.stop_requested():
        status = "stopping"
    out = dict(st, status=status, alive=alive, pid=pid, run=str(run.path), name=run.name)
    if status == "interrupted":
        out["message"] = "the training process ended without finishing (killed or crashed); resume to continue"
        tail = output_tail(run, 400)
        if "Traceback" in tail or "error:" in tail:
            out["message"] += f". Last output: {tail.strip().splitlines()[-1][:200]}"
    return out


def stop_job(run: RunFolder | str, force: bool = False) -> None:
    """Ask the run to stop after the current step (checkpoint saved). force: SIGKILL the process group now."""
    run = run if isinstance(run, RunFolder) else RunFolder(run)
    run.request_stop()
    pid = int(read_json(run.path / "job.json").get("pid") or 0)
    if force and _alive(pid, run):
        os.killpg(pid, signal.SIGKILL)


def wait(
    run: RunFolder | str,
    until=("finished", "stopped", "failed", "interrupted"),
    timeout: float = 120.0,
    poll: float = 0.2,
    condition=None,
) -> dict:
    """Poll job_status until its status is one of `until` (or `condition(status)` is true)."""
    deadline = time.time() + timeout
    while True:
        st = job_status(run)
        if (condition and condition(st)) or (condition is None and st["status"] in until):
            return st
        if time.time() > deadline:
            raise TimeoutError(f"run {st.get('name')} still {st['status']} after {timeout} s")
        time.sleep(poll)


def output_tail(run: RunFolder, chars: int = 2000) -> str:
    p = run.path / "output.log"
    if not p.exists():
        return ""
    with open(p, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - chars))
        return fh.read().decode(errors="replace")
