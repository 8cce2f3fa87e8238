"""Folders of scenes as tasks: serially in this process, or on a Dask cluster (`--workers N`, `--scheduler URL`).

One task per file. A command gives `run_files` its jobs (input, output) and a module-level function
`process_one(job) -> (line, notes)` that reads the input, computes, and writes the output atomically (core.io
writers and BlockWriter write a temporary file beside the target and rename it at the end). The same function runs
serially or on the workers, so a cluster run writes the same bytes as the serial run.

Failures and resume: a file that fails is reported in one line (`error: <name>: <sentence>`) and the others go on;
the run ends with `N done, N failed, N skipped` and exit status 2 when any failed. `--skip-existing` leaves outputs
that exist (complete, since writes are atomic) and finishes the rest. A worker killed mid-task: the scheduler runs the
task again on another worker (distributed's `allowed-failures`, 3 by default; KilledWorker after that) and the
temporary file the dead worker left beside the output is removed when the job ends; an output is never half-written.

Models: `cached_model(key, load)` keeps one loaded model per process (so per worker), keyed by the model file's
sha256 and the options, and pins each local worker to one GPU when the machine has several.

Scenes larger than a worker's memory (not done yet, the hook is `Job.part`): a scene is cut into row bands of
windows (core.io.iter_windows), one task per band writing its own tiled part file, and a last task on the same
shared folder assembles the parts into the output with BlockWriter (rename at the end). Today each file is one task
and runs through the command's own (streaming) path, so a scene needs the memory that path needs on one worker.

The input and output folders must be visible at the same paths on every worker (a shared file system).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import UserError, silence_expected_warnings
from core.files import digest_file
from core.io import clean_stale_parts
from core.progress import cli_progress

ProcessFn = Callable[["Job"], tuple[str, list[str]]]


@dataclass(frozen=True)
class Job:
    src: Path
    dst: Path
    extra: tuple[Path, ...] = ()  # further inputs of the same task (e.g. the reference image of superres)
    part: tuple[int, int] | None = None  # hook for window groups of one scene: (index, count); None = the whole file


@dataclass
class Outcome:
    job: Job
    status: str  # "done", "failed" or "skipped"
    line: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class Summary:
    done: int = 0
    failed: int = 0
    skipped: int = 0
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.done + self.failed + self.skipped

    def counts(self) -> str:
        return f"{self.done} done, {self.failed} failed, {self.skipped} skipped"


def add_batch_options(parser: argparse.ArgumentParser) -> None:
    """`--workers N`, `--scheduler URL` and `--skip-existing` on a command that takes a folder."""
    g = parser.add_argument_group("folders on several processes or machines (Dask)")
    g.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="run the files of a folder on a local Dask cluster of N worker processes (1 thread each)",
    )
    g.add_argument(
        "--scheduler",
        default=None,
        metavar="URL",
        help="run the files on an existing Dask cluster, e.g. tcp://10.0.0.5:8786 (folders shared by all workers)",
    )
    g.add_argument(
        "--skip-existing",
        action="store_true",
        help="leave outputs that already exist (a rerun finishes only what is missing)",
    )


def wants_cluster(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "workers", None) or getattr(args, "scheduler", None))


def run_files(
    jobs: Iterable[Job],
    process_one: ProcessFn,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    skip_existing: bool = False,
    progress: bool | None = None,
    out=None,
    err=None,
) -> Summary:
    """Run `process_one` on every job, serially (no workers, no scheduler) or on a Dask cluster; print one line
    per file (results on `out`, failures and notes on `err`) and return the counts. Never raises for a file."""
    out = out or sys.stdout
    err = err or sys.stderr
    if workers is not None and workers < 1:
        raise UserError(f"--workers must be at least 1, got {workers}.")
    if workers and scheduler:
        raise UserError("give --workers (a local cluster) or --scheduler (an existing one), not both.")
    summary = Summary()
    todo: list[Job] = []
    for job in jobs:
        if skip_existing and job.dst.exists():
            summary.skipped += 1
            summary.outcomes.append(Outcome(job, "skipped"))
        else:
            todo.append(job)
    shown: set[str] = set()

    def record(o: Outcome) -> None:
        _remove_stale_parts(o.job.dst)
        summary.outcomes.append(o)
        for n in o.notes:
            if n not in shown:
                shown.add(n)
                print(f"note: {n}", file=err)
        if o.status == "done":
            summary.done += 1
            print(o.line, file=out)
        else:
            summary.failed += 1
            print(f"error: {o.line}", file=err)

    with cli_progress("files", unit="file", force=progress) as bar:
        bar(0, len(todo))
        if workers or scheduler:
            _run_on_cluster(todo, process_one, workers, scheduler, record, bar, err)
        else:
            for k, job in enumerate(todo):
                record(run_job(process_one, job))
                bar(k + 1, len(todo))
    return summary


def report_summary(summary: Summary, dst: Path, err=None) -> int:
    """The last line of a folder run; exit status 2 when a file failed."""
    err = err or sys.stderr
    if summary.failed:
        print(
            f"error: {summary.failed} of {summary.total} files failed; the others were written to {dst} "
            f"({summary.counts()}).",
            file=err,
        )
        return 2
    print(f"{summary.counts()}; outputs in {dst}.", file=err)
    return 0


def run_job(process_one: ProcessFn, job: Job) -> Outcome:
    """One file, as a task: a UserError becomes a failed outcome with its sentence, anything else a failed outcome
    naming the exception (a bug to report), so one file never stops the others. Library warnings raised on the
    way (in a Dask worker too, whose stderr is the user's terminal) become the outcome's notes."""
    with warnings.catch_warnings(record=True) as caught:
        silence_expected_warnings()
        try:
            line, notes = process_one(job)
        except UserError as exc:
            msg = str(exc)
            return Outcome(job, "failed", msg if msg.startswith(job.src.name) else f"{job.src.name}: {msg}")
        except Exception as exc:  # noqa: BLE001 - one file's bug must not stop the run; it is reported in its line
            return Outcome(job, "failed", f"{job.src.name}: unexpected {type(exc).__name__}: {exc} (please report it)")
    seen = [" ".join(str(w.message).split()) for w in caught]
    return Outcome(job, "done", line, list(notes) + [w for i, w in enumerate(seen) if w not in seen[:i]])


def _run_on_cluster(todo, process_one, workers, scheduler, record, bar, err) -> None:
    # heavy (distributed imports tornado, msgpack, ...; about 0.5 s): only --workers / --scheduler runs need it
    from distributed import Client, as_completed
    from distributed.scheduler import KilledWorker

    client, cluster = _connect(Client, workers, scheduler, err)
    try:
        # The scheduler reports an HTTP port even without bokeh, but its dashboard pages need bokeh.
        if importlib.util.find_spec("bokeh") is not None:
            print(f"note: Dask dashboard at {client.dashboard_link}", file=err)
        elif scheduler:
            print(f"note: Dask dashboard at {client.dashboard_link} if the scheduler has bokeh installed.", file=err)
        else:
            print("note: no Dask dashboard (it needs the bokeh package, which is not installed).", file=err)
        futures = {}
        for job in todo:
            # absolute paths: a worker on another machine, or started elsewhere, has another working folder
            job = Job(job.src.absolute(), job.dst.absolute(), tuple(p.absolute() for p in job.extra), job.part)
            # pure=False: a rerun of the same job is real work (the output may have been removed)
            fut = client.submit(run_job, process_one, job, pure=False)
            futures[fut] = job
        for k, fut in enumerate(as_completed(futures)):
            job = futures[fut]
            try:
                record(fut.result())
            except KilledWorker:
                record(
                    Outcome(
                        job,
                        "failed",
                        f"{job.src.name}: the workers running it died several times (out of memory?); "
                        "give each worker more memory or run fewer workers.",
                    )
                )
            except Exception as exc:  # noqa: BLE001 - lost connection and the like: that file failed, the rest go on
                record(Outcome(job, "failed", f"{job.src.name}: {type(exc).__name__}: {exc}"))
            bar(k + 1, len(todo))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _connect(client_cls, workers, scheduler, err):
    if scheduler:
        try:
            return client_cls(scheduler, timeout="30s"), None
        except (OSError, TimeoutError) as exc:
            raise UserError(
                f"could not reach the Dask scheduler at {scheduler} ({exc}); start it with `dask scheduler` "
                "and `dask worker`, or use --workers N for a local cluster."
            ) from None
    from distributed import LocalCluster

    dashboard = ":0" if importlib.util.find_spec("bokeh") is not None else None
    try:
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=dashboard, silence_logs=40
        )
    except (RuntimeError, OSError, TimeoutError) as exc:  # "Nanny failed to start": a worker died while starting
        detail = " ".join(str(exc).split())[:100] or type(exc).__name__
        raise UserError(
            f"the local Dask cluster of {workers} workers did not start ({detail}); run again, use fewer --workers "
            "(each needs memory for its own models), or leave out --workers to run serially."
        ) from None
    try:
        return client_cls(cluster), cluster
    except BaseException:
        cluster.close()
        raise


def _remove_stale_parts(dst: Path) -> None:
    """Temporary files of an atomic write that a killed worker could not remove (`.<name>.*.part`)."""
    clean_stale_parts(dst.parent, dst.name)


# ------------------------------------------------------------------------------------------- models per process

_MODELS: dict[tuple, Any] = {}
_DIGESTS: dict[tuple, str] = {}


def model_digest(path: str | os.PathLike) -> str:
    """sha256 of a model file, computed once per process for a given (path, size, mtime)."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = digest_file(p)
    return _DIGESTS[key]


def cached_model(key: tuple, load: Callable[[], Any]) -> Any:
    """The model for `key` (include `model_digest(path)` and the options), loaded once in this process and kept.

    On a Dask worker of a machine with several GPUs, the worker uses GPU (worker number mod GPU count) first."""
    if key not in _MODELS:
        _pin_gpu()
        _MODELS[key] = load()
    return _MODELS[key]


def _pin_gpu() -> None:
    try:
        from distributed import get_worker  # only meaningful inside a worker, where distributed is loaded

        name = get_worker().name
    except (ImportError, ValueError):
        return
    if not isinstance(name, int):
        return
    import torch  # heavy: only model loading reaches here, and it imports torch anyway

    if torch.cuda.device_count() > 1:
        torch.cuda.set_device(name % torch.cuda.device_count())
