"""Measures what FP8 training costs on top of its GEMMs, on the local NVIDIA GPU with PyTorch: the fp8 GEMMs of
the linear layers (forward, dgrad, wgrad) against bf16, the memory-bound FP8 overhead kernels (cast with scale,
amax, transpose), the delayed-scaling amax-history / scale update, and, where Transformer Engine is installed,
``te.Linear`` forward and forward+backward with fp8 against bf16. For the validation data
(``python/perfmodel/data/measured_gpu.csv`` via ``tools/import_fp8_measurements.py``); not run by tests or CI.

Shapes (nn.Linear layout, ``y = x W^T``, x ``[tokens, in]``, W ``[out, in]``):
- GPT-3 175B (h 12288, ffn 4h), TP 4, micro-batch 1 x seq 2048: QKV 12288 -> 9216, proj 3072 -> 12288,
  MLP up 12288 -> 12288, MLP down 12288 -> 12288 (the TP-4 shards);
- Llama-2-70B (h 8192, 64 heads of 128, GQA 8 KV heads, SwiGLU ffn 28672 with gate and up in one GEMM),
  TP 4 and TP 8, micro-batch 1 x seq 4096: QKV 8192 -> 10240/tp, proj 8192/tp -> 8192, gate+up
  8192 -> 57344/tp, down 28672/tp -> 8192;
- square m = n = k = 2048, 4096, 8192 (forward only, as ``tools/measure_gpu.py`` times fp8).
Each linear layer has three GEMMs: forward ``y = x W^T`` (m = tokens, n = out, k = in), dgrad ``dx = dy W``
(m = tokens, n = in, k = out) and wgrad ``dW = dy^T x`` (m = out, n = in, k = tokens).

What is timed:
- ``fp8_gemm``: bf16 ``torch.matmul`` in the layout autograd issues (forward x @ W.t(), dgrad dy @ W, wgrad
  dy.t() @ x) and fp8 ``torch._scaled_mm`` with per-tensor scales and bf16 output, e4m3 x e4m3 forward and
  e5m2 (gradient) x e4m3 for dgrad and wgrad (falls back to e4m3 x e4m3 where the mix is refused), with and
  without fast accumulation (Transformer Engine: fast for the forward, split accumulator for dgrad / wgrad).
  ``_scaled_mm`` needs a row-major first and a column-major second operand, so dgrad uses the transposed
  weight W^T and wgrad the transposed gradient dy^T and transposed input x^T, made by the transposes timed below;
- ``fp8_cast`` (bf16 -> fp8): ``(x * scale).to(fp8)`` as eager PyTorch runs it (two kernels) and the bare
  ``x.to(fp8)``; ``fp8_amax``: ``x.abs().amax()`` (eager: two kernels) and the one-kernel
  ``torch.linalg.vector_norm(x, inf)``; ``fp8_transpose``: ``x8.t().contiguous()`` of an fp8 tensor; for each
  activation (x, e4m3), gradient (dy, e5m2) and weight (W, e4m3) of the layers above;
- ``fp8_fused`` (optional): ``torch.compile`` of cast+amax and cast+transpose+amax (what Transformer Engine
  fuses), skipped when a probe compile takes over 30 s, and stopped when compiling has used 30 s;
- ``fp8_scale_update``: the delayed-scaling update (write the step's amax into the history, max over the
  history, roll it, new scale and inverse scale) on histories of 1024 and 16 steps x 3 / 12 / 1152 tensors
  (one linear's forward tensors, a layer's, 96 layers'), eager and compiled; launch-bound;
- ``fp8_linear``: a whole linear layer's training GEMMs in plain PyTorch in one CUDA graph: bf16 (three
  matmuls) against fp8 (amax + scaled cast of x, W and dy, the three transposes, three ``_scaled_mm``), and fp8
  with the weight cast and transpose left out (a cached fp8 weight, later micro-batches);
- ``te_linear`` (if ``transformer_engine`` imports): ``te.Linear`` (bias-free, bf16 params) forward and
  forward+backward (input and weight gradients) in bf16 and with ``fp8_autocast`` around each call:
  DelayedScaling (HYBRID, history 1024, max), DelayedScaling with the fp8 weight cached
  (``is_first_microbatch=False``), and Float8CurrentScaling where this Transformer Engine has it; eager timing,
  so small layers may show host (Python) time rather than GPU time. The kernels of one forward+backward are
  counted with the profiler for one layer.

Method (as ``tools/measure_gpu.py``): random-normal inputs; each operation is warmed up, then captured
``inner`` times into one CUDA graph (``inner`` chosen so a replay lasts about 20 ms, at most 2000) and the
graph replayed 7 times between CUDA events; the value is the median replay time divided by ``inner``: GPU
seconds per call with back-to-back launches. Autograd (te.Linear) is timed eagerly the same way (7 timed
repetitions of ``inner`` calls). Inputs smaller than the 50 MB L2 stay in it between back-to-back calls; the
records carry the bytes so that this can be seen. Every measurement is guarded: a failure is recorded as an
``error`` record and the run goes on. Sections that would start after ``--deadline`` seconds (default 200) are
skipped, so the run fits in 4 minutes.

Output in ``$OUT`` (default ``./out``; ``--out DIR`` overrides): ``fp8_measurements.jsonl`` (one JSON object per
measurement, written as it is taken) and ``fp8_env.json`` (GPU, driver, clocks and power before and after each
section, torch / CUDA / cuBLAS / cuDNN / Triton / Transformer Engine versions, date). Every record is also
printed as one JSON line, section progress as lines starting with ``#``.

    OUT=/some/dir python tools/measure_fp8.py [--sections gemm,cast,scale,te,linear,compile] [--deadline 200]
                                              [--compile-budget 30]
    python tools/measure_fp8.py --check    # no GPU: shapes / 16 on the CPU, one call each, results verified

About 400 timings; expected to take 2-3 minutes on an H100/H200 (estimate, not yet run on one). ``--check`` ran
every section (Transformer Engine through a stand-in module) with torch 2.11.0+cu130 on the CPU; it checks the
operand layouts and that each GEMM, transpose, amax and compiled kernel computes what it is named for.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path

import torch

TARGET_S = 0.02
REPEATS = 7
MAX_INNER = 2000
MAX_INNER_EAGER = 400
COMPILE_BUDGET_S = 30.0  # --compile-budget
SECTIONS = ("gemm", "cast", "scale", "te", "linear", "compile")

E4M3 = torch.float8_e4m3fn
E5M2 = torch.float8_e5m2
FP8_NAME = {E4M3: "e4m3", E5M2: "e5m2"}
FP8_MAX = {E4M3: 448.0, E5M2: 57344.0}


class Run:
    """State of one run: device, check mode, output file, start time and deadline."""

    def __init__(self, out: Path, check: bool, deadline_s: float) -> None:
        self.out = out
        self.check = check
        self.dev = "cpu" if check else "cuda"
        self.t0 = time.time()
        self.deadline_s = deadline_s
        self.jsonl = out / "fp8_measurements.jsonl"
        self.jsonl.write_text("")
        self.compile_used_s = 0.0
        self.compile_ok: bool | None = None
        self.n_records = 0
        self.n_errors = 0

    def elapsed(self) -> float:
        return time.time() - self.t0

    def late(self) -> bool:
        return self.elapsed() > self.deadline_s

    def record(self, **kw) -> None:
        self.n_records += 1
        self.n_errors += "error" in kw
        line = json.dumps(kw)
        with self.jsonl.open("a") as f:
            f.write(line + "\n")
        print(line, flush=True)

    def progress(self, msg: str) -> None:
        print(f"# [{self.elapsed():6.1f} s] {msg}", flush=True)


R: Run  # set in main()


# ---- timing -----------------------------------------------------------------------------------------------------


def _sync() -> None:
    if R.dev == "cuda":
        torch.cuda.synchronize()


def _eager_estimate(fn) -> float:
    for _ in range(3):
        fn()
    _sync()
    t = time.perf_counter()
    n = 0
    while True:
        fn()
        n += 1
        _sync()
        if time.perf_counter() - t > 0.01 or n >= 50:
            break
    return (time.perf_counter() - t) / n


def _time_events(run, inner: int) -> float:
    times = []
    for _ in range(REPEATS):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        run()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) / 1e3 / inner)
    return statistics.median(times)


def _check_time(fn) -> float:
    """--check: one warm-up and one timed call on the CPU (exercises the code, measures nothing)."""
    fn()
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def graph_time(fn) -> float:
    """GPU seconds per call of ``fn`` replayed back to back from a CUDA graph."""
    if R.check:
        return _check_time(fn)
    est = _eager_estimate(fn)
    inner = max(1, min(MAX_INNER, math.ceil(TARGET_S / max(est, 1e-7))))
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(s)
    _sync()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for _ in range(inner):
            fn()
    g.replay()
    _sync()
    t = _time_events(g.replay, inner)
    del g
    return t


def eager_time(fn) -> float:
    """Seconds per call of ``fn`` run eagerly back to back (CUDA events around ``inner`` calls)."""
    if R.check:
        return _check_time(fn)
    est = _eager_estimate(fn)
    inner = max(1, min(MAX_INNER_EAGER, math.ceil(TARGET_S / max(est, 1e-7))))

    def run() -> None:
        for _ in range(inner):
            fn()

    return _time_events(run, inner)


def count_kernels(fn) -> dict:
    """GPU kernels (and memcpy/memset) one call of ``fn`` launches, from the profiler, with their names."""
    if R.check or R.late():
        return {}
    try:
        from torch.profiler import ProfilerActivity, profile

        fn()
        _sync()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            fn()
            _sync()
        names = [e.name for e in prof.events() if str(getattr(e, "device_type", "")).endswith("CUDA")]
        uniq = list(dict.fromkeys(n[:90] for n in names))
        return {"kernels": len(names), "kernel_names": uniq[:24]}
    except Exception as e:  # noqa: BLE001 - the count is extra; the timing is kept
        return {"kernels_error": repr(e)[:200]}


def _free() -> None:
    if R.dev == "cuda":
        torch.cuda.empty_cache()


def _err(e: BaseException) -> str:
    """The exception and the line of this script it came through (called inside ``except``)."""
    where = ""
    try:
        frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == __file__]
        if frames:
            where = f" @ line {frames[-1].lineno}: {(frames[-1].line or '')[:100]}"
    except Exception:  # noqa: BLE001
        pass
    return repr(e)[:300] + where


# ---- environment ------------------------------------------------------------------------------------------------


def nvsmi() -> dict:
    q = "name,driver_version,clocks.sm,clocks.mem,clocks.max.sm,power.draw,power.limit,temperature.gpu,pstate"
    try:
        r = subprocess.run(
            ["nvidia-smi", f"--query-gpu={q}", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        d = dict(zip(q.split(","), (x.strip() for x in r.stdout.strip().split(",")), strict=False))
    except Exception as e:  # noqa: BLE001 - environment probe only
        return {"error": repr(e)}
    try:
        q2 = "clocks_throttle_reasons.active"
        r = subprocess.run(
            ["nvidia-smi", f"--query-gpu={q2}", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        if r.returncode == 0:
            d[q2] = r.stdout.strip()
    except Exception:  # noqa: BLE001
        pass
    return d


def environment() -> dict:
    import importlib.metadata as md

    env: dict = {
        "script": "tools/measure_fp8.py",
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),  # noqa: UP017 - 3.10 too
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "check_mode": R.check,
    }
    try:
        env["cudnn"] = torch.backends.cudnn.version()
    except Exception:  # noqa: BLE001
        pass
    if not R.check:
        p = torch.cuda.get_device_properties(0)
        env.update(
            device=torch.cuda.get_device_name(),
            capability=list(torch.cuda.get_device_capability()),
            sm_count=p.multi_processor_count,
            memory_bytes=p.total_memory,
        )
        try:
            env["blas"] = str(torch.backends.cuda.preferred_blas_library())
        except Exception:  # noqa: BLE001
            pass
    else:
        env.update(device="cpu (--check)", sm_count=0)
    for pkg in ("nvidia-cublas", "nvidia-cublas-cu13", "nvidia-cublas-cu12"):
        try:
            env["nvidia-cublas"] = md.version(pkg)
            break
        except Exception:  # noqa: BLE001
            pass
    for pkg in (
        "triton",
        "transformer_engine",
        "transformer-engine",
        "transformer_engine_torch",
        "transformer_engine_cu12",
    ):
        try:
            env[pkg] = md.version(pkg)
        except Exception:  # noqa: BLE001
            pass
    env["nvidia_smi_before"] = nvsmi() if not R.check else {}
    return env


# ---- shapes -----------------------------------------------------------------------------------------------------


def _scale_dim(d: int) -> int:
    """--check: a dimension / 16, a multiple of 16 (as _scaled_mm needs)."""
    return max(16, (d // 16 + 15) // 16 * 16) if R.check else d


def linear_layers() -> list[dict]:
    """The linear layers (local TP shards) of GPT-3 175B (TP 4, 2048 tokens) and Llama-2-70B (TP 4, 8; 4096)."""
    layers = []
    h, t, tok = 12288, 4, 2048
    for name, out_f, in_f in (
        ("qkv", 3 * h // t, h),
        ("proj", h, h // t),
        ("mlp_up", 4 * h // t, h),
        ("mlp_down", h, 4 * h // t),
    ):
        layers.append({"model": "gpt3-175b", "tp": t, "layer": name, "tokens": tok, "out": out_f, "in": in_f})
    h, kv, ffn, tok = 8192, 8 * 128, 28672, 4096
    for t in (4, 8):
        for name, out_f, in_f in (
            ("qkv", (h + 2 * kv) // t, h),
            ("proj", h, h // t),
            ("mlp_gate_up", 2 * ffn // t, h),
            ("mlp_down", h, ffn // t),
        ):
            layers.append(
                {"model": "llama2-70b", "tp": t, "layer": name, "tokens": tok, "out": out_f, "in": in_f}
            )
    for lay in layers:
        lay.update(
            tokens=_scale_dim(lay["tokens"]), out=_scale_dim(lay["out"]), **{"in": _scale_dim(lay["in"])}
        )
    return layers


def _use(lay: dict) -> str:
    return f"{lay['model']} tp{lay['tp']} {lay['layer']}"


def gemm_plan(layers: list[dict]) -> list[dict]:
    """Distinct (role, m, n, k) GEMMs of the layers, with the layers that use each, then the squares."""
    plan: dict[tuple, dict] = {}
    for lay in layers:
        tok, o, i = lay["tokens"], lay["out"], lay["in"]
        for role, m, n, k in (("fwd", tok, o, i), ("dgrad", tok, i, o), ("wgrad", o, i, tok)):
            plan.setdefault((role, m, n, k), {"role": role, "m": m, "n": n, "k": k, "uses": []})[
                "uses"
            ].append(_use(lay))
    for s in (2048, 4096, 8192):
        s = _scale_dim(s)
        plan.setdefault(("square", s, s, s), {"role": "square", "m": s, "n": s, "k": s, "uses": []})
    return list(plan.values())


def tensor_plan(layers: list[dict]) -> list[dict]:
    """Distinct (rows, cols, fp8 format) tensors the FP8 recipe casts: x (e4m3), W (e4m3), dy (e5m2)."""
    plan: dict[tuple, dict] = {}
    for lay in layers:
        tok, o, i = lay["tokens"], lay["out"], lay["in"]
        for tensor, rows, cols, f8 in (("x", tok, i, E4M3), ("W", o, i, E4M3), ("dy", tok, o, E5M2)):
            key = (rows, cols, FP8_NAME[f8])
            e = plan.setdefault(key, {"rows": rows, "cols": cols, "fp8": f8, "uses": []})
            e["uses"].append(f"{_use(lay)} {tensor}")
    return list(plan.values())


# ---- GEMMs ------------------------------------------------------------------------------------------------------


def _randn(*shape, dtype=torch.bfloat16) -> torch.Tensor:
    return torch.randn(*shape, device=R.dev, dtype=dtype)


def _fp8(*shape, f8=E4M3) -> torch.Tensor:
    return torch.randn(*shape, device=R.dev).to(f8)


def scaled_mm(
    a: torch.Tensor, b: torch.Tensor, sa: torch.Tensor, sb: torch.Tensor, fast: bool
) -> torch.Tensor:
    """fp8 ``a @ b`` -> bf16; ``a`` must be row-major, ``b`` column-major, every dimension a multiple of 16."""
    return torch._scaled_mm(a, b, scale_a=sa, scale_b=sb, out_dtype=torch.bfloat16, use_fast_accum=fast)


def _layout_ok(a: torch.Tensor, b: torch.Tensor) -> None:
    if not (a.is_contiguous() and b.t().is_contiguous()):
        raise ValueError(f"_scaled_mm layout: a strides {a.stride()}, b strides {b.stride()}")


def _verify(out: torch.Tensor, ref: torch.Tensor, what: str) -> None:
    """--check: the result equals the float reference (fp8 inputs are exact in fp32; bf16 output rounding)."""
    err = (out.float() - ref).abs().max().item() / max(ref.abs().max().item(), 1e-6)
    if err > 2e-2:
        raise AssertionError(f"{what}: relative error {err:.3g}")


def gemm_bf16(g: dict) -> None:
    role, m, n, k = g["role"], g["m"], g["n"], g["k"]
    base = {"kind": "fp8_gemm", "dtype": "bf16", "role": role, "m": m, "n": n, "k": k}
    try:
        c = torch.empty(m, n, device=R.dev, dtype=torch.bfloat16)
        if role in ("fwd", "square"):
            a = _randn(m, k)
            w = _randn(n, k) if role == "fwd" else _randn(k, n)
            b = w.t() if role == "fwd" else w  # forward: x @ W^T (W is [out, in]); square: plain NN
            layout = "x @ W.t()" if role == "fwd" else "a @ b"
        elif role == "dgrad":
            a = _randn(m, k)  # dy [tokens, out]
            b = _randn(k, n)  # W [out, in]
            layout = "dy @ W"
        else:  # wgrad: dW [out, in] = dy^T [out, tokens] @ x [tokens, in]
            dy = _randn(k, m)
            a = dy.t()
            b = _randn(k, n)
            layout = "dy.t() @ x"

        def fn():
            return torch.matmul(a, b, out=c)

        if R.check:
            _verify(fn(), a.float() @ b.float(), f"bf16 {role}")
        t = graph_time(fn)
        fl = 2.0 * m * n * k
        R.record(**base, layout=layout, uses=g["uses"], time_s=t, flops=fl, tflops=fl / t / 1e12)
    except Exception as e:  # noqa: BLE001 - a failed shape is recorded, the rest goes on
        R.record(**base, error=_err(e))
    finally:
        _free()


def gemm_fp8(g: dict, fast: bool) -> None:
    """The fp8 GEMM; the gradient GEMMs first with an e5m2 gradient, then e4m3 where that is refused."""
    grad = g["role"] in ("dgrad", "wgrad")
    for a_f8 in (E5M2, E4M3) if grad else (E4M3,):
        if _gemm_fp8_one(g, fast, a_f8):
            return


def _gemm_fp8_one(g: dict, fast: bool, a_f8: torch.dtype) -> bool:
    role, m, n, k = g["role"], g["m"], g["n"], g["k"]
    base = {
        "kind": "fp8_gemm",
        "dtype": "fp8",
        "role": role,
        "m": m,
        "n": n,
        "k": k,
        "a_dtype": FP8_NAME[a_f8],
        "b_dtype": "e4m3",
        "fast_accum": fast,
    }
    try:
        one = torch.ones((), device=R.dev)
        if role in ("fwd", "square"):
            a = _fp8(m, k)  # x8 [tokens, in], row-major
            b = _fp8(n, k).t()  # W8 [out, in] viewed as W8^T: column-major as stored
            layout = "x8 @ W8.t()"
        elif role == "dgrad":
            a = _fp8(m, k, f8=a_f8)  # dy8 [tokens, out]
            wt = _fp8(n, k)  # W8^T [in, out] row-major (the transposed copy of W8 [out, in])
            b = wt.t()  # = W8 [out, in], column-major
            layout = "dy8 @ (W8.t().contiguous()).t()"
        else:
            a = _fp8(m, k, f8=a_f8)  # dy8^T [out, tokens] row-major (the transposed copy of dy8)
            xt = _fp8(n, k)  # x8^T [in, tokens] row-major (the transposed copy of x8)
            b = xt.t()  # = x8 [tokens, in], column-major
            layout = "(dy8.t().contiguous()) @ (x8.t().contiguous()).t()"
        _layout_ok(a, b)

        def fn():
            return scaled_mm(a, b, one, one, fast)

        if R.check:
            _verify(fn(), a.float() @ b.float(), f"fp8 {role}")
        t = graph_time(fn)
        fl = 2.0 * m * n * k
        R.record(**base, layout=layout, uses=g["uses"], time_s=t, flops=fl, tflops=fl / t / 1e12)
        return True
    except Exception as e:  # noqa: BLE001
        R.record(**base, error=_err(e))
        return False
    finally:
        _free()


def section_gemm(layers: list[dict]) -> None:
    plan = gemm_plan(layers)
    R.progress(f"GEMMs: {len(plan)} shapes x (bf16, fp8, fp8 fast accumulation)")
    for g in plan:
        if R.late():
            R.record(kind="skipped", section="gemm", at=f"{g['role']} {g['m']}x{g['n']}x{g['k']}")
            return
        gemm_bf16(g)
        gemm_fp8(g, fast=True)
        gemm_fp8(g, fast=False)


# ---- memory-bound FP8 kernels -------------------------------------------------------------------------------------


def amax_one_kernel(x: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(x, float("inf"))


def section_cast(layers: list[dict]) -> None:
    plan = tensor_plan(layers)
    R.progress(f"cast / amax / transpose: {len(plan)} tensors")
    for tp in plan:
        if R.late():
            R.record(kind="skipped", section="cast", at=f"{tp['rows']}x{tp['cols']}")
            return
        _cast_one(tp)
        _free()


def _cast_one(tp: dict) -> None:
    rows, cols, f8 = tp["rows"], tp["cols"], tp["fp8"]
    n = rows * cols
    shape = {"rows": rows, "cols": cols, "fp8": FP8_NAME[f8], "uses": tp["uses"]}
    try:
        x = _randn(rows, cols)
        scale = torch.full((), 0.5, device=R.dev)
        x8 = x.to(f8)
    except Exception as e:  # noqa: BLE001
        R.record(kind="fp8_cast", op="setup", **shape, error=_err(e))
        return
    ops = (
        # (kind, op, fn, read bytes, write bytes) - the bytes of the ideal single kernel
        ("fp8_cast", "scaled cast eager (x * scale).to(fp8)", lambda: (x * scale).to(f8), 2 * n, n),
        ("fp8_cast", "cast x.to(fp8)", lambda: x.to(f8), 2 * n, n),
        ("fp8_amax", "amax eager x.abs().amax()", lambda: x.abs().amax(), 2 * n, 0),
        ("fp8_amax", "amax one kernel vector_norm(x, inf)", lambda: amax_one_kernel(x), 2 * n, 0),
        ("fp8_transpose", "fp8 transpose x8.t().contiguous()", lambda: x8.t().contiguous(), n, n),
    )
    for kind, op, fn, rd, wr in ops:
        try:
            if R.check:
                if kind == "fp8_transpose":
                    assert torch.equal(fn().float(), x8.float().t())
                elif kind == "fp8_amax":
                    assert float(fn()) == float(x.abs().max())
            t = graph_time(fn)
            R.record(
                kind=kind, op=op, **shape, read_bytes=rd, write_bytes=wr, time_s=t, tbps=(rd + wr) / t / 1e12
            )
        except Exception as e:  # noqa: BLE001
            R.record(kind=kind, op=op, **shape, error=_err(e))


# ---- amax history / scale update ------------------------------------------------------------------------------------


def make_scale_update(hist_len: int, tensors: int):
    """Delayed scaling after a step, as Transformer Engine's default does it (in plain PyTorch): the step's amax
    into the history's row 0, amax = max over the history, roll the history by one and zero row 0, scale =
    fp8_max / amax (kept where amax is 0 or not finite), and its inverse. Updates persistent buffers in place."""
    hist = torch.rand(hist_len, tensors, device=R.dev) + 0.5
    cur = torch.rand(tensors, device=R.dev)
    scale = torch.ones(tensors, device=R.dev)
    scale_inv = torch.ones(tensors, device=R.dev)
    fp8_max = FP8_MAX[E4M3]

    def update():
        hist[0].copy_(cur)
        amax = hist.amax(dim=0)
        hist.copy_(torch.roll(hist, -1, 0))
        hist[0].zero_()
        sf = fp8_max / amax
        sf = torch.where((amax > 0.0) & torch.isfinite(amax), sf, scale)
        scale.copy_(sf)
        scale_inv.copy_(torch.reciprocal(sf))

    return update


SCALE_SIZES = ((1024, 3), (1024, 12), (1024, 1152), (16, 3), (16, 1152))


def section_scale() -> None:
    R.progress("amax history / scale update, launch reference")
    try:
        z = torch.zeros(1, device=R.dev)
        R.record(
            kind="fp8_scale_update",
            op="reference: add_ one element",
            hist_len=0,
            tensors=1,
            time_s=graph_time(lambda: z.add_(1.0)),
        )
    except Exception as e:  # noqa: BLE001
        R.record(
            kind="fp8_scale_update", op="reference: add_ one element", hist_len=0, tensors=1, error=_err(e)
        )
    for hist_len, tensors in SCALE_SIZES:
        try:
            fn = make_scale_update(hist_len, tensors)
            t = graph_time(fn)
            extra = count_kernels(fn) if (hist_len, tensors) == (1024, 3) else {}
            R.record(
                kind="fp8_scale_update", op="eager", hist_len=hist_len, tensors=tensors, time_s=t, **extra
            )
        except Exception as e:  # noqa: BLE001
            R.record(kind="fp8_scale_update", op="eager", hist_len=hist_len, tensors=tensors, error=_err(e))
    _free()


# ---- plain-PyTorch fp8 linear layer -------------------------------------------------------------------------------


def section_linear(layers: list[dict]) -> None:
    R.progress(f"whole linear layer (3 GEMMs + FP8 overheads) in one graph: {len(layers)} layers")
    for lay in layers:
        if R.late():
            R.record(kind="skipped", section="linear", at=_use(lay))
            return
        _linear_one(lay)
        _free()


def _linear_one(lay: dict) -> None:
    tok, o, i = lay["tokens"], lay["out"], lay["in"]
    shape = {"model": lay["model"], "tp": lay["tp"], "layer": lay["layer"], "tokens": tok, "out": o, "in": i}
    fl = 6.0 * tok * o * i
    try:
        x, w, dy = _randn(tok, i), _randn(o, i), _randn(tok, o)
        y, dx, dw = (
            torch.empty(*s, device=R.dev, dtype=torch.bfloat16) for s in ((tok, o), (tok, i), (o, i))
        )
        s = torch.full((), 0.5, device=R.dev)
        si = torch.full((), 2.0, device=R.dev)
        w8_cached = w.to(E4M3)
        wt8_cached = w8_cached.t().contiguous()
    except Exception as e:  # noqa: BLE001
        R.record(kind="fp8_linear", variant="setup", **shape, error=_err(e))
        return

    def bf16_step():
        torch.matmul(x, w.t(), out=y)
        torch.matmul(dy, w, out=dx)
        torch.matmul(dy.t(), x, out=dw)

    def fp8_step(cached: bool):
        amax_one_kernel(x)
        x8 = (x * s).to(E4M3)
        if cached:
            w8, wt8 = w8_cached, wt8_cached
        else:
            amax_one_kernel(w)
            w8 = (w * s).to(E4M3)
            wt8 = w8.t().contiguous()
        scaled_mm(x8, w8.t(), si, si, True)  # forward
        amax_one_kernel(dy)
        dy8 = (dy * s).to(E5M2)
        scaled_mm(dy8, wt8.t(), si, si, False)  # dgrad
        scaled_mm(dy8.t().contiguous(), x8.t().contiguous().t(), si, si, False)  # wgrad

    for variant, fn in (
        ("bf16", bf16_step),
        ("fp8 unfused", lambda: fp8_step(False)),
        ("fp8 unfused, cached weight", lambda: fp8_step(True)),
    ):
        try:
            t = graph_time(fn)
            R.record(kind="fp8_linear", variant=variant, **shape, time_s=t, flops=fl, tflops=fl / t / 1e12)
        except Exception as e:  # noqa: BLE001
            R.record(kind="fp8_linear", variant=variant, **shape, error=_err(e))


# ---- Transformer Engine -----------------------------------------------------------------------------------------------


def section_te(layers: list[dict]) -> None:
    try:
        import transformer_engine.pytorch as te
        from transformer_engine.common import recipe as ter
    except Exception as e:  # noqa: BLE001
        R.progress(f"Transformer Engine: not importable ({e!r:.200})")
        R.record(kind="te_linear", variant="import", error=_err(e))
        return
    import warnings

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    info = {"te_version": getattr(sys.modules.get("transformer_engine"), "__version__", "?")}
    for probe in ("fp8.check_fp8_support", "is_fp8_available"):
        try:
            f = te
            for part in probe.split("."):
                f = getattr(f, part)
            res = f()
            ok, why = res if isinstance(res, tuple) else (res, "")
            info["fp8_supported"], info["fp8_reason"] = bool(ok), str(why)[:200]
            break
        except Exception:  # noqa: BLE001
            pass
    R.progress(f"Transformer Engine {info}")

    def autocast(rec):
        if hasattr(te, "fp8_autocast"):
            return te.fp8_autocast(enabled=True, fp8_recipe=rec)
        return te.autocast(enabled=True, recipe=rec)

    recipes = {}
    try:
        recipes["fp8 delayed"] = ter.DelayedScaling(
            fp8_format=ter.Format.HYBRID, amax_history_len=1024, amax_compute_algo="max"
        )
    except Exception as e:  # noqa: BLE001
        R.record(kind="te_linear", variant="recipe fp8 delayed", error=_err(e))
    if hasattr(ter, "Float8CurrentScaling"):
        try:
            recipes["fp8 current"] = ter.Float8CurrentScaling(fp8_format=ter.Format.HYBRID)
        except Exception as e:  # noqa: BLE001
            R.record(kind="te_linear", variant="recipe fp8 current", error=_err(e))

    R.progress(
        f"te.Linear: {len(layers)} layers x (bf16, {', '.join(recipes)}, fp8 delayed cached weight) x (fwd, fwd+bwd)"
    )
    for li, lay in enumerate(layers):
        if R.late():
            R.record(kind="skipped", section="te", at=_use(lay))
            return
        _te_one(te, autocast, recipes, info, li, lay)
        _free()


def _te_one(te, autocast, recipes: dict, info: dict, li: int, lay: dict) -> None:
    tok, o, i = lay["tokens"], lay["out"], lay["in"]
    shape = {"model": lay["model"], "tp": lay["tp"], "layer": lay["layer"], "tokens": tok, "out": o, "in": i}
    try:
        lin = te.Linear(i, o, bias=False, params_dtype=torch.bfloat16)
        x = _randn(tok, i).requires_grad_(True)
        gy = _randn(tok, o)
    except Exception as e:  # noqa: BLE001
        R.record(kind="te_linear", variant="setup", **shape, **info, error=_err(e))
        return

    def clear():
        x.grad = None
        lin.weight.grad = None

    def make(rec, cached: bool, backward: bool):
        kw = {"is_first_microbatch": False} if cached else {}

        def fn():
            if rec is None:
                y = lin(x)
                if backward:
                    y.backward(gy)
            else:
                with autocast(rec):
                    y = lin(x, **kw)
                if backward:
                    y.backward(gy)
            if backward:
                clear()

        return fn

    variants = [("bf16", None, False)] + [(name, rec, False) for name, rec in recipes.items()]
    if "fp8 delayed" in recipes:
        variants.append(("fp8 delayed, cached weight", recipes["fp8 delayed"], True))
    for name, rec, cached in variants:
        try:
            if cached:  # the first micro-batch casts and caches the fp8 weight (and its transpose)
                with autocast(rec):
                    y0 = lin(x, is_first_microbatch=True)
                y0.backward(gy)
                del y0
                clear()
            for mode, backward in (("fwd", False), ("fwd_bwd", True)):
                fn = make(rec, cached, backward)
                t = eager_time(fn)
                fl = (6.0 if backward else 2.0) * tok * o * i
                extra = count_kernels(fn) if li == 0 and backward else {}
                R.record(
                    kind="te_linear",
                    variant=name,
                    mode=mode,
                    **shape,
                    **info,
                    time_s=t,
                    flops=fl,
                    tflops=fl / t / 1e12,
                    **extra,
                )
        except Exception as e:  # noqa: BLE001
            R.record(kind="te_linear", variant=name, **shape, **info, error=_err(e))
        finally:
            clear()


# ---- torch.compile fused kernels (optional) ---------------------------------------------------------------------------


def _compile(fn, *args):
    """``torch.compile(fn)`` called once on ``args`` (compiles); None when the compile budget is spent."""
    if R.compile_used_s > COMPILE_BUDGET_S:
        return None
    cf = torch.compile(fn, dynamic=False)
    t = time.time()
    cf(*args)
    _sync()
    R.compile_used_s += time.time() - t
    return cf


def cast_amax(x, scale, f8_max: float, f8):
    """Transformer Engine's cast: scaled, saturated cast to fp8 and the amax, for torch.compile to fuse."""
    return (x.float() * scale).clamp(-f8_max, f8_max).to(f8), x.abs().amax().float()


