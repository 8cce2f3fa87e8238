"""Fixtures every test folder may use: the process set-up (one torch thread, `__main__` restored), allowed data
roots, a seeded generator, a projected georeference, a speckled scene, and the translation checkpoints that both the
translation tests and the page tests use. Each folder's own conftest.py holds what only its tests share; builders
and helpers that are not fixtures live in tests/support/. The project root is on sys.path through pyproject.toml's
`pythonpath`, not patched here."""

import os
import sys

import numpy as np
import pytest
import torch

from models.registry import build
from tests.support.generators import _randomise
from tests.support.repo import ROOT

os.environ.setdefault("OMP_NUM_THREADS", "2")


_MAIN = sys.modules.get("__main__")


@pytest.fixture(autouse=True)
def restore_main_module():
    """AppTest runs page scripts as `__main__` and leaves the last one in sys.modules. Processes started later by
    spawn (Dask workers, process pools) re-run the parent's `__main__` file and would run a Streamlit page, so the
    test runner's own `__main__` is put back after each test."""
    yield
    if _MAIN is not None and sys.modules.get("__main__") is not _MAIN:
        sys.modules["__main__"] = _MAIN


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """One intra-op torch thread for the whole test run. Tests use small tensors, where two OpenMP threads
    mostly wait on each other: measured several times (up to 100x on 48-px images) slower on a busy 2-core
    machine. Tests that are about threads set their own count and restore it."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def data_roots(tmp_path, monkeypatch):
    """Server paths on, confined to the test's tmp_path and the bundled samples (core.roots)."""
    monkeypatch.setenv("SAR_STUDIO_DATA_ROOTS", os.pathsep.join([str(tmp_path), str(ROOT / "samples")]))
    return tmp_path


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def utm_geo():
    """A real projected georeference (UTM 33N, 10 m pixels) with a nodata value."""
    import rasterio

    from core.io import GeoInfo

    return GeoInfo(
        crs=rasterio.crs.CRS.from_epsg(32633).to_wkt(),
        transform=(10.0, 0.0, 500000.0, 0.0, -10.0, 4000000.0),
        nodata=-9999.0,
    )


@pytest.fixture
def speckled(rng):
    """A 96x128 L=4-look speckled intensity image of a two-level scene (flat halves, known means)."""
    scene = np.full((96, 128), 0.05, np.float32)
    scene[:, 64:] = 0.4
    looks = 4
    return (scene * rng.gamma(looks, 1.0 / looks, scene.shape)).astype(np.float32), scene, looks


@pytest.fixture
def empty_checkpoints(tmp_path, monkeypatch):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    monkeypatch.setenv("SAR_STUDIO_CHECKPOINTS", str(folder))
    return folder


@pytest.fixture
def tiny_model(tmp_path):
    torch.manual_seed(0)
    model = _randomise(build("sar2optical_unet", {"width": 4}), seed=21)
    path = tmp_path / "pix2pix_gen_180.pth"
    torch.save(model.state_dict(), path)
    return path
