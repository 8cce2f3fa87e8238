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

Models per process (one loaded model per worker): core.worker_models.

One scene on a cluster (`despeckle SCENE OUT --workers N`): its windows, each with its halo, are tasks
(core.speckle.stream.despeckle_windows; `task_groups`: consecutive windows, about TASKS_PER_THREAD tasks per worker
thread); `map_ordered` keeps a bounded number in flight and hands the output blocks back in the serial order, and
this process writes them with BlockWriter, so the file has the same bytes as the serial run and memory stays a few
windows per worker. The workers open the scene with the kind the client found (no whole-file preview read) and
return each task's value range with its blocks, so the client only receives and writes. The tasks are pure (their
key is a hash of the job and the windows): windows lost with a killed worker are computed again by the scheduler
(tests/core/test_cluster_scene.py kills a worker mid-task and checks every result arrives, in order).

Threads: a local cluster of N workers has CPUs // N threads per worker (at least 1), and every worker's
environment carries the thread budget (core.compute.ThreadPlan.env: OMP/BLAS, GDAL_NUM_THREADS, SAR_STUDIO_THREADS),
so workers x threads x library threads = CPUs; this process keeps the CPUs the workers leave, at least 1, for its
encoder (`_client_share`). Workers are forked from this process on Linux (`worker_start_method`; spawned when torch,
ONNX Runtime or OpenCV is loaded here, or as SAR_STUDIO_WORKER_START says). Why a cluster was slower than one process
(bench/RESULTS.md, cluster): each spawned worker imported everything again (0.7 CPU-s each), each worker read the
whole scene again for the kind preview (2 GB of reads per worker at 8192², as the 16 MB GDAL cache thrashes on a
decimated read), the client tracked the value range and encoded with two threads on cores the workers filled.

