"""Measures GEMM, attention, memory-bound and launch figures on the local NVIDIA GPU with PyTorch, for the
validation data (``python/perfmodel/data/measured_gpu.csv``, built from this script's output by
``tools/import_gpu_measurements.py``).

Needs only PyTorch and a CUDA GPU; not run by tests or CI. Writes ``measurements.jsonl`` (one JSON object per
measurement: kind, dtype, shape or size, seconds per call, the FLOPs or bytes counted) and ``env.json``
(GPU, driver, clocks and power before and after, torch / CUDA / cuBLAS / cuDNN versions, date) into the folder
given as the first argument.

Method: inputs are random normal (bf16/fp16/fp32; fp8 e4m3 cast from them). Each operation is warmed up three
times, then captured ``inner`` times into one CUDA graph (``inner`` chosen so a replay lasts about 20 ms, at
most 2000), and the graph is replayed 7 times between CUDA events; the value is the median replay time divided
by ``inner``: the GPU-side time per call with back-to-back launches, as a cuBLASLt benchmark loop measures it.
Attention forward+backward is timed eagerly the same way (7 timed repetitions of ``inner`` calls), since
autograd is not captured. The eager per-call time of a one-element kernel is the PyTorch dispatch cost.

    python tools/measure_gpu.py OUT_DIR [--layouts]
"""

from __future__ import annotations

import datetime
import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

TARGET_S = 0.02
REPEATS = 7
DEV = "cuda"
OUT: list[dict] = []


def _sync() -> None:
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


def graph_time(fn) -> float:
    """GPU seconds per call of ``fn`` replayed back to back from a CUDA graph."""
    est = _eager_estimate(fn)
    inner = max(1, min(2000, math.ceil(TARGET_S / max(est, 1e-7))))
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
    est = _eager_estimate(fn)
    inner = max(1, min(2000, math.ceil(TARGET_S / max(est, 1e-7))))

    def run() -> None:
        for _ in range(inner):
            fn()

    return _time_events(run, inner)


def record(**kw) -> None:
    OUT.append(kw)
    print(json.dumps(kw), flush=True)


