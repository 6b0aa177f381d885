"""Sweeps on a Dask cluster: LocalCluster(n_workers=2, threads_per_worker=1, processes=True).

Yardstick: the same sweep run locally in this process (itself tested bitwise against one plain
``simulate`` call in test_sweeps.py); the cluster must give the same numbers bitwise, spread
the work over both workers, and survive a worker killed mid-sweep without losing a chunk.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest

import hhfast as hh
from hhfast import sweeps

distributed = pytest.importorskip("distributed")
zarr = pytest.importorskip("zarr")

RUN = {"dt": 0.025, "method": "expeuler"}


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as c:
        yield c


def same(a, b):
    for k in a.data_vars:
        assert a[k].dtype == b[k].dtype, k
        assert np.array_equal(a[k].values, b[k].values, equal_nan=True), k


def test_cluster_gathers_bitwise_the_local_result(client):
    from distributed import get_task_stream

    g = hh.grid(amplitude=np.linspace(0, 20, 25), gK=np.array([30.0, 36.0, 42.0]))
    kw = dict(t_stop=40.0, **RUN, chunk_size=6, batch_size=12, progress=False)
    local = hh.sweep(g, hh.step(start=2.0), **kw)
    with get_task_stream(client) as ts:
        remote = hh.sweep(g, hh.step(start=2.0), client=client, **kw)
    same(local, remote)
    assert bool(remote.done.all())
    ran = [t for t in ts.data if "_run_batch" in str(t["key"])]
    assert len(ran) == 7  # 13 chunks of 6 points, 2 chunks per task
    assert len({t["worker"] for t in ran}) == 2  # both workers took part


def test_worker_numba_threads_follow_worker_threads(client):
    # one Dask thread per worker -> one Numba thread in its tasks (no oversubscription)
    assert client.submit(sweeps.execute._worker_threads, pure=False).result() == 1
    assert sweeps.execute._worker_threads() is None  # outside Dask: the process's own setting


@pytest.mark.slow  # a worker process killed and replaced (~10 CPU-s); the fast set checks the
# cluster's result against the local one (test_cluster_gathers_bitwise_the_local_result)
def test_worker_killed_mid_sweep_loses_and_doubles_nothing(client, tmp_path):
    g = hh.grid(amplitude=np.linspace(2, 20, 64), gK=np.linspace(30, 42, 16))
    kw = dict(t_stop=1000.0, **RUN, chunk_size=32, batch_size=32, progress=False)
    local = hh.sweep(g, hh.step(start=2.0), **kw)
    path = str(tmp_path / "d.zarr")
    pids = list(client.run(os.getpid).values())
    seen = {}

    def killer():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                n = int(zarr.open_group(path, mode="r")["done"][...].sum())
            except Exception:  # store not created yet
                n = 0
            if n >= 64:  # two chunks finished: the sweep is under way
                seen["done_at_kill"] = n
                os.kill(pids[0], signal.SIGKILL)
                return
            time.sleep(0.01)

    t = threading.Thread(target=killer)
    t.start()
    remote = hh.sweep(g, hh.step(start=2.0), client=client, store=path, **kw)
    t.join()
    assert 64 <= seen["done_at_kill"] < g.size, "the worker was not killed mid-sweep"
    same(local, remote.compute())
    assert bool(remote.done.all())
    assert pids[0] not in client.run(os.getpid).values()  # that worker process is gone