The input and output folders must be visible at the same paths on every worker (a shared file system).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import os
import sys
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from core.compute import THREADS_ENV, apply_thread_budget, cluster_shape, thread_plan, usable_cpus
from core.errors import UserError, silence_expected_warnings
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
        help="run on a local Dask cluster of N worker processes (CPUs / N threads each): the files of a folder, "
        "or the windows of one scene",
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

    apply_thread_budget()  # on a worker: its share (SAR_STUDIO_THREADS from the cluster), for libraries loaded now
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
        if scheduler:
            prepare_workers(client)
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
    import dask  # heavy: imported with distributed, only for cluster runs
    from distributed import LocalCluster

    dashboard = ":0" if importlib.util.find_spec("bokeh") is not None else None
    n, per_worker = cluster_shape(workers)
    plan = thread_plan(n, per_worker)
    method = worker_start_method()
    if method == "fork":
        # what is loaded now is shared with the workers and lives to the end: the garbage collector skips it from
        # here on (here and in the workers, which would otherwise walk and touch the whole inherited heap)
        gc.freeze()
    try:
        # only the first start: a worker the nanny restarts later (after a crash) is spawned, the default, since
        # this process then has GDAL's and the encoder's threads running
        with dask.config.set({"distributed.worker.multiprocessing-method": method}):
            cluster = LocalCluster(
                n_workers=n,
                threads_per_worker=per_worker,
                processes=True,
                dashboard_address=dashboard,
                silence_logs=40,
                env={**plan.env(), **_run_env()},  # the thread budget (and --compress) in every worker process
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


START_ENV = "SAR_STUDIO_WORKER_START"
START_METHODS = ("fork", "forkserver", "spawn")
# Libraries whose thread pools do not survive a fork once they have run (GNU OpenMP under torch, ONNX Runtime's
# pool, OpenCV's): loaded in this process, the workers are spawned instead.
_FORK_UNSAFE = frozenset({"torch", "onnxruntime", "cv2"})


def worker_start_method(loaded: Iterable[str] | None = None) -> str:
    """How a local cluster starts its worker processes: SAR_STUDIO_WORKER_START (fork, forkserver or spawn) when
    set; else fork on Linux while no fork-unsafe library is loaded here, else distributed's setting (spawn).

    Why fork: a spawned worker starts a fresh Python and imports distributed, numpy, GDAL and our filters again,
    about 0.7 CPU-s per worker on the 2-core test machine (bench/RESULTS.md), as long as a 2048² Lee filter takes;
    a forked worker shares what this process has imported (0.05 CPU-s). The cluster is started before any raster
    is read, so no GDAL or encoder thread is running when the workers fork. `loaded`: the modules loaded here
    (default sys.modules)."""
    text = os.environ.get(START_ENV, "").strip().lower()
    if text:
        if text not in START_METHODS:
            raise UserError(f"{START_ENV}={text!r} is not a start method; use one of {', '.join(START_METHODS)}.")
        return text
    if sys.platform.startswith("linux") and not _FORK_UNSAFE.intersection(sys.modules if loaded is None else loaded):
        return "fork"
    import dask  # heavy: imported with distributed, only for cluster runs

    return str(dask.config.get("distributed.worker.multiprocessing-method"))


def _run_env() -> dict[str, str]:
    """This run's settings that workers need too (set by the CLI for the run, e.g. --compress)."""
    return {k: v for k, v in os.environ.items() if k in ("SAR_STUDIO_COMPRESS", "SAR_STUDIO_GDAL_CACHE_MB")}


def _prepare_worker(env: dict[str, str], threads_by_host: dict[str, int]) -> None:
    """On each worker of an existing cluster: this run's settings and its share of the host's CPUs."""
    import socket  # noqa: PLC0415 - start-up: socket (8 ms) only when a cluster is started

    os.environ.update(env)
    share = max(1, usable_cpus() // max(1, threads_by_host.get(socket.gethostname(), 1)))
    os.environ[THREADS_ENV] = str(share)
    apply_thread_budget(thread_plan())


def prepare_workers(client) -> None:
    """Tell every worker of `client` this run's settings and thread budget (a local cluster of ours already has
    them in its environment; an existing cluster's workers get them here)."""
    import socket  # noqa: PLC0415 - start-up: socket (8 ms) only when a cluster is started

    threads: dict[str, int] = {}
    for addr, w in client.scheduler_info().get("workers", {}).items():
        host = urlparse(addr).hostname or ""
        try:
            host = socket.gethostbyaddr(host)[0] if host not in ("127.0.0.1", "localhost") else socket.gethostname()
        except OSError:
            pass
        threads[host] = threads.get(host, 0) + int(w.get("nthreads", 1))
    client.run(_prepare_worker, _run_env(), threads)


@contextlib.contextmanager
def cluster_client(workers: int | None, scheduler: str | None, err=None) -> Iterator[Any]:
    """A Dask client on a local cluster of `workers` processes or on the scheduler at `scheduler`, closed after."""
    from distributed import Client

    if workers is not None and workers < 1:
        raise UserError(f"--workers must be at least 1, got {workers}.")
    if workers and scheduler:
        raise UserError("give --workers (a local cluster) or --scheduler (an existing one), not both.")
    client, cluster = _connect(Client, workers, scheduler, err or sys.stderr)
    try:
        if scheduler:
            prepare_workers(client)
        with _client_share(client if cluster is not None else None):
            yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


@contextlib.contextmanager
def _client_share(local_client) -> Iterator[None]:
    """This process's thread budget while its local cluster's workers fill the CPUs: the CPUs they leave (at least
    1), for what this process does meanwhile (receiving blocks, the GeoTIFF encoder). A second encoder thread on
    a machine the workers already fill costs CPU and gains nothing: 0.4 CPU-s more on an 8192² Lee output on
    2 cores (bench/RESULTS.md). Nothing changes for an existing cluster (`local_client` None)."""
    if local_client is None:
        yield
        return
    share = str(max(1, usable_cpus() - cluster_threads(local_client)))
    saved = {k: os.environ.get(k) for k in (THREADS_ENV, "GDAL_NUM_THREADS")}
    os.environ.update({THREADS_ENV: share, "GDAL_NUM_THREADS": share})  # GDAL reads it on each use
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# Items (windows of one scene) per task: about TASKS_PER_THREAD tasks for each worker thread, at most
# MAX_TASK_ITEMS items each. Fewer, larger tasks spread the scheduler's and the transfer's per-task cost (256
# single-window tasks of an 8192² scene cost 17 CPU-s more than the serial run, 64 tasks of 4 windows 9.7); enough
# tasks per thread keep the workers evenly busy to the end; the client holds in-flight tasks x items blocks.
TASKS_PER_THREAD = 8
MAX_TASK_ITEMS = 8


def cluster_threads(client) -> int:
    """Worker threads of `client`'s cluster (at least 1)."""
    return max(1, sum(int(w.get("nthreads", 1)) for w in client.scheduler_info().get("workers", {}).values()))


def task_groups(items: list, client=None, threads: int | None = None) -> list[tuple]:
    """`items` in consecutive groups, one task each: about TASKS_PER_THREAD tasks per worker thread of `client`
    (or `threads`), at most MAX_TASK_ITEMS items per task."""
    n = threads or (cluster_threads(client) if client is not None else 1)
    per = max(1, min(MAX_TASK_ITEMS, -(-len(items) // (TASKS_PER_THREAD * n))))
    return [tuple(items[i : i + per]) for i in range(0, len(items), per)]


def map_ordered(client, fn: Callable, items: list[tuple], name: str = "task", in_flight: int | None = None):
    """Yield fn(*item) for every item, computed on `client`'s workers, in the order of `items`.

    At most `in_flight` tasks are submitted ahead (default: twice the cluster's threads), so memory holds a few
    results, whatever the number of items. Tasks are pure: their keys hash fn and the item, so the scheduler may
    rerun one whose worker died (and a rerun of the same work is recognised)."""

    from dask.base import tokenize

    if in_flight is None:
        in_flight = max(2, 2 * cluster_threads(client))
    pending: deque = deque()
    for item in items:
        pending.append(client.submit(fn, *item, key=f"{name}-{tokenize(fn, *item)}", pure=True))
        if len(pending) >= in_flight:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _remove_stale_parts(dst: Path) -> None:
    """Temporary files of an atomic write that a killed worker could not remove (`.<name>.*.part`)."""
    clean_stale_parts(dst.parent, dst.name)
