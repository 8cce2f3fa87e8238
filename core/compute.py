"""Which compute is in use: torch device resolution with a visible note, and a summary for the home page."""

from __future__ import annotations

import os

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(requested: str = "auto") -> tuple[str, str | None]:
    """Return (device, note). `note` is a sentence to show the user when the request could not be honoured."""
    import torch

    requested = (requested or "auto").lower()
    if requested not in DEVICES:
        from core.errors import UserError

        raise UserError(f"unknown device {requested!r}; use one of {', '.join(DEVICES)}.")
    has_cuda = torch.cuda.is_available()
    if requested == "cuda" and not has_cuda:
        return "cpu", "CUDA was requested but no CUDA GPU is available to PyTorch here; running on CPU."
    if requested == "auto":
        return ("cuda" if has_cuda else "cpu"), None
    return requested, None


def onnx_providers(device: str) -> list[str]:
    """Execution providers to ask ONNX Runtime for, best first. Read `session.get_providers()[0]` for the truth."""
    return ["CUDAExecutionProvider", "CPUExecutionProvider"] if device == "cuda" else ["CPUExecutionProvider"]


def _package_version(*names: str) -> tuple[str | None, str | None]:
    """(distribution name, version) of the first installed of `names`, from package metadata (no import)."""
    from importlib import metadata

    for name in names:
        try:
            return name, metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None, None


def compute_summary() -> dict:
    """Facts for the home page without importing torch or ONNX Runtime (seconds and hundreds of MB): versions from
    package metadata, a CUDA GPU from the driver's files and torch's build, threads from the thread budget. When
    torch is already loaded in this process, its own answer is used."""
    import sys

    _, torch_version = _package_version("torch")
    ort_dist, ort_version = _package_version("onnxruntime-gpu", "onnxruntime")
    torch = sys.modules.get("torch")
    gpu = None
    if torch is not None:
        cuda = bool(torch.cuda.is_available())
        gpu = torch.cuda.get_device_name(0) if cuda else None
    else:
        cpu_build = torch_version is None or "+cpu" in torch_version
        cuda = not cpu_build and os.path.exists("/proc/driver/nvidia/version")
        if cuda:
            gpu = _nvidia_gpu_name()
    plan = thread_plan()
    return {
        "torch": torch_version or "not installed",
        "cuda_available": cuda,
        "gpu": gpu or ("NVIDIA GPU" if cuda else None),
        "cpu_threads": plan.torch,
        "cpu_count": usable_cpus(),
        "onnxruntime": ort_version,
        # the GPU package lists CUDA even without CUDA libraries: sessions report the provider actually used
        "onnx_providers": (["CUDAExecutionProvider"] if ort_dist == "onnxruntime-gpu" and cuda else [])
        + (["CPUExecutionProvider"] if ort_version else []),
    }


def _nvidia_gpu_name() -> str | None:
    import glob

    for info in sorted(glob.glob("/proc/driver/nvidia/gpus/*/information")):
        try:
            with open(info) as fh:
                for line in fh:
                    if line.startswith("Model:"):
                        return line.split(":", 1)[1].strip()
        except OSError:
            continue
    return None


# ------------------------------------------------------------------------------------------- thread budget
#
# One budget for every library that starts threads, so that together they fill the CPUs this process may use and
# never oversubscribe them: torch (intra-op and inter-op), ONNX Runtime (intra and inter op of every session),
# numpy's BLAS / OpenMP, GDAL (GDAL_NUM_THREADS, which also drives the GeoTIFF encoder's NUM_THREADS), and Dask
# (workers x threads per worker = CPUs). The libraries run one after another inside a task (read, compute, write),
# so each gets the task's share; a Dask worker thread's share is CPUs / (workers x threads per worker).

THREADS_ENV = "SAR_STUDIO_THREADS"  # CPUs one task may use (a Dask worker's tasks get it from the cluster)
# Variables the native libraries read when they start: set for this process (before they load) and for workers.
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


