"""Every input finding of issue 15's fuzzing, kept as a regression test: each one-liner that used to panic, return
NaN, raise a foreign exception or be silently misread now answers correctly or raises a named PerfModelError."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import perfmodel as pm
import pytest
from perfmodel.cli import main

A100_1 = ("dgx-a100", 1)


def test_daq_low_rates_give_finite_metrics_and_no_interp_panic() -> None:
    # Integer counts truncate to zero events past L1T: metrics stay finite, undefined ratios are None.
    ev = pm.daq.preset("cms-run3").with_values({"L1T.reduction_ratio": 4e7}).evaluate()
    for k, v in ev.metrics.items():
        assert v is None or math.isfinite(v), k
    assert ev.metrics["relevant_per_s"] == 0 and ev.energy_per_relevant_j is None
    # An empirical classifier that sees no events used to panic in its table lookup (partition_point - 1).
    rng = np.random.default_rng(0)
    p = pm.daq.preset("cms-run3").with_values({"L1T.reduction_ratio": 4e7})
    p._nodes["HLT"].classifier = pm.daq.Empirical.from_scores(rng.normal(0, 1, 400), rng.normal(2, 1, 400))
    p._compiled = None
    assert math.isfinite(p.evaluate().power_w)


def test_daq_domains() -> None:
    p = pm.daq.preset("cms-run5")
    with pytest.raises(pm.InvalidArgumentError, match="year.*1990 to 2060"):
        p.with_values({"year": 1.0}).evaluate()
    with pytest.raises(pm.InvalidArgumentError, match="HLT.*complexity_k2.*cannot be negative"):
        p.with_values({"HLT.complexity_k2": -1}).evaluate()
    with pytest.raises(pm.InvalidArgumentError, match="mc_seed"):
        p.evaluate(mc_seed=-1)


def test_mixed_nic_search_with_an_odd_batch() -> None:
    r = pm.llm.search_full("megatron-1.7b", pm.cluster([("holmes-a100-ib", 1), ("holmes-a100-roce", 1)]), 7)
    assert r.plans.height > 0 and ((7 % (r.plans["dp"] * r.plans["micro_batch"])) == 0).all()


def test_collectives_cli_size_count_is_bounded(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["collectives", "--sizes", "10T..1000T", "--factor", "1.0000001"]) == 2
    assert "at most 100,000" in capsys.readouterr().err


def test_calibration_cannot_beat_peak() -> None:
    with pytest.raises(pm.InvalidArgumentError, match="faster than the GPUs' peak"):
        pm.llm.estimate("megatron-1.7b", A100_1, tp=1, global_batch=8, calib={"compute_time_scale": 0.1})


def test_dtype_aliases_are_one_vocabulary() -> None:
    a = pm.roofline.gemm("h100-sxm5-80gb", 4096, 4096, 4096, dtype="FP16")
    b = pm.roofline.gemm("h100-sxm5-80gb", 4096, 4096, 4096, dtype="fp16")
    assert a["fraction_of_peak"][0] == b["fraction_of_peak"][0] and math.isfinite(a["fraction_of_peak"][0])
    assert (
        pm.roofline.gemm("h100-sxm5-80gb", 4096, 4096, 4096, dtype="float16")["time_s"][0] == b["time_s"][0]
    )


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: pm.roofline.gemm("h100-sxm5-80gb", 1e300, 4096, 4096), "`m`.*<= 2\\^40"),
        (lambda: pm.collectives.predict("dgx-h100", "all_reduce", 1e30, 8), "nbytes.*1e18"),
        (lambda: pm.collectives.predict("dgx-h100", "all_reduce", 1 << 20, int(1e12)), "nranks.*16,777,216"),
        (lambda: pm.cluster("dgx-h100", 2**33), "nodes.*16,777,216"),
        (lambda: pm.llm.estimate("megatron-1.7b", A100_1, tp=True, global_batch=8), "`tp`.*True"),
        (lambda: pm.llm.estimate("megatron-1.7b", A100_1, tp=0, global_batch=8), "argument `tp`"),
        (
            lambda: pm.llm.estimate("megatron-1.7b", A100_1, tp=2, sp=float("nan"), global_batch=8),
            "`sp`.*True or False",
        ),
        (
            lambda: pm.llm.estimate("megatron-1.7b", A100_1, tp=2, sp=["no"], global_batch=8),
            "`sp`.*True or False",
        ),
        (
            lambda: pm.llm.estimate("megatron-1.7b", A100_1, flash_attention=2.5, global_batch=8),
            "flash_attention",
        ),
        (lambda: pm.llm.estimate("megatron-1.7b", A100_1, dp_overlap=-1, global_batch=8), "dp_overlap"),
        (lambda: pm.llm.estimate("megatron-1.7b", A100_1, tp=2, pp=2, vp=2**31, global_batch=8), "`vp`"),
        (lambda: pm.llm.search("megatron-1.7b", A100_1, 8, top=-1), "`top`"),
        (lambda: pm.llm.search("megatron-1.7b", A100_1, 8, vp=[0]), r"`vp\[0\]`"),
        (lambda: pm.llm.search("megatron-1.7b", A100_1, 8, sp=["no"]), r"`sp\[0\]`"),
        (
            lambda: pm.llm.estimate(
                "megatron-1.7b", pm.cluster("holmes-4ib-4roce"), tp=8, placement=[0.5, 1, 2, 3]
            ),
            r"placement\[0\]",
        ),
        (lambda: pm.llm.model("mixtral-8x7b", moe_ffn_hidden=-1), "moe_ffn_hidden"),
        (lambda: pm.roofline.attention("h100-sxm5-80gb", 1, 8, -5, 128), "`seq_len`"),
        (lambda: pm.serve.simulate("llama3.1-8b", "dgx-h100", rate=1.0, num_requests=2**40), "num_requests"),
        (lambda: pm.serve.simulate("llama3.1-8b", "dgx-h100", rate=1.0, num_requests=4, seed=-1), "seed"),
        (
            lambda: pm.hwdb.get("dgx-h100").with_overrides({"nics_per_node_count": 1e300}),
            "nics_per_node_count.*typo",
        ),
        (lambda: pm.hwdb.get("cx7-ndr400").with_overrides({"line_rate_gbit_per_s": 5e-324}), "line_rate"),
    ],
)
def test_bad_input_is_a_named_error(call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(pm.PerfModelError, match=match) as info:
        call()
    assert "internal error" not in str(info.value)


def test_numpy_counts_are_accepted() -> None:
    assert pm.cluster("dgx-h100", np.int64(2)).devices == 16
    a = pm.llm.estimate("megatron-1.7b", A100_1, tp=np.int64(8), global_batch=8)
    b = pm.llm.estimate("megatron-1.7b", A100_1, tp=8, global_batch=8)
    assert a.step_time_s == b.step_time_s


def test_nccl_logs_with_negative_or_corrupt_rows_are_errors(tmp_path: Path) -> None:
    head = (
        "#       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong\n"
        "#        (B)    (elements)                               (us)  (GB/s)  (GB/s)            (us)  (GB/s)  (GB/s)\n"
    )
    neg_time = (
        head
        + "        1024           256     float     sum      -1    -5.0    0.20    0.35      0    5.0    0.20    0.35      0\n"
    )
    with pytest.raises(pm.LogParseError, match="`time`.*>= 0"):
        pm.nccl_tests.parse(neg_time, op="all_reduce")
    neg_size = (
        head
        + "       -1024           256     float     sum      -1    5.0    0.20    0.35      0    5.0    0.20    0.35      0\n"
    )
    with pytest.raises(pm.LogParseError, match="whole number of bytes"):
        pm.nccl_tests.parse(neg_size, op="all_reduce")


def test_non_utf8_and_deeply_nested_files_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "dev.toml"
    bad.write_bytes(b'kind = "device"\nname = "\xff"\n')
    with pytest.raises(pm.HwdbError, match=r"dev.toml:2: not UTF-8"):
        pm.hwdb.load(bad)
    deep = tmp_path / "deep.toml"
    deep.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(pm.InvalidArgumentError, match="deep.toml"):
        pm.daq.load(str(deep))


def test_a_model_parallel_size_that_does_not_divide_the_cluster_blames_the_options_given():
    """tp=3 on 32 GPUs was reported as a `dp` problem the user never wrote."""
    with pytest.raises(
        pm.PerfModelError, match=r"argument `tp` x `pp`: tp=8 x pp=3 = 24 GPUs .* divisors of 32: 1, 2, 4, 8"
    ):
        pm.llm.estimate("gpt3-175b", ("dgx-h100", 4), tp=8, pp=3, global_batch=64)
