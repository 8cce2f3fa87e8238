"""One thread budget (issue 24): from the CPUs this process may use to every library's share, ONNX Runtime
sessions and Dask workers included."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from core import compute
from tests.support.repo import ROOT


def test_usable_cpus_is_the_affinity_lowered_by_a_cgroup_quota(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5})
    monkeypatch.setattr(compute, "_cgroup_quota", lambda: None)
    assert compute.usable_cpus() == 6
    monkeypatch.setattr(compute, "_cgroup_quota", lambda: 2.5)  # cpu.max "250000 100000"
    assert compute.usable_cpus() == 3  # rounded: 2.5 CPUs of time fill 3 threads at most


def test_the_plan_divides_the_cpus_among_workers_and_threads(monkeypatch):
    monkeypatch.setenv("SAR_STUDIO_THREADS", "8")
    plan = compute.thread_plan(workers=2, threads_per_worker=2)
    assert (plan.torch, plan.ort_intra, plan.blas, plan.gdal, plan.ort_inter) == (2, 2, 2, 2, 1)
    assert plan.env()["OMP_NUM_THREADS"] == "2" and plan.env()["GDAL_NUM_THREADS"] == "2"
    assert compute.thread_plan().per_task == 8
    monkeypatch.setattr(compute, "usable_cpus", lambda: 8)
    assert compute.cluster_shape(2) == (2, 4) and compute.cluster_shape(16) == (16, 1)


def _tiny_onnx(path):
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 4, 4])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 4, 4])
    graph = helper.make_graph([helper.make_node("Relu", ["input"], ["output"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # what ONNX Runtime reads for opset 17
    onnx.save(model, str(path))
    return path


def test_onnx_runtime_sessions_get_their_threads_from_the_budget(tmp_path, monkeypatch):
    from core.onnx.runtime import make_session

    path = _tiny_onnx(tmp_path / "relu.onnx")
    for n in ("1", "3"):
        monkeypatch.setenv("SAR_STUDIO_THREADS", n)
        session, _, _ = make_session(path, "cpu")
        opts = session.get_session_options()
        assert (opts.intra_op_num_threads, opts.inter_op_num_threads) == (int(n), 1)
        x = np.linspace(-1, 1, 48, dtype=np.float32).reshape(1, 3, 4, 4)
        np.testing.assert_array_equal(session.run(None, {"input": x})[0], np.maximum(x, 0))
    session, _, _ = make_session(path, "cpu", threads=2)  # an explicit choice wins
    assert session.get_session_options().intra_op_num_threads == 2


def _worker_env() -> dict:
    import torch

    keys = ("OMP_NUM_THREADS", "GDAL_NUM_THREADS", "SAR_STUDIO_THREADS", "SAR_STUDIO_COMPRESS")
    return {**{k: os.environ.get(k) for k in keys}, "torch": torch.get_num_threads()}


def test_local_cluster_workers_get_their_share_in_their_environment(monkeypatch):
    from core import batch

    monkeypatch.setattr(compute, "usable_cpus", lambda: 4)  # as on a 4-CPU machine: 2 workers x 2 threads
    monkeypatch.setenv("SAR_STUDIO_COMPRESS", "deflate:6")
    monkeypatch.setenv("SAR_STUDIO_THREADS", "4")
    with batch.cluster_client(2, None) as client:
        info = client.scheduler_info()["workers"]
        assert sorted(w["nthreads"] for w in info.values()) == [2, 2]
        envs = list(client.run(_worker_env).values())
        # this process only receives and writes meanwhile: the CPUs the workers leave, at least 1 (its encoder)
        assert os.environ["SAR_STUDIO_THREADS"] == os.environ["GDAL_NUM_THREADS"] == "1"
    assert os.environ["SAR_STUDIO_THREADS"] == "4"  # its own budget again after the cluster
    assert len(envs) == 2
    for env in envs:
        # 4 CPUs / (2 workers x 2 threads) = 1 thread per task for each library
        assert env == {
            "OMP_NUM_THREADS": "1",
            "GDAL_NUM_THREADS": "1",
            "SAR_STUDIO_THREADS": "1",
            "SAR_STUDIO_COMPRESS": "deflate:6",
            "torch": 1,
        }


BLAS_AFTER_NUMPY = """
import numpy, threadpoolctl
from core import compute
compute.apply_thread_budget()
print(sorted({p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"}))
"""


def test_a_blas_pool_loaded_before_the_budget_is_told_its_share(tmp_path):
    """numpy imported first (its OpenBLAS pool sized from the machine), then the budget: the pool gets the share."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    env.update(SAR_STUDIO_THREADS="1", PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", BLAS_AFTER_NUMPY], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[1]", out.stdout
