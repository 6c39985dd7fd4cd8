"""Model sizing advisor: which dense-transformer shapes run fast on which GPU.

The advisor prices every matrix-unit call of one transformer layer (the QKV projection, the attention core, the
attention output projection, the MLP up(+gate) and down projections) and the output logits on the roofline
engine (``rust/perfmodel-core/src/roofline.rs``: output tiles quantized into waves over the SMs/CUs, a fixed
cost per tile, the unaligned-GEMM penalty, HBM and L2 ceilings), with the shapes the training model uses
(``rust/perfmodel-core/src/llm/step.rs``, ``layer_times``). It says what limits each call and which nearby
shapes run at a higher throughput. The approach follows Anthony et al., "The Case for Co-Designing Model
Architectures with Hardware", ICPP 2024 (arXiv:2401.14489): map each layer to its GEMMs, and pick the hidden
size, head count, FFN width and vocabulary padding that avoid tile and wave quantization and misalignment.

Not priced: the memory-bound kernels of the layer (norms, activation, residual adds; they scale with the hidden
size but do not depend on tiles), communication (tensor parallelism only divides the widths here), and kernel
selection heuristics of a real GEMM library (the engine picks the fastest of its tile shapes).

>>> import perfmodel as pm
>>> s = pm.llm.sizing("llama2-7b", "h100-sxm5-80gb", seq_len=4096)
>>> s.calls["call"].to_list()[:3]
['qkv', 'attention', 'attn_out']
>>> s.best["tflops"] >= s.tflops
True
"""

from __future__ import annotations

import difflib
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from .. import _check, _core, hwdb
from .._display import Result
from ..errors import InvalidArgumentError, UnsupportedError

__all__ = [
    "DEVICES",
    "PARTITIONS",
    "Sizing",
    "sizing",
    "sizing_sweep",
    "sizing_rules",
    "LIMITERS",
]

#: The devices the rules table shows side by side.
DEVICES: tuple[str, ...] = ("mi300x", "mi325x", "h100-sxm5-80gb", "h200-sxm-141gb", "a100-sxm4-80gb")

#: Compute dies a device's CUs sit on, where the vendor documents them (shown in the rules table; the roofline
#: engine counts waves over all compute units and does not model per-die scheduling).
PARTITIONS: dict[str, tuple[int, str]] = {
    "mi300x": (8, "AMD CDNA 3 Instruction Set / 'AMD Instinct MI300 series microarchitecture' (ROCm docs): "
                  "8 XCDs x 38 active CUs = 304 CUs"),
    "mi325x": (8, "AMD ROCm 'GPU specifications': MI325X, 8 XCDs, 304 CUs (same CDNA 3 die as MI300X)"),
}  # fmt: skip

#: What can limit one call, in the order the advisor checks them.
LIMITERS: tuple[str, ...] = ("launch", "memory", "alignment", "wave tail", "tile fit", "none")

#: A call whose modelled time is within this factor of its tile's steady-state rate is limited by "none".
_SLACK = 1.03

_KINDS = ("qkv", "attention", "attn_out", "mlp_up", "mlp_down", "logits")


def _arg_error(name: str, value: Any, expected: str, choices: Iterable[str] = ()) -> InvalidArgumentError:
    close = difflib.get_close_matches(str(value), list(choices), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return InvalidArgumentError(f"argument `{name}`: is {value!r}; expected {expected}{hint}")


def _dtype_error(dtype: str, dev: hwdb.Spec) -> InvalidArgumentError:
    """``dtype`` is not a matrix dtype of ``dev``: the error lists and suggests only the dtypes it has (V100 has no
    bf16: 'fp16', never 'bf16' itself)."""
    names = [
        d for d in ("fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "int8") if dev.peak_tflops(d) is not None
    ]
    return _arg_error("dtype", dtype, f"a matrix dtype of {dev.id} ({', '.join(names)})", names)


def _whole(name: str, value: Any, minimum: int = 1) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.integer))
        or value != int(value)
        or value < minimum
    ):
        raise _arg_error(name, value, f"a whole number >= {minimum}")
    return int(value)


def _device(device: Any) -> hwdb.Spec:
    """The device of ``device``: a device or system id/spec, ``(system, nodes)`` or a cluster."""
    if isinstance(device, str) and device not in hwdb.ids("device") and device not in hwdb.ids("system"):
        raise _arg_error("device", device, f"a device id, one of {hwdb.ids('device')}", hwdb.ids("device"))
    return hwdb.resolve(device, "device", "device")


