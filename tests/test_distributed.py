"""Distributed sweeps on a Dask LocalCluster of two process workers: every entry point that takes ``client=``
returns exactly its local frame, a failed or lost chunk is run again without losing rows, and the errors are
perfmodel's."""

from __future__ import annotations

import os
import sys

import numpy as np
import perfmodel as pm
import pytest
from perfmodel import _distributed

distributed = pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")

pytestmark = pytest.mark.distributed


@pytest.fixture(scope="module")
def client():
    # One engine thread per worker: two single-threaded processes, as a cluster of small workers runs them.
    with (
        distributed.LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            dashboard_address=":0",  # a free port: another cluster on this machine may hold 8787
            env={"RAYON_NUM_THREADS": "1"},
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


def test_llm_search_on_the_cluster_is_the_local_search(client):
    local = pm.llm.search_full("megatron-1.7b", ("dgx-a100", 2), 64, fits_only=False, progress=False)
    remote = pm.llm.search_full(
        "megatron-1.7b", ("dgx-a100", 2), 64, fits_only=False, progress=False, client=client
    )
    assert local.candidates > 1_000_000 and local.plans.height > 10_000
    assert remote.plans.equals(local.plans)
    assert remote.skipped == local.skipped and remote.candidates == local.candidates
    top = pm.llm.search("megatron-1.7b", ("dgx-a100", 2), 64, top=5, client=client, progress=False)
    assert top.equals(local.plans.filter("fits").head(5))


def test_placed_search_on_the_cluster_is_the_local_search(client):
    het = pm.cluster([("holmes-a100-ib", 1), ("holmes-a100-roce", 1)])
    kw = dict(micro_batch=[1, 2], progress=False)
    local = pm.llm.search_full("megatron-1.7b", het, 16, **kw)
    remote = pm.llm.search_full("megatron-1.7b", het, 16, client=client, **kw)
    assert local.plans.height > 1000 and "layers_per_stage" in local.plans.columns
    assert remote.plans.equals(local.plans) and remote.skipped == local.skipped


def test_serving_plan_search_on_the_cluster_is_the_local_search(client):
    kw = dict(rate=8.0, num_requests=60, slo_ttft_s=0.5, slo_tpot_s=0.05, max_num_seqs=(None, 64))
    local = pm.serve.search("llama3-8b", ("dgx-h100", 1), **kw)
    remote = pm.serve.search("llama3-8b", ("dgx-h100", 1), client=client, **kw)
    assert local.height >= 8
    assert remote.equals(local)


@pytest.mark.parametrize("mc_seed", [None, 7])
def test_daq_sweep_on_the_cluster_is_the_local_sweep(client, mc_seed):
    p = pm.daq.preset("cms-run5")
    rows = 6000 if mc_seed is None else 3000
    columns = {"L1T.skill": np.linspace(1, 4, rows), "year": np.linspace(2025, 2035, rows)}
    kw = dict(per_stage=True, mc_seed=mc_seed, mc_samples=200)
    local = p.sweep(columns, **kw)
    remote = p.sweep(columns, client=client, **kw)
    assert local.height == rows
    assert remote.equals(local)


@pytest.mark.parametrize("kw", [{}, {"per_stage": False, "gpu_hlt": True}])
def test_daq_lever_sweep_on_the_cluster_is_the_local_sweep(client, kw):
    local = pm.daq.lever_sweep("cms-run5", **kw)
    remote = pm.daq.lever_sweep("cms-run5", client=client, **kw)
    assert local.height == (16 if not kw else 8)
    assert remote.equals(local)


def test_array_calls_on_the_cluster_are_the_local_calls(client):
    m = np.arange(1, 20_001)
    assert pm.roofline.gemm("h100-sxm5-80gb", m, 4096, 4096, client=client).equals(
        pm.roofline.gemm("h100-sxm5-80gb", m, 4096, 4096)
    )
    seq = np.arange(128, 128 + 12_000)
    assert pm.roofline.attention("h100-sxm5-80gb", 4, 32, seq, 128, client=client).equals(
        pm.roofline.attention("h100-sxm5-80gb", 4, 32, seq, 128)
    )
    b = np.logspace(3, 9, 15_000)
    assert pm.roofline.memory_bound("a100-sxm4-80gb", b, b, client=client).equals(
        pm.roofline.memory_bound("a100-sxm4-80gb", b, b)
    )
    c = pm.cluster("dgx-h100", 4)
    local = pm.collectives.predict(c, "all_reduce", b, 32)
    assert pm.collectives.predict(c, "all_reduce", b, 32, client=client).equals(local)


def _die_once(marker: str, chunk: int, lo: int, hi: int) -> list[int]:
    """A chunk whose worker process dies the first time chunk 1 runs (a lost worker, not an exception)."""
    if chunk == 1 and not os.path.exists(marker):
        with open(marker, "w"):
            pass
        os._exit(1)
    return list(range(lo, hi))


def _raise_once(marker: str, chunk: int, lo: int, hi: int) -> list[int]:
    """A chunk that raises the first time chunk 2 runs."""
    if chunk == 2 and not os.path.exists(marker):
        with open(marker, "w"):
            pass
        raise RuntimeError("transient failure")
    return list(range(lo, hi))


def _always_fails(chunk: int) -> None:
    raise RuntimeError(f"chunk {chunk} cannot run")


@pytest.fixture
def by_value():
    """Functions of this test module travel to the workers by value (the module is not importable there)."""
    module = sys.modules[__name__]
    cloudpickle.register_pickle_by_value(module)
    yield
    cloudpickle.unregister_pickle_by_value(module)


@pytest.mark.parametrize("fn", [_die_once, _raise_once])
def test_a_failed_chunk_runs_again_and_no_rows_are_lost(client, tmp_path, by_value, fn):
    marker = str(tmp_path / "failed-once")
    ranges = _distributed.index_ranges(1000, 4)
    seen = []
    parts = _distributed.map_chunks(
        client,
        fn,
        [(marker, i, lo, hi) for i, (lo, hi) in enumerate(ranges)],
        progress=lambda d, t: seen.append((d, t)),
    )
    assert os.path.exists(marker)  # the failure did happen
    assert [x for part in parts for x in part] == list(range(1000))
    assert seen[-1] == (4, 4) and len(seen) == 4


def test_a_chunk_that_keeps_failing_is_a_perfmodel_error_naming_it(client, by_value):
    with pytest.raises(pm.PerfModelError, match=r"chunk 1 of 1 failed .*cannot run"):
        _distributed.map_chunks(client, _always_fails, [(0,)], retries=1)


def test_engine_errors_come_through_as_they_are(client):
    with pytest.raises(pm.InvalidArgumentError, match="recompute"):
        pm.llm.search("megatron-1.7b", ("dgx-a100", 1), 8, client=client, recompute=["sometimes"])
    with pytest.raises(pm.InvalidArgumentError, match="argument `client`"):
        pm.roofline.gemm("h100-sxm5-80gb", [1, 2], 8, 8, client="tcp://127.0.0.1:8786")


def test_index_ranges_cover_every_row_once():
    for total in (0, 1, 7, 1000, 10_000_019):
        for chunks in (1, 3, 64):
            r = _distributed.index_ranges(total, chunks)
            assert sum(hi - lo for lo, hi in r) == total
            assert all(a[1] == b[0] for a, b in zip(r, r[1:], strict=False))
            assert not r or (r[0][0] == 0 and r[-1][1] == total)


def test_missing_distributed_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(pm.UnsupportedError, match=r"perfmodel\[dask\]"):
        pm.llm.search("megatron-1.7b", ("dgx-a100", 1), 8, client=object())