def cast_transpose_amax(x, scale, f8_max: float, f8):
    """Transformer Engine's cast_transpose: the cast, its transpose and the amax, for torch.compile to fuse."""
    c = (x.float() * scale).clamp(-f8_max, f8_max).to(f8)
    return c, c.t().contiguous(), x.abs().amax().float()


def section_compile(layers: list[dict]) -> None:
    if R.elapsed() > R.deadline_s - min(COMPILE_BUDGET_S, 20.0):
        R.record(kind="skipped", section="compile", at="start: too close to the deadline")
        return
    try:
        import torch._dynamo

        for name in (
            "cache_size_limit",
            "recompile_limit",
            "accumulated_cache_size_limit",
            "accumulated_recompile_limit",
        ):
            if hasattr(torch._dynamo.config, name):
                setattr(torch._dynamo.config, name, 256)
        t = time.time()
        probe = torch.compile(lambda v: (v * 2.0).to(E4M3), dynamic=False)
        probe(torch.randn(64, 64, device=R.dev))
        _sync()
        dt = time.time() - t
        R.compile_used_s += dt
        R.record(kind="fp8_fused", op="compile probe", compile_s=dt)
        if dt > COMPILE_BUDGET_S:
            R.progress(f"torch.compile probe took {dt:.0f} s: fused kernels skipped")
            return
    except Exception as e:  # noqa: BLE001
        R.record(kind="fp8_fused", op="compile probe", error=_err(e))
        R.progress("torch.compile does not work here: fused kernels skipped")
        return

    R.progress("fused (torch.compile) scale update")
    for hist_len, tensors in SCALE_SIZES[:3]:
        try:
            upd = make_scale_update(hist_len, tensors)
            cf = _compile(upd)
            if cf is None:
                break
            t = graph_time(cf)
            extra = count_kernels(cf) if (hist_len, tensors) == (1024, 3) else {}
            R.record(
                kind="fp8_scale_update", op="compiled", hist_len=hist_len, tensors=tensors, time_s=t, **extra
            )
        except Exception as e:  # noqa: BLE001
            R.record(
                kind="fp8_scale_update", op="compiled", hist_len=hist_len, tensors=tensors, error=_err(e)
            )

    plan = tensor_plan(layers)
    R.progress(
        f"fused (torch.compile) cast+amax, cast+transpose+amax: {len(plan)} tensors, compile budget "
        f"{COMPILE_BUDGET_S - R.compile_used_s:.0f} s left"
    )
    for tp in plan:
        if R.late() or R.compile_used_s > COMPILE_BUDGET_S:
            R.record(
                kind="skipped",
                section="compile",
                at=f"{tp['rows']}x{tp['cols']}",
                compile_used_s=round(R.compile_used_s, 1),
            )
            return
        _fused_one(tp)
        _free()


