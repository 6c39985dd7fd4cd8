"""Property-based tests of every public entry point (issue 15): for any input, perfmodel either answers with
finite, physically sensible numbers or raises a :class:`perfmodel.PerfModelError` naming the argument (a
``TypeError`` for a wrong Python type is allowed if it names the argument). No panic ("internal error"), no
foreign exception, no NaN or inf for valid input.

``PERFMODEL_FUZZ_EXAMPLES`` sets the examples per entry point (CI: 2,000; a longer run is documented in the
README's "Robustness" section).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import perfmodel as pm
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("PERFMODEL_FUZZ_EXAMPLES", "2000"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


class Refused(Exception):
    """The call raised a PerfModelError (the expected way to refuse bad input)."""


def outcome(f: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Calls ``f``; returns its result, raises :class:`Refused` on a proper refusal and fails the test on anything
    else (a panic surfaced as 'internal error', a foreign exception, a TypeError that names nothing)."""
    try:
        return f(*args, **kwargs)
    except pm.PerfModelError as e:
        msg = str(e)
        assert "internal error" not in msg, f"engine panic reached the user: {msg}"
        assert msg, "an error without a message"
        raise Refused(msg) from None
    except TypeError as e:
        # A wrong Python type may surface as TypeError, but only if it names what was wrong.
        msg = str(e)
        assert "argument" in msg or "'" in msg, f"TypeError naming nothing: {msg!r}"
        raise Refused(msg) from None