def _dtype(dtype: Any) -> str:
    """The canonical dtype name (``_check.dtype``: aliases such as 'bfloat16'), with the closest name on a typo."""
    try:
        return _check.dtype("dtype", dtype)
    except InvalidArgumentError:
        raise _arg_error(
            "dtype", dtype, "a dtype name", ["fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "int8"]
        ) from None


def _peak(dev: hwdb.Spec, dtype: str) -> float:
    return float(dev.peak_tflops(dtype) or float("nan"))


# ---- the layer as GEMMs ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Shapes:
    """Columns of dense-transformer shapes (one element per shape)."""

    hidden: np.ndarray
    heads: np.ndarray
    kv_heads: np.ndarray
    head_dim: np.ndarray
    ffn: np.ndarray
    vocab: np.ndarray
    layers: np.ndarray
    glu: bool
    seq_len: int
    micro_batch: int
    tp: int

    def __len__(self) -> int:
        return len(self.hidden)


def _linears(s: _Shapes) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(m, n, k) of each linear's forward GEMM per TP rank, as ``llm/step.rs`` ``layer_times`` prices them: tokens
    x output width / tp x input width (row-major, ``nn.Linear``)."""
    tok = np.full(len(s), float(s.seq_len * s.micro_batch))
    q = s.heads * s.head_dim
    kv = 2.0 * s.kv_heads * s.head_dim
    mats = 3.0 if s.glu else 2.0
    t = float(s.tp)
    return {
        "qkv": (tok, (q + kv) / t, s.hidden),
        "attn_out": (tok, s.hidden, q / t),
        "mlp_up": (tok, (mats - 1.0) * s.ffn / t, s.hidden),
        "mlp_down": (tok, s.hidden, s.ffn / t),
        "logits": (tok, s.vocab / t, s.hidden),
    }


#: The GEMMs of a linear layer's pass: forward (m, n, k); backward data gradient (m, k, n) and weight gradient
#: (k, n, m) (``llm/step.rs`` ``gemm_fdw``).
_PASSES = {"forward": ((0, 1, 2),), "training": ((0, 1, 2), (0, 2, 1), (2, 1, 0))}


def _evaluate(dev: hwdb.Spec, dtype: str, s: _Shapes, training: bool) -> dict[str, dict[str, np.ndarray]]:
    """Per call kind: ``time_s``, ``flops`` and ``bound`` codes summed over the pass's GEMMs (the attention
    forward, and backward when ``training``), one element per shape; one engine call per kernel type."""
    lin = _linears(s)
    passes = _PASSES["training" if training else "forward"]
    names = [n for n in lin]
    ms, ns, ks = [], [], []
    for name in names:
        mnk = lin[name]
        for order in passes:
            ms.append(mnk[order[0]])
            ns.append(mnk[order[1]])
            ks.append(mnk[order[2]])
    m, n, k = (np.concatenate(x).astype(float) for x in (ms, ns, ks))
    time_s, flops, _, _, _, _, _, bound = _core.roofline_gemm(
        dev._handle, dtype, "row", m, n, k, np.ones_like(m), float("nan")
    )
    count = len(s)
    shape = (len(names), len(passes), count)
    time_s, flops, bound = time_s.reshape(shape), flops.reshape(shape), bound.reshape(shape)
    out: dict[str, dict[str, np.ndarray]] = {}
    for i, name in enumerate(names):
        out[name] = {"time_s": time_s[i].sum(axis=0), "flops": flops[i].sum(axis=0), "bound": bound[i, 0]}
    b = np.full(count, float(s.micro_batch))
    seq = np.full(count, float(s.seq_len))
    heads = s.heads / float(s.tp)
    fwd = _core.roofline_attention(
        dev._handle, dtype, "flash", b, heads, seq, seq, s.head_dim, True, False, float("nan")
    )
    at, af, ab = fwd[0], fwd[1], fwd[7]
    if training:
        bwd = _core.roofline_attention(
            dev._handle, dtype, "flash", b, heads, seq, seq, s.head_dim, True, True, float("nan")
        )
        at, af = at + bwd[0], af + bwd[1]
    out["attention"] = {"time_s": at, "flops": af, "bound": ab}
    return out


def _totals(calls: dict[str, dict[str, np.ndarray]], layers: np.ndarray) -> dict[str, np.ndarray]:
    """Layer time, model time (layers x layer + logits) and model FLOPs per shape."""
    layer_t = sum(calls[c]["time_s"] for c in _KINDS if c != "logits")
    layer_f = sum(calls[c]["flops"] for c in _KINDS if c != "logits")
    model_t = layers * layer_t + calls["logits"]["time_s"]
    model_f = layers * layer_f + calls["logits"]["flops"]
    return {
        "layer_time_s": np.asarray(layer_t),
        "layer_flops": np.asarray(layer_f),
        "model_time_s": model_t,
        "model_flops": model_f,
    }


# ---- one model: diagnosis and nearby shapes -------------------------------------------------------------------


def _base_shape(m: Any) -> dict[str, Any]:
    f = m.fields
    if f.get("experts", 0) > 1 or f.get("kv_lora_rank", 0) > 0:
        raise UnsupportedError(
            f"model '{m.name}': the sizing advisor covers dense layers with multi-head or grouped-query attention; "
            "MoE and MLA layers are not supported"
        )
    hidden, heads = int(f["hidden"]), int(f["heads"])
    head_dim = int(f.get("head_dim") or 0) or hidden // heads
    if not f.get("head_dim") and hidden % heads:
        raise InvalidArgumentError(
            f"argument `model`: hidden {hidden} is not a multiple of heads {heads}; give head_dim"
        )
    return {
        "hidden": hidden,
        "heads": heads,
        "kv_heads": int(f.get("kv_heads") or heads),
        "head_dim": head_dim,
        "ffn_hidden": int(f.get("ffn_hidden") or 4 * hidden),
        "vocab": int(f["vocab"]),
        "layers": int(f["layers"]),
        "glu": bool(f.get("glu", 0)),
        "explicit_head_dim": bool(f.get("head_dim")),
    }


def _round(x: float, mult: int) -> int:
    return int(mult * max(1, round(x / mult)))


def _neighbours(base: dict[str, Any], tp: int) -> list[tuple[str, dict[str, Any]]]:
    """Nearby shapes, one dimension changed at a time: hidden size +/- 64..256 and rounded to 128/256/512
    (head_dim kept where it divides the new size, else the heads kept where the new head_dim is a multiple of 8,
    as FlashAttention's kernels want; the FFN width kept in proportion, rounded to 64), head
    counts from half to twice the base with head_dim 32..256, FFN widths rounded to 64..512 and +/- 64..256, and
    the vocabulary padded to 64..256 x tp (Megatron-LM's ``make-vocab-size-divisible-by``, 128 by default)."""
    h, a, d, f, v = base["hidden"], base["heads"], base["head_dim"], base["ffn_hidden"], base["vocab"]
    kv_ratio = base["kv_heads"] / a
    out: list[tuple[str, dict[str, Any]]] = []

    def with_hidden(h2: int) -> dict[str, Any] | None:
        if h2 <= 0 or h2 == h:
            return None
        if base["explicit_head_dim"]:
            heads, hd = a, d
        elif h2 % d == 0:
            heads, hd = h2 // d, d
        elif h2 % a == 0 and (h2 // a) % 8 == 0:
            heads, hd = a, h2 // a
        else:
            return None
        kv = heads * kv_ratio
        if kv != int(kv) or heads % tp or int(kv) % tp:
            return None
        return {
            "hidden": h2,
            "heads": heads,
            "kv_heads": int(kv),
            "head_dim": hd,
            "ffn_hidden": _round(f * h2 / h, 64),
        }

    hs = {h + s * j for s in (64,) for j in (-4, -3, -2, -1, 1, 2, 3, 4)}
    hs |= {m * math.floor(h / m) for m in (128, 256, 512)} | {m * math.ceil(h / m) for m in (128, 256, 512)}
    for h2 in sorted(hs):
        c = with_hidden(h2)
        if c:
            out.append(("hidden", c))
    for a2 in range(max(1, a // 2), 2 * a + 1):
        if a2 == a or h % a2 or base["explicit_head_dim"]:
            continue
        hd = h // a2
        kv = a2 * kv_ratio
        if not 32 <= hd <= 256 or hd % 8 or kv != int(kv) or a2 % tp or int(kv) % tp:
            continue
        out.append(("heads", {"heads": a2, "kv_heads": int(kv), "head_dim": hd}))
    fs = {f + s * j for s in (64,) for j in (-4, -2, -1, 1, 2, 4)}
    fs |= {m * math.floor(f / m) for m in (64, 128, 256, 512)} | {
        m * math.ceil(f / m) for m in (64, 128, 256, 512)
    }
    for f2 in sorted(fs):
        if f2 > 0 and f2 != f and f2 % tp == 0:
            out.append(("ffn", {"ffn_hidden": f2}))
    for mult in (64, 128, 256):
        v2 = mult * tp * math.ceil(v / (mult * tp))
        if v2 != v and all(c[1].get("vocab") != v2 for c in out):
            out.append(("vocab", {"vocab": v2}))
    return out


def _shapes(rows: Sequence[dict[str, Any]], glu: bool, seq_len: int, micro_batch: int, tp: int) -> _Shapes:
    col = {
        k: np.array([float(r[k]) for r in rows])
        for k in ("hidden", "heads", "kv_heads", "head_dim", "ffn_hidden", "vocab", "layers")
    }
    return _Shapes(
        hidden=col["hidden"], heads=col["heads"], kv_heads=col["kv_heads"], head_dim=col["head_dim"], ffn=col["ffn_hidden"],
        vocab=col["vocab"], layers=col["layers"], glu=glu, seq_len=seq_len, micro_batch=micro_batch, tp=tp,
    )  # fmt: skip


def _limiter(bound: str, aligned: bool, unaligned_loss: float, wave_loss: float, tile_loss: float) -> str:
    """The largest of a call's losses against its tile's steady-state rate (``LIMITERS``)."""
    if bound == "launch":
        return "launch"
    if bound in ("hbm", "l2"):
        return "memory"
    losses = {"alignment": 1.0 if aligned else unaligned_loss, "wave tail": wave_loss, "tile fit": tile_loss}
    name, worst = max(losses.items(), key=lambda kv: kv[1])
    return name if worst > _SLACK else "none"


@dataclass(frozen=True)
class Sizing(Result):
    """The advisor's answer for one model on one device (:func:`sizing`). Times are seconds; TFLOP/s are 10^12
    FLOP/s.

    Attributes
    ----------
    model, device, dtype : str
        The model name, device id and GEMM dtype.
    tp, seq_len, micro_batch : int
        Tensor-parallel degree, tokens per sequence, sequences per micro-batch.
    training : bool
        Forward + backward priced (else forward only).
    calls : polars.DataFrame
        One row per call of a layer (and the logits, once per model): ``call``, ``per`` (layer or model), its
        GEMM shape per TP rank (``m``, ``n``, ``k`` of the forward, ``batch``), ``tile`` (the engine's),
        ``tiles``, ``waves`` (whole waves of tiles over the units, or on a stream-K device (hwdb
        ``compute.gemm_tile_scheduler``, Hopper) the fractional waves its K-split schedule takes),
        ``wave_utilization`` (tiles / (waves x units)), ``tile_fill`` (useful outputs /
        tile area), ``aligned``, ``time_s`` (forward, or forward + backward with ``training``), ``flops``,
        ``tflops`` (attained), ``fraction_of_peak`` (of the dense peak for the dtype), ``bound`` and
        ``limiter`` (one of :data:`LIMITERS`).
    layer_time_s, model_time_s : float
        One layer's time and the model's (layers x layer + logits), seconds.
    tflops : float
        Model FLOPs over model time, TFLOP/s.
    alternatives : polars.DataFrame
        Nearby shapes (one dimension changed; ``combined`` joins the best of each), best first: ``change``,
        ``hidden``, ``heads``, ``kv_heads``, ``head_dim``, ``ffn_hidden``, ``vocab`` (each with a
        ``*_changed`` flag), ``params``, ``params_relative``, ``layer_time_s``, ``model_time_s`` (s),
        ``tflops`` (TFLOP/s), ``fraction_of_peak`` and ``relative`` (to this model's TFLOP/s).
    best : dict
        The fastest shape (by model TFLOP/s) among the model itself and its alternatives.
    speedup : float
        Model TFLOP/s of the best nearby shape over this model's.

    Examples
    --------
    >>> import perfmodel as pm
    >>> s = pm.llm.sizing("llama2-7b", "h100-sxm5-80gb", seq_len=4096)
    >>> s.calls["call"].to_list()
    ['qkv', 'attention', 'attn_out', 'mlp_up_gate', 'mlp_down', 'logits']
    >>> f"{s.tflops:.0f} TFLOP/s", s.best["change"], f"{s.speedup - 1:+.1%}"
    ('612 TFLOP/s', 'hidden', '+1.7%')
    """

    model: str
    device: str
    dtype: str
    tp: int
    seq_len: int
    micro_batch: int
    training: bool
    calls: pl.DataFrame
    layer_time_s: float
    model_time_s: float
    tflops: float
    alternatives: pl.DataFrame

    @property
    def best(self) -> dict[str, Any]:
        """The fastest shape (by model TFLOP/s) among the model itself and its alternatives."""
        return self.alternatives.row(0, named=True)

    @property
    def speedup(self) -> float:
        """Model TFLOP/s of the best nearby shape over this model's."""
        return float(self.best["tflops"] / self.tflops)

    def __repr__(self) -> str:
        b = self.best
        change = ", ".join(
            f"{k}={b[k]}" for k in ("hidden", "heads", "head_dim", "ffn_hidden", "vocab") if b[f"{k}_changed"]
        )
        return (
            f"Sizing({self.model!r} on {self.device}, {self.dtype}, tp={self.tp}, {self.micro_batch}x{self.seq_len} tokens, "
            f"{'training' if self.training else 'forward'}: layer {self.layer_time_s * 1e3:.3f} ms, model {self.tflops:.0f} TFLOP/s; "
            f"best nearby: {change or 'this shape'} at {b['tflops']:.0f} TFLOP/s ({self.speedup - 1.0:+.1%}))"
        )


def sizing(
    model: Any,
    device: hwdb.Spec | str,
    *,
    dtype: str = "bf16",
    tp: int = 1,
    seq_len: int | None = None,
    micro_batch: int = 1,
    training: bool = True,
) -> Sizing:
    """Every matrix-unit call of one layer of ``model`` on ``device``, what limits it, and nearby shapes that
    run faster.

    Parameters
    ----------
    model : str, dict or Model
        A preset id, a dict of fields or a :class:`perfmodel.llm.Model` (dense; MHA or GQA).
    device : str, Spec, tuple or Cluster
        A hwdb device id or spec (or a system: the device its nodes hold).
    dtype : str
        The GEMM dtype (``"bf16"`` default, ``"fp16"``, ``"fp8"``, ...: a matrix dtype of the device).
    tp : int
        Tensor-parallel degree: the column- and row-parallel widths are divided by it (Megatron-LM); default
        1.
    seq_len : int, optional
        Tokens per sequence (default: the model's ``seq_len``).
    micro_batch : int
        Sequences per micro-batch; the GEMMs see ``micro_batch x seq_len`` rows (default 1).
    training : bool
        Price forward + backward (data- and weight-gradient GEMMs, attention backward; default), else forward
        only.

    Returns
    -------
    Sizing
        ``calls`` (one row per call: shape, time in s, TFLOP/s, limiter), ``layer_time_s`` and
        ``model_time_s`` (s), ``tflops`` (TFLOP/s), ``alternatives`` (nearby shapes, best first), ``best`` and
        ``speedup``.

    Raises
    ------
    perfmodel.InvalidArgumentError
        A dtype the device has no matrix peak for, or a ``tp`` that does not divide the heads, KV heads or FFN
        width.

    Notes
    -----
    Time per call from the roofline engine (time = smooth max of compute and memory + launch; compute = waves
    x (k x seconds per k of the tile + tile overhead); Williams et al. 2009, CACM 52(4); tile and wave
    quantization as in NVIDIA's "Matrix Multiplication Background User's Guide"); shapes as the training model
    prices them. Model time = layers x layer time + logits. Alternatives are ranked by model TFLOP/s.

    Examples
    --------
    >>> import perfmodel as pm
    >>> s = pm.llm.sizing("llama2-7b", "h100-sxm5-80gb", seq_len=4096)
    >>> s.calls.filter(s.calls["call"] == "qkv").select("m", "n", "k", "limiter").row(0)
    (4096, 12288, 4096, 'wave tail')
    >>> f"layer {s.layer_time_s * 1e3:.2f} ms", f"{s.tflops:.0f} TFLOP/s"
    ('layer 8.94 ms', '612 TFLOP/s')
    """
    from . import model as make_model

    m = make_model(model) if not hasattr(model, "fields") else model
    dev = _device(device)
    tp = _check.whole("tp", tp)
    micro_batch = _check.whole("micro_batch", micro_batch)
    seq = _check.whole("seq_len", seq_len) if seq_len is not None else _whole("seq_len", m.fields["seq_len"])
    training = _check.flag("training", training)
    dtype = _dtype(dtype)
    if dev.peak_tflops(dtype) is None:
        raise _dtype_error(dtype, dev)
    base = _base_shape(m)
    for name, v in (
        ("heads", base["heads"]),
        ("kv_heads", base["kv_heads"]),
        ("ffn_hidden", base["ffn_hidden"]),
    ):
        if v % tp:
            raise InvalidArgumentError(
                f"argument `tp`: is {tp}; the model's {name} ({v}) is not a multiple of it"
            )

    cands: list[tuple[str, dict[str, Any]]] = [("model", {})] + _neighbours(base, tp)
    rows = [{**base, **c} for _, c in cands]
    s = _shapes(rows, base["glu"], seq, micro_batch, tp)
    res = _evaluate(dev, dtype, s, training)
    tot = _totals(res, s.layers)
    peak = _peak(dev, dtype)

    # Pick the best of each kind, then join them (the "combined" candidate).
    tflops = tot["model_flops"] / tot["model_time_s"] / 1e12
    kinds = [k for k, _ in cands]
    combined: dict[str, Any] = {}
    for kind in ("hidden", "heads", "ffn", "vocab"):
        idx = [i for i, k in enumerate(kinds) if k == kind]
        if idx:
            i = max(idx, key=lambda j: tflops[j])
            if tflops[i] > tflops[0]:
                combined.update(cands[i][1])
    if "hidden" in combined and "ffn_hidden" in combined:
        del combined["ffn_hidden"]  # the hidden candidate already carries its proportional FFN width
    if "hidden" in combined and "heads" in combined:
        for k in ("heads", "kv_heads", "head_dim"):
            combined.pop(k, None)
    if len([k for k in ("hidden", "heads", "ffn_hidden", "vocab") if k in combined]) > 1:
        cands.append(("combined", combined))
        rows.append({**base, **combined})
        s = _shapes(rows, base["glu"], seq, micro_batch, tp)
        res = _evaluate(dev, dtype, s, training)
        tot = _totals(res, s.layers)
        tflops = tot["model_flops"] / tot["model_time_s"] / 1e12

    params = [make_model({**m.fields, **{k: r[k] for k in ("hidden", "heads", "kv_heads", "ffn_hidden", "vocab")},
                           **({"head_dim": r["head_dim"]} if base["explicit_head_dim"] or r["head_dim"] * r["heads"] != r["hidden"] else {})}).params
              for r in rows]  # fmt: skip
    alt_cols: dict[str, Any] = {"change": [k for k, _ in cands]}
    for key in ("hidden", "heads", "kv_heads", "head_dim", "ffn_hidden", "vocab"):
        alt_cols[key] = [int(r[key]) for r in rows]
        alt_cols[f"{key}_changed"] = [int(r[key]) != int(base[key]) for r in rows]
    alt_cols.update(
        params=params,
        params_relative=[p / params[0] for p in params],
        layer_time_s=tot["layer_time_s"],
        model_time_s=tot["model_time_s"],
        tflops=tflops,
        fraction_of_peak=tflops / peak,
        relative=tflops / tflops[0],
    )
    alternatives = pl.DataFrame(alt_cols).sort("tflops", descending=True, maintain_order=True)

    calls = _diagnose(dev, dtype, s, res, base, training)
    return Sizing(
        model=m.name, device=dev.id, dtype=dtype, tp=tp, seq_len=seq, micro_batch=micro_batch, training=training,
        calls=calls, layer_time_s=float(tot["layer_time_s"][0]), model_time_s=float(tot["model_time_s"][0]),
        tflops=float(tflops[0]), alternatives=alternatives,
    )  # fmt: skip


def _diagnose(
    dev: hwdb.Spec,
    dtype: str,
    s: _Shapes,
    res: dict[str, dict[str, np.ndarray]],
    base: dict[str, Any],
    training: bool,
) -> pl.DataFrame:
    """The calls of the model's own shape (element 0 of ``s``) with the engine's schedule of each forward GEMM."""
    lin = _linears(s)
    names = ["qkv", "attn_out", "mlp_up", "mlp_down", "logits"]
    m = np.array([lin[c][0][0] for c in names])
    n = np.array([lin[c][1][0] for c in names])
    k = np.array([lin[c][2][0] for c in names])
    tile_m, tile_n, tiles, waves, units, aligned, _, _ = _core.roofline_gemm_schedule(
        dev._handle, dtype, "row", m, n, k, np.ones_like(m)
    )
    unaligned_loss = 1.0 / float(dev.get("efficiency.unaligned_gemm_fraction") or 1.0)
    bounds = _core.bound_names()
    peak = _peak(dev, dtype)
    per_model = {"logits"}
    rows = []
    label = {"mlp_up": "mlp_up_gate" if base["glu"] else "mlp_up"}
    for c in _KINDS:
        r = res[c]
        t, fl, bd = float(r["time_s"][0]), float(r["flops"][0]), bounds[int(r["bound"][0])]
        row: dict[str, Any] = {"call": label.get(c, c), "per": "model" if c in per_model else "layer"}
        if c == "attention":
            row.update(m=s.seq_len * s.micro_batch, n=None, k=int(s.head_dim[0]), batch=int(s.heads[0] // s.tp),
                       tile=None, tiles=None, waves=None, wave_utilization=None, tile_fill=None, aligned=None)  # fmt: skip
            lim = "memory" if bd in ("hbm", "l2") else ("launch" if bd == "launch" else "none")
        else:
            i = names.index(c)
            wave_util = tiles[i] / (waves[i] * units[i])
            fill = m[i] * n[i] / (tiles[i] * tile_m[i] * tile_n[i])
            row.update(m=int(m[i]), n=int(n[i]), k=int(k[i]), batch=1, tile=f"{int(tile_m[i])}x{int(tile_n[i])}",
                       tiles=int(tiles[i]), waves=float(waves[i]), wave_utilization=float(wave_util),
                       tile_fill=float(fill), aligned=bool(aligned[i]))  # fmt: skip
            lim = _limiter(bd, bool(aligned[i]), unaligned_loss, 1.0 / wave_util, 1.0 / fill)
        row.update(
            time_s=t,
            flops=fl,
            tflops=fl / t / 1e12,
            fraction_of_peak=fl / t / 1e12 / peak,
            bound=bd,
            limiter=lim,
        )
        rows.append(row)
    schema = {
        "call": pl.String, "per": pl.String, "m": pl.Int64, "n": pl.Int64, "k": pl.Int64, "batch": pl.Int64,
        "tile": pl.String, "tiles": pl.Int64, "waves": pl.Float64, "wave_utilization": pl.Float64, "tile_fill": pl.Float64,
        "aligned": pl.Boolean, "time_s": pl.Float64, "flops": pl.Float64, "tflops": pl.Float64,
        "fraction_of_peak": pl.Float64, "bound": pl.String, "limiter": pl.String,
    }  # fmt: skip
    return pl.DataFrame(rows, schema=schema)


# ---- sweeps --------------------------------------------------------------------------------------------------


def _as_list(name: str, value: Any, whole: bool = True) -> list[Any]:
    vals = list(np.atleast_1d(np.asarray(value)).ravel().tolist())
    if not vals:
        raise _arg_error(name, value, "at least one value")
    for v in vals:
        if whole:
            _whole(name, v)
        elif not (isinstance(v, (int, float)) and v > 0 and math.isfinite(v)):
            raise _arg_error(name, v, "a number > 0")
    return vals


def sizing_sweep(
    devices: Sequence[hwdb.Spec | str] | hwdb.Spec | str = DEVICES,
    *,
    hidden: Any,
    heads: Any = None,
    head_dim: Any = None,
    ffn_multiplier: Any = 4.0,
    ffn_multiple: int = 1,
    vocab: int = 50257,
    vocab_multiple: Any = 1,
    kv_heads: int | None = None,
    glu: bool = False,
    layers: int = 32,
    seq_len: int = 2048,
    micro_batch: int = 4,
    tp: int = 1,
    dtype: str = "bf16",
    training: bool = False,
) -> pl.DataFrame:
    """Predicted throughput of every shape of a grid on each device, ranked per device.

    The grid is hidden x (heads or head_dim) x ffn_multiplier x vocab_multiple. With ``heads``, head_dim =
    hidden / heads (shapes where it is not whole are left out); with ``head_dim``, heads = hidden / head_dim;
    neither: head_dim 128. The defaults (2,048 tokens x micro-batch 4, vocabulary 50,257, forward pass) are
    the transformer benchmark settings of Anthony et al. 2024 (EleutherAI cookbook
    ``benchmarks/sizing/transformer_flops.py``).

    Parameters
    ----------
    devices : str, Spec or sequence of them
        Device ids or specs (default :data:`DEVICES`).
    hidden : int or sequence of int
        Hidden sizes, elements (keyword, required).
    heads : int or sequence of int, optional
        Attention head counts (give this or ``head_dim``, not both).
    head_dim : int or sequence of int, optional
        Elements per head.
    ffn_multiplier : float or sequence of float
        ffn_hidden = ffn_multiplier x hidden rounded up to ``ffn_multiple`` (default 4.0).
    ffn_multiple : int
        The FFN width's rounding multiple, elements (default 1).
    vocab : int
        Vocabulary size, tokens (default 50,257).
    vocab_multiple : int or sequence of int
        The vocabulary is padded up to each ``vocab_multiple`` x tp (default 1: unpadded).
    kv_heads : int, optional
        KV heads (GQA; default: heads).
    glu : bool
        Gated MLP (SwiGLU: up and gate projections; default False).
    layers : int
        Transformer layers (default 32).
    seq_len : int
        Tokens per sequence (default 2,048).
    micro_batch : int
        Sequences per micro-batch (default 4).
    tp : int
        Tensor-parallel degree (default 1).
    dtype : str
        GEMM dtype (default ``"bf16"``).
    training : bool
        Price forward + backward (default False: forward only).

    Returns
    -------
    polars.DataFrame
        One row per device and shape: ``device``, ``hidden``, ``heads``, ``head_dim``, ``kv_heads``,
        ``ffn_hidden``, ``vocab``, ``layer_time_s``, ``model_time_s`` (layers x layer + logits, seconds),
        ``tflops`` (model FLOPs / model time, 10^12 FLOP/s), ``fraction_of_peak``, ``relative`` (tflops / the
        device's best) and ``rank`` (1 = highest tflops on the device).

    Raises
    ------
    perfmodel.InvalidArgumentError
        Both ``heads`` and ``head_dim``, no shape with a whole head_dim, or a dtype a device cannot run.

    Examples
    --------
    >>> import perfmodel as pm
    >>> df = pm.llm.sizing_sweep(["h100-sxm5-80gb"], hidden=4096, heads=32, vocab_multiple=[1, 64])
    >>> df.sort("rank")["vocab"].to_list()  # the padded vocabulary avoids the unaligned logits GEMM
    [50304, 50257]
    """
    devs = [_device(d) for d in ([devices] if isinstance(devices, (str, hwdb.Spec)) else devices)]
    if not devs:
        raise _arg_error("devices", devices, "at least one device id")
    hs = _as_list("hidden", hidden)
    if heads is not None and head_dim is not None:
        raise InvalidArgumentError(
            "arguments `heads` and `head_dim`: give one of them (the other follows from hidden)"
        )
    mults = _as_list("ffn_multiplier", ffn_multiplier, whole=False)
    vms = _as_list("vocab_multiple", vocab_multiple)
    tp = _check.whole("tp", tp)
    fm = _check.whole("ffn_multiple", ffn_multiple)
    vocab = _check.whole("vocab", vocab)
    training = _check.flag("training", training)
    glu = _check.flag("glu", glu)
    dtype = _dtype(dtype)
    rows: dict[str, list[float]] = {
        k: [] for k in ("hidden", "heads", "kv_heads", "head_dim", "ffn_hidden", "vocab")
    }
    second = (
        _as_list("heads", heads)
        if heads is not None
        else _as_list("head_dim", head_dim if head_dim is not None else 128)
    )
    for h, x, mult, vm in itertools.product(hs, second, mults, vms):
        if heads is not None:
            a, rem = divmod(h, x)
            a, d = x, a
        else:
            a, rem = divmod(h, x)
            d = x
        if rem or a == 0:
            continue
        kv = a if kv_heads is None else min(_check.whole("kv_heads", kv_heads), a)
        f = fm * math.ceil(mult * h / fm)
        v = vm * tp * math.ceil(vocab / (vm * tp))
        if a % tp or kv % tp or f % tp:
            continue
        for key, val in zip(rows, (h, a, kv, d, f, v), strict=True):
            rows[key].append(float(val))
    if not rows["hidden"]:
        raise InvalidArgumentError(
            "arguments `hidden`/`heads`/`head_dim`: no shape of the grid has a whole head_dim"
        )
    count = len(rows["hidden"])
    s = _Shapes(
        hidden=np.array(rows["hidden"]), heads=np.array(rows["heads"]), kv_heads=np.array(rows["kv_heads"]),
        head_dim=np.array(rows["head_dim"]), ffn=np.array(rows["ffn_hidden"]), vocab=np.array(rows["vocab"]),
        layers=np.full(count, float(_check.whole("layers", layers))), glu=glu, seq_len=_check.whole("seq_len", seq_len),
        micro_batch=_check.whole("micro_batch", micro_batch), tp=tp,
    )  # fmt: skip
    frames = []
    for dev in devs:
        if dev.peak_tflops(dtype) is None:
            raise _dtype_error(dtype, dev)
        tot = _totals(_evaluate(dev, dtype, s, training), s.layers)
        tf = tot["model_flops"] / tot["model_time_s"] / 1e12
        data: dict[str, Any] = {"device": pl.Series([dev.id] * count)}
        data.update({k: np.asarray(v, dtype=np.int64) for k, v in rows.items()})
        data.update(layer_time_s=tot["layer_time_s"], model_time_s=tot["model_time_s"], tflops=tf,
                    fraction_of_peak=tf / _peak(dev, dtype), relative=tf / tf.max())  # fmt: skip
        frames.append(pl.DataFrame(data))
    df = pl.concat(frames)
    return df.with_columns(
        rank=pl.col("tflops").rank("ordinal", descending=True).over("device").cast(pl.Int64)
    )


# ---- rules -----------------------------------------------------------------------------------------------------


def sizing_rules(
    devices: Sequence[hwdb.Spec | str] = DEVICES,
    *,
    dtype: str = "bf16",
    seq_len: int = 2048,
    micro_batch: int = 4,
    tp: int = 1,
) -> pl.DataFrame:
    """Sizing rules per device, derived from the roofline model, one row per device (side by side).

    Parameters
    ----------
    devices : sequence of str or Spec
        Device ids or specs (default :data:`DEVICES`).
    dtype : str
        GEMM dtype (default ``"bf16"``).
    seq_len : int
        Tokens per sequence (default 2,048).
    micro_batch : int
        Sequences per micro-batch (default 4).
    tp : int
        Tensor-parallel degree (default 1).

    Returns
    -------
    polars.DataFrame
        One row per device: ``device``, ``units`` (SMs/CUs a wave fills) and ``unit_name``, ``partitions``
        (XCDs where documented, see :data:`PARTITIONS`), ``align_elements`` (the smallest leading dimension
        the engine runs aligned: 16 bytes / element size), ``tile`` (the engine's tile for a large GEMM),
        ``rel_at_64`` / ``rel_at_128`` / ``rel_at_256`` / ``rel_at_512`` (mean throughput, relative to the
        best hidden size within +/- 256, of hidden sizes that are multiples of 64 / 128 / 256 / 512, forward
        layer sweep 2,048..16,384 step 64 with head_dim 64 or 128 and FFN 4h), ``min_rel_at_64`` /
        ``min_rel_at_128`` (the worst such hidden size: the depth of the saw-tooth), ``hidden_multiple`` (the
        smallest of those multiples within 2% of the best multiple's mean), ``best_head_dim`` (of 64, 80, 96,
        128, 160, 256 at hidden 4,096 by attention TFLOP/s), ``vocab_multiple`` (the smallest of 8, 64, 128,
        256 whose padding of 50,257 reaches 99% of the best logits throughput), ``waves_h4096`` and
        ``wave_utilization_h4096`` (the MLP up-projection at hidden 4,096: a worked example of wave
        quantization). Relative figures are fractions.

    Examples
    --------
    >>> import perfmodel as pm
    >>> r = pm.llm.sizing_rules(["h100-sxm5-80gb"]).row(0, named=True)
    >>> r["units"], r["align_elements"], r["tile"], r["waves_h4096"]
    (132, 8, '256x128', 31.03125)
    """
    dtype = _dtype(dtype)
    tp = _check.whole("tp", tp)
    out = []
    grid = np.arange(2048, 16384 + 1, 64)
    for d in devices:
        dev = _device(d)
        sw = sizing_sweep([dev], hidden=grid.tolist(), head_dim=[64, 128], seq_len=seq_len, micro_batch=micro_batch,
                          tp=tp, dtype=dtype)  # fmt: skip
        # One head_dim per hidden: 128 where it divides, else 64.
        sw = sw.filter((pl.col("head_dim") == 128) | (pl.col("hidden") % 128 != 0)).sort("hidden")
        h = sw["hidden"].to_numpy()
        tf = sw["tflops"].to_numpy()
        local = np.array([tf[(h >= x - 256) & (h <= x + 256)].max() for x in h])
        rel = tf / local
        row: dict[str, Any] = {"device": dev.id, "units": int(dev["compute.units_count"]),
                               "unit_name": str(dev.get("compute.unit_name") or "SM"),
                               "partitions": PARTITIONS.get(dev.id, (None, ""))[0]}  # fmt: skip
        a = np.arange(1, 65, dtype=float)
        sched = _core.roofline_gemm_schedule(
            dev._handle, dtype, "row", np.full(64, 4096.0), a, a, np.ones(64)
        )
        row["align_elements"] = int(a[np.argmax(sched[5] == 1)])
        big = _core.roofline_gemm_schedule(
            dev._handle, dtype, "row", np.array([8192.0]), np.array([16384.0]), np.array([4096.0]), np.ones(1)
        )
        row["tile"] = f"{int(big[0][0])}x{int(big[1][0])}"
        means = {}
        for mlt in (64, 128, 256, 512):
            means[mlt] = float(rel[h % mlt == 0].mean())
            row[f"rel_at_{mlt}"] = means[mlt]
        row["min_rel_at_64"] = float(rel.min())
        row["min_rel_at_128"] = float(rel[h % 128 == 0].min())
        row["hidden_multiple"] = next(
            mlt for mlt in (64, 128, 256, 512) if means[mlt] >= 0.98 * max(means.values())
        )
        hd = np.array([64.0, 80.0, 96.0, 128.0, 160.0, 256.0])
        tok = float(seq_len)
        att = _core.roofline_attention(dev._handle, dtype, "flash", np.full(6, float(micro_batch)), 4096.0 / hd,
                                       np.full(6, tok), np.full(6, tok), hd, True, False, float("nan"))  # fmt: skip
        row["best_head_dim"] = int(hd[np.argmax(att[1] / att[0])])
        vm = np.array([8.0, 64.0, 128.0, 256.0])
        vp = vm * tp * np.ceil(50257 / (vm * tp))
        n_tok = float(seq_len * micro_batch)
        lg = _core.roofline_gemm(
            dev._handle,
            dtype,
            "row",
            np.full(4, n_tok),
            vp / tp,
            np.full(4, 4096.0),
            np.ones(4),
            float("nan"),
        )
        lt = lg[1] / lg[0]
        row["vocab_multiple"] = int(vm[np.argmax(lt >= 0.99 * lt.max())])
        up = _core.roofline_gemm_schedule(
            dev._handle,
            dtype,
            "row",
            np.array([n_tok]),
            np.array([4.0 * 4096 / tp]),
            np.array([4096.0]),
            np.ones(1),
        )
        row["waves_h4096"] = float(up[3][0])
        row["wave_utilization_h4096"] = float(up[2][0] / (up[3][0] * up[4][0]))
        out.append(row)
    return pl.DataFrame(out)