def _fused_one(tp: dict) -> None:
    rows, cols, f8 = tp["rows"], tp["cols"], tp["fp8"]
    n = rows * cols
    shape = {"rows": rows, "cols": cols, "fp8": FP8_NAME[f8], "uses": tp["uses"]}
    for op, fn, wr in (
        ("compiled cast+amax", cast_amax, n),
        ("compiled cast+transpose+amax", cast_transpose_amax, 2 * n),
    ):
        try:
            x = _randn(rows, cols)
            scale = torch.full((), 0.5, device=R.dev)
            args = (x, scale, FP8_MAX[f8], f8)
            t0 = time.time()
            cf = _compile(fn, *args)
            if cf is None:
                return
            ct = time.time() - t0
            if R.check:
                ref, got = fn(*args), cf(*args)
                assert all(torch.equal(a.float(), b.float()) for a, b in zip(ref, got, strict=True)), op
            t = graph_time(lambda cf=cf, args=args: cf(*args))
            R.record(
                kind="fp8_fused",
                op=op,
                **shape,
                read_bytes=2 * n,
                write_bytes=wr,
                time_s=t,
                tbps=(2 * n + wr) / t / 1e12,
                compile_s=ct,
            )
        except Exception as e:  # noqa: BLE001
            R.record(kind="fp8_fused", op=op, **shape, error=_err(e))


