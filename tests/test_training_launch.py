"""Host-launch term of the training step (eager kernels vs CUDA graphs): ``cuda_graphs`` and the system calibration's
``kernel_launch_us`` (perfmodel-core ``llm::step::launch_kernels``)."""

from __future__ import annotations

import perfmodel as pm
import pytest

# A small dense model whose layers run in well under a millisecond on an H100, so an eager step is host-bound.
_SMALL = {"hidden": 1024, "heads": 16, "layers": 4, "ffn_hidden": 4096, "seq_len": 512, "vocab": 32000}
_GPU_PARTS = ("forward", "backward", "recompute", "tp_comm", "cp_comm", "ep_comm")


def _est(graphs: str, launch_us: float, **kw: object) -> pm.llm.Estimate:
    plan = dict(tp=1, pp=1, dp=8, micro_batch=1, global_batch=16, dtype="bf16") | kw
    return pm.llm.estimate(
        pm.llm.model(_SMALL),
        ("dgx-h100", 1),
        cuda_graphs=graphs,
        calib={"kernel_launch_us": launch_us},
        **plan,
    )


@pytest.mark.parametrize(
    ("plan", "per_layer"),
    [
        # Hand count (launch_kernels' docstring), tp 1, bf16, flash attention, no CP, no recompute:
        # forward 2 norms + 4 GEMMs + 2 RoPE + 1 attention + 1 activation + 2 bias-dropout-adds = 12;
        # backward 4 norm kernels + 4 data- and 4 weight-gradient GEMMs + 2 RoPE + 1 attention + 1 activation
        # + 2 dropout + 2 residual adds = 20.
        ({}, 32),
        # tp 2 with SP: forward + 2 all-gathers + 2 reduce-scatters, backward + 2 + 2 + 2 re-gathers.
        ({"tp": 2, "dp": 4, "sp": True}, 42),
    ],
)
def test_eager_step_is_the_longer_of_gpu_and_launches(plan: dict, per_layer: int) -> None:
    us = 100.0
    full = _est("full", us, **plan)
    eager = _est("none", us, **plan)
    mbs = 16 // plan.get("dp", 8)
    # Kernels per micro-batch: 4 layers plus the output layer and loss (GEMM and 3 cross-entropy kernels each way).
    kernels = 4 * per_layer + 8
    gpu_per_mb = sum(full.raw[k] for k in _GPU_PARTS) / mbs
    host_per_mb = kernels * us * 1e-6
    assert host_per_mb > gpu_per_mb  # the case is host-bound
    assert eager.raw["launch"] == pytest.approx(mbs * (host_per_mb - gpu_per_mb), rel=1e-9)
    assert eager.step_time_s == pytest.approx(full.step_time_s + mbs * (host_per_mb - gpu_per_mb), rel=1e-9)
    # Layer graphs leave the output layer's 8 kernels to the host: under the GPU time, so nothing is exposed.
    assert _est("layer", us, **plan).step_time_s == pytest.approx(full.step_time_s, rel=1e-12)
    # No launch cost: eager equals graphed.
    assert _est("none", 0.0, **plan).step_time_s == pytest.approx(full.step_time_s, rel=1e-12)


def test_default_is_eager_and_systems_without_the_figure_are_unchanged() -> None:
    m = pm.llm.model(_SMALL)
    e = pm.llm.estimate(m, ("dgx-h100", 1), tp=1, dp=8, global_batch=16)
    assert e.plan["cuda_graphs"] == "none"
    assert e.raw["launch"] > 0  # dgx-h100's fitted kernel_launch_us binds this small model
    assert (
        pm.llm.calibration("hgx-h200")["kernel_launch_us"]
        == pm.llm.calibration("dgx-h100")["kernel_launch_us"]
    )
    a100 = pm.llm.estimate(m, ("dgx-a100", 1), tp=1, dp=8, global_batch=16)
    assert pm.llm.calibration("dgx-a100")["kernel_launch_us"] == 0.0
    assert a100.raw["launch"] == 0.0
    assert "launch" in set(e.breakdown["component"].to_list())


def test_bad_cuda_graphs_and_launch_figures_are_named() -> None:
    with pytest.raises(pm.InvalidArgumentError, match="cuda_graphs"):
        _est("layers", 10.0)
    with pytest.raises(pm.InvalidArgumentError, match="kernel_launch_us"):
        _est("none", -1.0)
    with pytest.raises(pm.InvalidArgumentError, match="kernel_launch_us"):
        _est("none", 5000.0)


def test_cli_takes_cuda_graphs() -> None:
    from perfmodel.cli import main

    assert main(["llm", "estimate", "llama2-7b", "dgx-h100", "1", "--global-batch", "8", "--cuda-graphs", "layer",
                 "--format", "json"]) == 0  # fmt: skip