def refused_or(f: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """:func:`outcome`, ``None`` when refused."""
    try:
        return outcome(f, *args, **kwargs)
    except Refused:
        return None


def assert_finite_frame(df: pl.DataFrame, nonneg: tuple[str, ...] = ()) -> None:
    for c in df.columns:
        if df[c].dtype.is_float():
            v = df[c].drop_nulls().to_numpy()
            assert np.all(np.isfinite(v)), f"column {c} not finite: {v[~np.isfinite(v)][:5]}"
    for c in nonneg:
        assert (df[c].to_numpy() >= 0).all(), f"column {c} negative"


# -- values: a mix of valid and invalid inputs of every kind a user passes ------------------------------------
def counts(lo: int = 0, hi: int = 4096) -> st.SearchStrategy[Any]:
    """Counts: mostly small valid ints, with numpy ints, bools, floats, huge and negative values."""
    return st.one_of(
        st.integers(lo, hi),
        st.integers(lo, hi).map(np.int64),
        st.sampled_from([0, -1, True, False, 2.0, 2.5, float("nan"), 2**31, 2**33, 2**63, 10**30, None, "8", [2]]),
    )


def sizes(hi: float = 1e12) -> st.SearchStrategy[Any]:
    """Sizes (bytes, dimensions): valid floats and ints, with NaN, inf, negative, zero, huge, wrong types."""
    return st.one_of(
        st.floats(1, hi),
        st.integers(1, int(hi)),
        st.sampled_from([0, -1, -1e9, float("nan"), float("inf"), 1e30, 1e300, 5e-324, True, "1024", None]),
    )


def flags() -> st.SearchStrategy[Any]:
    return st.one_of(st.booleans(), st.sampled_from([0, 1, np.bool_(True), -1, 2, 2.5, float("nan"), "no", ["no"], None]))


DEVICES = pm.hwdb.ids("device")
SYSTEMS = pm.hwdb.ids("system")
DTYPES = ["bf16", "fp16", "fp32", "tf32", "fp8", "int8", "fp64", "FP16", "float16", "bfloat16", "fp4", "half", "", 3]


# -- roofline -----------------------------------------------------------------------------------------------
@FUZZ
@given(
    device=st.sampled_from(DEVICES + ["h100", "nope"]),
    m=sizes(1e7),
    n=sizes(1e7),
    k=sizes(1e7),
    batch=sizes(1e4),
    dtype=st.sampled_from(DTYPES),
    layout=st.sampled_from(["row", "tn", "col", 1]),
)
def test_roofline_gemm(device: str, m: Any, n: Any, k: Any, batch: Any, dtype: Any, layout: Any) -> None:
    df = refused_or(pm.roofline.gemm, device, m, n, k, dtype=dtype, batch=batch, layout=layout)
    if df is None:
        return
    assert_finite_frame(df, nonneg=("time_s", "flops", "hbm_bytes"))
    assert (df["time_s"] > 0).all()
    f = df["fraction_of_peak"].to_numpy()
    assert np.all(f <= 1.0 + 1e-9), f"fraction of peak above 1: {f}"


@FUZZ
@given(
    device=st.sampled_from(DEVICES),
    m=st.integers(1, 1 << 15).map(lambda x: x * 8),
    n=st.integers(1, 1 << 12).map(lambda x: x * 8),
    k=st.integers(1, 1 << 12).map(lambda x: x * 8),
    scale=st.integers(2, 8),
)
def test_roofline_larger_aligned_gemm_never_faster(device: str, m: int, n: int, k: int, scale: int) -> None:
    """Multiplying one dimension of an aligned GEMM by a whole factor never makes it faster."""
    t = refused_or(pm.roofline.gemm, device, [m, m * scale], n, k)
    if t is None:
        return
    small, large = t["time_s"].to_list()
    assert large >= small * (1 - 1e-9)


@FUZZ
@given(
    device=st.sampled_from(DEVICES),
    batch=sizes(64),
    heads=sizes(128),
    seq=sizes(1e6),
    head_dim=sizes(512),
    causal=flags(),
    backward=flags(),
    dtype=st.sampled_from(DTYPES),
    kernel=st.sampled_from(["flash", "cudnn", "explicit", None]),
)
def test_roofline_attention(device: str, batch: Any, heads: Any, seq: Any, head_dim: Any, causal: Any, backward: Any,
                            dtype: Any, kernel: Any) -> None:  # fmt: skip
    df = refused_or(pm.roofline.attention, device, batch, heads, seq, head_dim, causal=causal, backward=backward,
                    dtype=dtype, kernel=kernel)  # fmt: skip
    if df is not None:
        assert_finite_frame(df, nonneg=("time_s", "flops"))
        assert (df["fraction_of_peak"].to_numpy() <= 1.0 + 1e-9).all()


@FUZZ
@given(device=st.sampled_from(DEVICES), r=sizes(1e13), w=sizes(1e13), flops=sizes(1e15), dtype=st.sampled_from(DTYPES))
def test_roofline_memory_bound(device: str, r: Any, w: Any, flops: Any, dtype: Any) -> None:
    df = refused_or(pm.roofline.memory_bound, device, r, w, flops, dtype=dtype)
    if df is not None:
        assert_finite_frame(df, nonneg=("time_s",))


# -- collectives and clusters -------------------------------------------------------------------------------
OPS = ["all_reduce", "all_gather", "reduce_scatter", "broadcast", "reduce", "all_to_all", "send_recv", "allreduce", "x"]


@FUZZ
@given(
    system=st.sampled_from(SYSTEMS),
    op=st.sampled_from(OPS),
    nbytes=sizes(1e13),
    nranks=counts(0, 4096),
    algorithm=st.sampled_from(["auto", "ring", "tree", "nvls", "direct", "hierarchical", "bogus"]),
    stride=counts(0, 16),
)
def test_collectives_predict(system: str, op: str, nbytes: Any, nranks: Any, algorithm: str, stride: Any) -> None:
    df = refused_or(pm.collectives.predict, system, op, nbytes, nranks, algorithm, stride=stride)
    if df is not None:
        assert_finite_frame(df, nonneg=("time_s", "busbw_gbps"))
        assert (df["time_s"] > 0).all()


@FUZZ
@given(system=st.sampled_from(SYSTEMS), nranks=st.integers(2, 64), nbytes=st.floats(1, 1e11), more=st.floats(1.0, 64.0))
def test_collectives_larger_message_never_faster(system: str, nranks: int, nbytes: float, more: float) -> None:
    df = refused_or(pm.collectives.predict, system, "all_reduce", [nbytes, nbytes * more], nranks)
    if df is not None:
        small, large = df["time_s"].to_list()
        assert large >= small * (1 - 1e-9)


@FUZZ
@given(system=st.sampled_from(SYSTEMS + ["holmes-4ib-4roce", "nope"]), nodes=counts(0, 100_000))
def test_cluster(system: str, nodes: Any) -> None:
    c = refused_or(pm.cluster, system, nodes)
    if c is not None:
        assert c.devices >= 1


# -- LLM training -------------------------------------------------------------------------------------------
LLM_MODELS = ["megatron-1.7b", "gpt3-175b", "llama2-70b", "mixtral-8x7b"]


@FUZZ
@given(
    model=st.sampled_from(LLM_MODELS),
    system=st.sampled_from(["dgx-a100", "dgx-h100", "frontier-node", "mi300x-pollara-node"]),
    nodes=counts(1, 64),
    tp=counts(0, 16),
    pp=counts(0, 8),
    vp=counts(0, 4),
    mb=counts(0, 8),
    gb=counts(0, 4096),
    sp=flags(),
    zero=st.sampled_from([0, 1, 2, 3, 4, -1, 1.5, True]),
    recompute=st.sampled_from(["none", "selective", "full", "all", None]),
    dtype=st.sampled_from(["bf16", "fp16", "fp8", "FP16", "float16", "fp32"]),
    overlap=flags(),
    flash=flags(),
)
def test_llm_estimate(model: str, system: str, nodes: Any, tp: Any, pp: Any, vp: Any, mb: Any, gb: Any, sp: Any,
                      zero: Any, recompute: Any, dtype: Any, overlap: Any, flash: Any) -> None:  # fmt: skip
    e = refused_or(pm.llm.estimate, model, (system, nodes), tp=tp, pp=pp, vp=vp, micro_batch=mb, global_batch=gb, sp=sp,
                   zero=zero, recompute=recompute, dtype=dtype, dp_overlap=overlap, flash_attention=flash)  # fmt: skip
    if e is None:
        return
    for v in (e.step_time_s, e.tokens_per_s, e.mfu, e.memory_per_gpu_bytes):
        assert math.isfinite(v) and v > 0
    assert 0 < e.mfu <= 1.0
    m = pm.llm.model(model)
    assert e.tokens_per_s == pytest.approx(e.plan["global_batch"] * m.seq_len / e.step_time_s, rel=1e-9)


@FUZZ
@given(key=st.sampled_from(["compute_time_scale", "memory_time_scale", "comm_bandwidth_scale", "network_bandwidth_scale", "bogus"]),
       value=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0, -1, "x", None, True])))  # fmt: skip
def test_llm_calibration_values(key: str, value: Any) -> None:
    e = refused_or(pm.llm.estimate, "megatron-1.7b", ("dgx-a100", 1), tp=1, global_batch=8, calib={key: value})
    if e is not None:
        assert 0 < e.mfu <= 1.0 and math.isfinite(e.step_time_s)