# ---- main ---------------------------------------------------------------------------------------------------------------


def main() -> None:
    global R, COMPILE_BUDGET_S
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--out", default=os.environ.get("OUT") or "out", help="output folder (default $OUT or ./out)"
    )
    ap.add_argument(
        "--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}"
    )
    ap.add_argument(
        "--deadline", type=float, default=200.0, help="seconds after which no new measurement starts"
    )
    ap.add_argument(
        "--compile-budget",
        type=float,
        default=COMPILE_BUDGET_S,
        help="seconds torch.compile may take in all (probe included) before fused kernels are skipped",
    )
    ap.add_argument(
        "--check", action="store_true", help="no GPU: run every code path on the CPU at shapes / 16"
    )
    args = ap.parse_args()
    COMPILE_BUDGET_S = args.compile_budget
    sections = [s for s in args.sections.split(",") if s]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown sections {sorted(unknown)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    R = Run(out, args.check, args.deadline)
    if not args.check and not torch.cuda.is_available():
        sys.exit("no CUDA device (use --check to exercise the code on the CPU)")

    env = environment()
    env_path = out / "fp8_env.json"
    env_path.write_text(json.dumps(env, indent=1))
    print(json.dumps(env), flush=True)
    torch.manual_seed(0)
    layers = linear_layers()
    R.progress(f"torch {torch.__version__}, {env['device']}, out {out.resolve()}, sections {sections}")

    for name in SECTIONS:
        if name not in sections:
            continue
        if R.late():
            R.record(kind="skipped", section=name, at="start")
            continue
        try:
            {
                "gemm": lambda: section_gemm(layers),
                "cast": lambda: section_cast(layers),
                "scale": section_scale,
                "te": lambda: section_te(layers),
                "linear": lambda: section_linear(layers),
                "compile": lambda: section_compile(layers),
            }[name]()
        except Exception as e:  # noqa: BLE001 - one section's failure must not lose the run
            R.record(kind="section_error", section=name, error=_err(e))
        if not R.check:
            env[f"nvidia_smi_after_{name}"] = nvsmi()
        env["seconds"] = R.elapsed()
        env_path.write_text(json.dumps(env, indent=1))

    env["seconds"] = R.elapsed()
    env["records"], env["errors"] = R.n_records, R.n_errors
    env_path.write_text(json.dumps(env, indent=1))
    R.progress(f"done: {R.n_records} records ({R.n_errors} errors) in {out.resolve()}")


if __name__ == "__main__":
    main()
