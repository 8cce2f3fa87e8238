"""Fixtures the tests of core's shared modules (catalogue, checkpoints, CLI start-up, cluster, metrics, progress,
recent results, thread budget, tiling) share."""

import pytest


@pytest.fixture(scope="module")
def cluster():
    """One LocalCluster of 2 worker processes (one thread each) per test module, and its client."""
    from distributed import Client, LocalCluster  # heavy: Dask's distributed only where a cluster is started

    lc = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40)
    client = Client(lc)
    yield lc, client
    client.close()
    lc.close()