def usable_cpus() -> int:
    """CPUs this process may use: its affinity mask, lowered by a cgroup CPU quota (containers) when one is set."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    quota = _cgroup_quota()
    if quota is not None:
        n = min(n, max(1, int(quota + 0.5)))
    return max(1, n)


def _cgroup_quota() -> float | None:
    """CPUs allowed by the cgroup (v2 cpu.max or v1 cfs quota / period), None when unlimited or unknown."""
    try:
        with open("/sys/fs/cgroup/cpu.max") as fh:
            quota, period = fh.read().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        with open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") as fq, open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as fp:
            q, p = int(fq.read()), int(fp.read())
        return None if q <= 0 or p <= 0 else q / p
    except (OSError, ValueError):
        return None


class ThreadPlan:
    """How many threads each library gets in one task (see the section note)."""

    def __init__(self, cpus: int, workers: int = 1, threads_per_worker: int = 1) -> None:
        self.cpus = cpus
        self.workers = max(1, workers)
        self.threads_per_worker = max(1, threads_per_worker)
        per = max(1, cpus // (self.workers * self.threads_per_worker))
        self.per_task = per
        self.torch = per
        self.torch_interop = 1  # our models are sequential graphs: inter-op threads only compete with intra-op
        self.ort_intra = per
        self.ort_inter = 1
        self.blas = per
        self.gdal = per  # GDAL_NUM_THREADS: the GeoTIFF encoder's NUM_THREADS and multi-threaded decoding

    def env(self) -> dict[str, str]:
        """Environment for a process that runs one such task (a Dask worker, a subprocess)."""
        env = {k: str(self.blas) for k in THREAD_ENV_VARS}
        env["GDAL_NUM_THREADS"] = str(self.gdal)
        env[THREADS_ENV] = str(self.per_task)
        return env

    def as_dict(self) -> dict[str, int]:
        keys = ("cpus", "workers", "threads_per_worker", "torch", "torch_interop", "ort_intra", "ort_inter")
        return {k: getattr(self, k) for k in (*keys, "blas", "gdal")}

    def __repr__(self) -> str:
        return f"ThreadPlan({self.as_dict()})"


def task_cpus() -> int:
    """CPUs one task may use: SAR_STUDIO_THREADS when set (a worker of ours has it), else usable_cpus()."""
    text = os.environ.get(THREADS_ENV, "").strip()
    if text:
        try:
            return max(1, int(text))
        except ValueError:
            from core.errors import UserError

            raise UserError(
                f"{THREADS_ENV}={text!r} is not a whole number; set it to the CPUs one run may use."
            ) from None
    return usable_cpus()


def thread_plan(workers: int = 1, threads_per_worker: int = 1) -> ThreadPlan:
    """The budget for `workers` processes of `threads_per_worker` tasks each, sharing this process's CPUs."""
    return ThreadPlan(task_cpus(), workers, threads_per_worker)


def cluster_shape(workers: int) -> tuple[int, int]:
    """(workers, threads per worker) for a local cluster of `workers` processes filling the CPUs: at least 1 thread
    each, and CPUs // workers when the CPUs outnumber the workers."""
    return workers, max(1, usable_cpus() // max(1, workers))


_applied: dict[str, int] = {}


def apply_thread_budget(plan: ThreadPlan | None = None) -> ThreadPlan:
    """Tell every thread-starting library its share, once per process (again only when the plan changes).

    Environment first (libraries not loaded yet read it when they load; a user's own value is kept), then the
    libraries already loaded: torch.set_num_threads / set_num_interop_threads, threadpoolctl for the BLAS pool
    numpy already loaded. ONNX Runtime sessions read the plan when they are made (core.onnx.runtime.make_session)."""
    import sys

    plan = plan or thread_plan()
    if _applied.get("per_task") == plan.per_task:
        return plan
    for k, v in plan.env().items():
        if k != THREADS_ENV and not os.environ.get(k):
            os.environ[k] = v
    torch = sys.modules.get("torch")
    if torch is not None:
        set_torch_threads(plan)
    if "numpy" in sys.modules:  # BLAS loaded before the environment was set: tell its pool now
        from threadpoolctl import threadpool_limits

        threadpool_limits(plan.blas)
    _applied["per_task"] = plan.per_task
    return plan


def set_torch_threads(plan: ThreadPlan | None = None) -> None:
    """torch's intra-op and inter-op threads from the plan (inter-op can only be set before torch's first use)."""
    import torch

    plan = plan or thread_plan()
    if torch.get_num_threads() != plan.torch:
        torch.set_num_threads(plan.torch)
    try:
        if torch.get_num_interop_threads() != plan.torch_interop:
            torch.set_num_interop_threads(plan.torch_interop)
    except RuntimeError:  # "cannot set number of interop threads after parallel work has started"
        pass


def ort_session_options(threads: int | None = None):
    """onnxruntime.SessionOptions for every session we create: intra-op threads `threads` or the budget's share,
    inter-op threads from the budget (our graphs run sequentially)."""
    import onnxruntime as ort  # heavy: only sessions need it

    plan = thread_plan()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads) if threads else plan.ort_intra
    opts.inter_op_num_threads = plan.ort_inter
    return opts