def nvsmi() -> dict:
    q = "name,driver_version,clocks.sm,clocks.mem,clocks.max.sm,power.draw,power.limit,temperature.gpu,pstate"
    try:
        r = subprocess.run(
            ["nvidia-smi", f"--query-gpu={q}", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        return dict(zip(q.split(","), (x.strip() for x in r.stdout.strip().split(",")), strict=False))
    except Exception as e:  # noqa: BLE001 - environment probe only
        return {"error": repr(e)}


# ---- GEMM -----------------------------------------------------------------------------------------------------

TORCH_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32, "tf32": torch.float32}


def gemm(dtype: str, m: int, n: int, k: int, batch: int = 1) -> None:
    torch.backends.cuda.matmul.allow_tf32 = dtype == "tf32"
    try:
        if dtype == "fp8":
            a = torch.randn(m, k, device=DEV).to(torch.float8_e4m3fn)
            b = (
                torch.randn(n, k, device=DEV).to(torch.float8_e4m3fn).t()
            )  # column-major, as cuBLASLt fp8 needs
            one = torch.ones((), device=DEV)

            def fn():
                return torch._scaled_mm(a, b, scale_a=one, scale_b=one, out_dtype=torch.bfloat16)
        else:
            dt = TORCH_DTYPES[dtype]
            shape_a = (batch, m, k) if batch > 1 else (m, k)
            shape_b = (batch, k, n) if batch > 1 else (k, n)
            a = torch.randn(*shape_a, device=DEV, dtype=dt)
            b = torch.randn(*shape_b, device=DEV, dtype=dt)
            c = torch.empty(*((batch, m, n) if batch > 1 else (m, n)), device=DEV, dtype=dt)

            def fn():
                return torch.matmul(a, b, out=c)

        t = graph_time(fn)
        flops = 2.0 * m * n * k * batch
        record(
            kind="gemm",
            dtype=dtype,
            m=m,
            n=n,
            k=k,
            batch=batch,
            time_s=t,
            flops=flops,
            tflops=flops / t / 1e12,
        )
    except Exception as e:  # noqa: BLE001 - a failed shape is recorded, the rest goes on
        record(kind="gemm", dtype=dtype, m=m, n=n, k=k, batch=batch, error=repr(e)[:300])
    finally:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.cuda.empty_cache()


def gemm_layouts(m: int, n: int, k: int) -> None:
    """bf16 ``m x n x k`` through torch.matmul with and without ``out=``, and F.linear (the NT layout of
    nn.Linear), on random data and on zeros (less switching power)."""
    for data in ("randn", "zeros"):
        make = torch.randn if data == "randn" else torch.zeros
        a = make(m, k, device=DEV, dtype=torch.bfloat16)
        b = make(k, n, device=DEV, dtype=torch.bfloat16)
        w = make(n, k, device=DEV, dtype=torch.bfloat16)
        c = torch.empty(m, n, device=DEV, dtype=torch.bfloat16)
        variants = (
            ("matmul_out", lambda a=a, b=b, c=c: torch.matmul(a, b, out=c)),
            ("matmul", lambda a=a, b=b: torch.matmul(a, b)),
            ("linear_nt", lambda a=a, w=w: F.linear(a, w)),
        )
        for name, fn in variants:
            t = graph_time(fn)
            record(
                kind="gemm_layout",
                variant=name,
                data=data,
                dtype="bf16",
                m=m,
                n=n,
                k=k,
                time_s=t,
                tflops=2.0 * m * n * k / t / 1e12,
            )
        del a, b, w, c, variants
        torch.cuda.empty_cache()


# ---- memory-bound ---------------------------------------------------------------------------------------------


def stream(kernel: str, nbytes: int) -> None:
    """copy (1 read, 1 write), scale/mul (1, 1), add (2, 1), triad (2, 1), fill (0, 1), sum (1, 0) on fp32 arrays of
    ``nbytes`` each."""
    n = nbytes // 4
    try:
        x = torch.randn(n, device=DEV)
        y = torch.randn(n, device=DEV)
        z = torch.empty(n, device=DEV)
        acc = torch.empty((), device=DEV)
        fns = {
            "copy": (lambda: z.copy_(x), 1, 1),
            "mul": (lambda: torch.mul(x, 3.0, out=z), 1, 1),
            "add": (lambda: torch.add(x, y, out=z), 2, 1),
            "triad": (lambda: torch.add(x, y, alpha=3.0, out=z), 2, 1),
            "fill": (lambda: z.fill_(1.0), 0, 1),
            "sum": (lambda: torch.sum(x, dim=0, out=acc), 1, 0),
        }
        fn, reads, writes = fns[kernel]
        t = graph_time(fn)
        record(
            kind="stream",
            kernel=kernel,
            array_bytes=nbytes,
            reads=reads,
            writes=writes,
            time_s=t,
            bytes=(reads + writes) * nbytes,
            tbps=(reads + writes) * nbytes / t / 1e12,
        )
    except Exception as e:  # noqa: BLE001
        record(kind="stream", kernel=kernel, array_bytes=nbytes, error=repr(e)[:300])
    finally:
        torch.cuda.empty_cache()


def rowwise(op: str, rows: int, cols: int) -> None:
    """bf16 row-wise kernels of a transformer: RMSNorm, LayerNorm, softmax, GELU, SiLU-gated product."""
    try:
        x = torch.randn(rows, cols, device=DEV, dtype=torch.bfloat16)
        w = torch.randn(cols, device=DEV, dtype=torch.bfloat16)
        y = torch.randn(rows, cols, device=DEV, dtype=torch.bfloat16)
        elem = rows * cols * 2
        fns = {
            "rms_norm": (lambda: F.rms_norm(x, (cols,), w), elem, elem),
            "layer_norm": (lambda: F.layer_norm(x, (cols,), w, w), elem, elem),
            "softmax": (lambda: torch.softmax(x, dim=-1), elem, elem),
            "gelu": (lambda: F.gelu(x, approximate="tanh"), elem, elem),
            "silu_mul": (lambda: F.silu(x) * y, 2 * elem, elem),
        }
        fn, rd, wr = fns[op]
        t = graph_time(fn)
        record(
            kind="rowwise",
            op=op,
            rows=rows,
            cols=cols,
            dtype="bf16",
            read_bytes=rd,
            write_bytes=wr,
            time_s=t,
            tbps=(rd + wr) / t / 1e12,
        )
    except Exception as e:  # noqa: BLE001
        record(kind="rowwise", op=op, rows=rows, cols=cols, error=repr(e)[:300])
    finally:
        torch.cuda.empty_cache()


# ---- attention ------------------------------------------------------------------------------------------------


def attention(backend: str, batch: int, heads: int, seq: int, head_dim: int, causal: bool) -> None:
    from torch.nn.attention import SDPBackend, sdpa_kernel

    be = {"flash": SDPBackend.FLASH_ATTENTION, "cudnn": SDPBackend.CUDNN_ATTENTION}[backend]
    try:
        q, k, v = (
            torch.randn(batch, heads, seq, head_dim, device=DEV, dtype=torch.bfloat16, requires_grad=True)
            for _ in range(3)
        )
        g = torch.randn(batch, heads, seq, head_dim, device=DEV, dtype=torch.bfloat16)
        with sdpa_kernel([be]):

            def fwd():
                with torch.no_grad():
                    return F.scaled_dot_product_attention(q, k, v, is_causal=causal)

            def fwd_bwd():
                o = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
                o.backward(g)
                q.grad = k.grad = v.grad = None

            tf = graph_time(fwd)
            tfb = eager_time(fwd_bwd)
        # FlashAttention-2 paper accounting: forward 4 b h s^2 d FLOPs (half with a causal mask), backward 2.5x.
        ff = 4.0 * batch * heads * seq * seq * head_dim / (2.0 if causal else 1.0)
        record(
            kind="attention",
            backend=backend,
            batch=batch,
            heads=heads,
            seq=seq,
            head_dim=head_dim,
            causal=causal,
            fwd_s=tf,
            fwd_bwd_s=tfb,
            fwd_flops=ff,
            bwd_flops=2.5 * ff,
            fwd_tflops=ff / tf / 1e12,
            fwd_bwd_tflops=3.5 * ff / tfb / 1e12,
        )
    except Exception as e:  # noqa: BLE001
        record(
            kind="attention",
            backend=backend,
            batch=batch,
            heads=heads,
            seq=seq,
            head_dim=head_dim,
            causal=causal,
            error=repr(e)[:300],
        )
    finally:
        torch.cuda.empty_cache()


# ---- launch -----------------------------------------------------------------------------------------------------


def launch() -> None:
    x = torch.zeros(1, device=DEV)
    record(kind="launch", mode="graph", op="add_ one element", time_s=graph_time(lambda: x.add_(1.0)))
    record(kind="launch", mode="eager", op="add_ one element", time_s=eager_time(lambda: x.add_(1.0)))
    a = torch.randn(64, 64, device=DEV, dtype=torch.bfloat16)
    c = torch.empty(64, 64, device=DEV, dtype=torch.bfloat16)
    record(
        kind="launch",
        mode="graph",
        op="matmul bf16 64x64x64",
        time_s=graph_time(lambda: torch.matmul(a, a, out=c)),
    )


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    env = {
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "device": torch.cuda.get_device_name(),
        "sm_count": torch.cuda.get_device_properties(0).multi_processor_count,
        "memory_bytes": torch.cuda.get_device_properties(0).total_memory,
        "nvidia_smi_before": nvsmi(),
    }
    try:
        import importlib.metadata as md

        env["nvidia-cublas"] = md.version("nvidia-cublas")
    except Exception:  # noqa: BLE001
        pass
    print(json.dumps(env), flush=True)
    t0 = time.time()
    torch.manual_seed(0)

    launch()
    if "--layouts" in sys.argv:
        for size in (4096, 8192):
            gemm_layouts(size, size, size)
        env["nvidia_smi_after_layouts"] = nvsmi()
    for kb in (1 << 20, 1 << 22, 1 << 24, 1 << 26, 1 << 28, 1 << 30, 1 << 32):
        stream("copy", kb)
    for kern in ("mul", "add", "triad", "fill", "sum"):
        stream(kern, 1 << 30)
    env["nvidia_smi_after_stream"] = nvsmi()

    for s in (256, 512, 1024, 2048, 3072, 4096, 5120, 6144, 8192, 10240, 12288, 16384):
        gemm("bf16", s, s, s)
    for s in (1024, 2048, 4096, 8192, 16384):
        gemm("fp16", s, s, s)
        gemm("fp8", s, s, s)
    for s in (4096, 8192):
        gemm("tf32", s, s, s)
    gemm("fp32", 4096, 4096, 4096)
    llm_shapes = [
        # Llama-2-7B layer, 8192 tokens: QKV, output, gate+up, down.
        (8192, 12288, 4096),
        (8192, 4096, 4096),
        (8192, 22016, 4096),
        (8192, 4096, 11008),
        # Llama-70B with TP 8, 8192 tokens: QKV shard (GQA), output, gate+up, down.
        (8192, 1280, 8192),
        (8192, 8192, 1024),
        (8192, 7168, 8192),
        (8192, 8192, 3584),
        # GPT-3 175B with TP 8, 2048 tokens: QKV, output, up, down.
        (2048, 4608, 12288),
        (2048, 12288, 1536),
        (2048, 6144, 12288),
        (2048, 12288, 6144),
        # Odd sizes and a skinny one (as in the Azure cuBLASLt rows).
        (4000, 4000, 4000),
        (8191, 8191, 8191),
        (802816, 192, 768),
        (1024, 2145, 1024),
    ]
    for m, n, k in llm_shapes:
        gemm("bf16", m, n, k)
    gemm("bf16", 2048, 2048, 128, batch=64)
    gemm("bf16", 2048, 128, 2048, batch=64)
    env["nvidia_smi_after_gemm"] = nvsmi()

    for op in ("rms_norm", "layer_norm", "softmax", "gelu", "silu_mul"):
        rowwise(op, 8192, 8192)
    rowwise("softmax", 8192, 32768)

    for backend in ("flash", "cudnn"):
        for head_dim in (64, 128):
            for seq in (512, 1024, 2048, 4096, 8192, 16384):
                for causal in (False, True):
                    attention(backend, 16384 // seq, 2048 // head_dim, seq, head_dim, causal)
    env["nvidia_smi_after_attention"] = nvsmi()
    env["seconds"] = time.time() - t0
    (out / "env.json").write_text(json.dumps(env, indent=1))
    (out / "measurements.jsonl").write_text("".join(json.dumps(r) + "\n" for r in OUT))
    print(f"done in {env['seconds']:.0f} s", flush=True)


if __name__ == "__main__":
    main()
