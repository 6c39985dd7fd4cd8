"""Context-parallel attention as Transformer Engine's ring (``p2p``) schedule runs it (issue 12): the step model's
CP attention and exposed ring transfers derived by hand from ``pm.roofline`` and ``pm.collectives``."""

from __future__ import annotations

import perfmodel as pm
import pytest

SEQ, LAYERS = 4096, 2
FIELDS = {"hidden": 4096, "heads": 32, "kv_heads": 8, "layers": LAYERS, "ffn_hidden": 11008, "vocab": 32000,
          "glu": True}  # fmt: skip


def _attn(device: str, heads: float, sq: float, skv: float, d: float, causal: bool, backward: bool) -> float:
    df = pm.roofline.attention(device, 1, heads, sq, d, causal=causal, backward=backward, seq_kv=skv)
    return float(df["time_s"][0])


def _mem(device: str, read: float, write: float) -> float:
    return float(pm.roofline.memory_bound(device, read, write)["time_s"][0])


def _sendrecv(system: str, nodes: int, nbytes: float, cp: int, tp: int) -> float:
    df = pm.collectives.predict(pm.cluster(system, nodes), "send_recv", nbytes, cp, stride=tp, concurrent=8)
    return float(df["time_s"][0])


@pytest.mark.parametrize(("tp", "cp", "seq"), [(8, 2, 1024), (4, 4, SEQ)])
def test_cp_attention_is_the_ring_schedule_derived_by_hand(tp: int, cp: int, seq: int) -> None:
    # Two DGX H100 nodes, the CP group `tp` ranks apart: with tp 8 its two ranks sit in different nodes, with
    # tp 4 the four ranks are two per node; the ring's sends cross the NICs either way, so they are exposed.
    system, nodes = "dgx-h100", 2
    device = pm.hwdb.get(system)["device"]
    dp = 16 // (tp * cp)
    # Unit calibration: kernels as the roofline prices them, the NICs at the engine's figures.
    calib = {"compute_time_scale": 1.0, "memory_time_scale": 1.0, "comm_bandwidth_scale": 1.0,
             "network_bandwidth_scale": 1.0}  # fmt: skip
    kw = dict(
        tp=tp, pp=1, dp=dp, micro_batch=1, global_batch=dp, sp=True, recompute="none", zero=1, calib=calib
    )
    ring = pm.llm.estimate(pm.llm.model({**FIELDS, "seq_len": seq}), (system, nodes), cp=cp, **kw)
    # The same GEMMs, norms and logits at cp = 1: a sequence of L = seq / cp tokens (causal L x L attention).
    L = seq / cp
    flat = pm.llm.estimate(
        pm.llm.model({**FIELDS, "seq_len": int(L)}), (system, nodes), cp=1, **{**kw, "dp": dp * cp,
                                                                                 "global_batch": dp * cp}
    )  # fmt: skip
    heads, d = FIELDS["heads"] / tp, FIELDS["hidden"] / FIELDS["heads"]
    kv_width = 2 * FIELDS["kv_heads"] * d
    k = km = 1.0

    # Ring steps: the causal diagonal block, then cp - 1 unmasked blocks, each the slower of L x L/2 and L/2 x L.
    diag_f, diag_b = (_attn(device, heads, L, L, d, True, b) for b in (False, True))
    off_f, off_b = (max(_attn(device, heads, L, L / 2, d, False, b), _attn(device, heads, L / 2, L, d, False, b))
                    for b in (False, True))  # fmt: skip
    # Memory-bound passes: output zeroed and corrected every step, log-sum-exp merged after the first (forward);
    # dQ accumulated (copied at step 0), dK/dV concatenated and accumulated (copied at step 0) (backward).
    out, kv, lse = 2 * L * heads * d, 2 * L * kv_width / tp, L * heads
    corr_f = (
        _mem(device, 0, out) + cp * _mem(device, 2 * out, out) + (cp - 1) * _mem(device, 12 * lse, 8 * lse)
    )
    corr_b = (_mem(device, out, out) + (cp - 1) * _mem(device, 2 * out, out) + cp * _mem(device, kv, kv)
              + _mem(device, kv, kv) + (cp - 1) * _mem(device, 2 * kv, kv))  # fmt: skip
    attn_f = k * (diag_f + (cp - 1) * off_f) + km * corr_f - k * diag_f
    attn_b = k * (diag_b + (cp - 1) * off_b) + km * corr_b - k * diag_b
    assert ring.raw["forward"] - flat.raw["forward"] == pytest.approx(LAYERS * attn_f, rel=1e-9, abs=1e-12)
    assert ring.raw["backward"] - flat.raw["backward"] == pytest.approx(LAYERS * attn_b, rel=1e-9, abs=1e-12)

    # Ring transfers: the K/V block (and, at the backward's middle steps, K/V with dK/dV in one buffer) goes to
    # the next rank while a step computes; what the step does not cover is exposed. The forward's first step uses
    # the rank's own keys.
    one = _sendrecv(system, nodes, kv, cp, tp)
    two = _sendrecv(system, nodes, 2 * kv, cp, tp)
    steps = [k * diag_f, k * off_f, k * off_b, k * diag_b]
    fwd = max(0, one - steps[0]) + (cp - 2) * max(0, one - steps[1])
    bwd = max(0, one - steps[2]) + (cp - 2) * max(0, two - steps[2]) + max(0, one - steps[3])
    assert fwd + bwd > 0  # the sends cross the NICs: some of them are exposed here
    assert ring.raw["cp_comm"] == pytest.approx(LAYERS * (fwd + bwd), rel=1e-9)
    assert flat.raw["cp_comm"] == 0
    # A recomputed attention forward (selective recomputation) runs its ring again.
    sel = pm.llm.estimate(pm.llm.model({**FIELDS, "seq_len": seq}), (system, nodes), cp=cp,
                          **{**kw, "recompute": "selective"})  # fmt: skip
    assert sel.raw["cp_comm"] == pytest.approx(LAYERS * (2 * fwd + bwd), rel=1e-9)

    # The breakdown lists them as send/recv calls over the CP group, with their calls per step.
    cps = [c for c in ring.collectives.iter_rows(named=True) if c["group"] == "cp"]
    assert [c["op"] for c in cps] == ["send_recv"] * (1 if cp == 2 else 2)
    assert cps[0]["bytes"] == pytest.approx(kv) and cps[0]["calls_per_step"] == LAYERS * (cp - 1 + 2)
    if cp > 2:
        assert cps[1]["bytes"] == pytest.approx(2 * kv) and cps[1]["calls_per_step"] == LAYERS * (cp - 2)


def test_cp_ring_steps_carry_one_cp_th_of_the_causal_attention() -> None:
    # Causal load balance (TE gives rank r the chunks r and 2cp - 1 - r): the diagonal step plus cp - 1
    # off-diagonal blocks carry exactly 1/cp of the whole causal attention's FLOPs on every rank.
    device = pm.hwdb.get("dgx-h100")["device"]

    def flops(sq: float, skv: float, causal: bool) -> float:
        return float(pm.roofline.attention(device, 1, 4, sq, 128, causal=causal, seq_kv=skv)["flops"][0])

    whole = flops(SEQ, SEQ, True)
    for cp in (2, 4, 8):
        L = SEQ / cp
        assert flops(L, L, True) + (cp - 1) * flops(L, L / 2, False) == pytest.approx(whole / cp, rel=1e-12)
