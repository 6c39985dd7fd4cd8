"""Measures single-GPU GPT training steps with plain PyTorch, for the validation data (suite ``measured``, group
``train_step``; imported by ``tools/import_gpu_measurements.py``).

A GPT as Megatron-LM's: learned position embeddings, pre-LayerNorm blocks (fused QKV, causal attention through
PyTorch's FlashAttention-2 SDPA backend, output projection, 4h GELU MLP), final LayerNorm, output layer tied to
the embedding, cross-entropy. Mixed precision: fp32 parameters, bf16 autocast, fused AdamW. No activation
recomputation, micro-batch = global batch (one micro-batch per step).

Per model: 3 warm-up steps, then 10 steps timed one by one with CUDA events (forward, backward, optimizer and
zero_grad); the value is the median. ``torch.cuda.max_memory_allocated`` after the steps is the peak memory.

    python tools/measure_train_step.py OUT_DIR
"""

from __future__ import annotations

import datetime
import json
import statistics
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel


class Block(nn.Module):
    def __init__(self, h: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(h), nn.LayerNorm(h)
        self.qkv, self.proj = nn.Linear(h, 3 * h), nn.Linear(h, h)
        self.fc1, self.fc2 = nn.Linear(h, 4 * h), nn.Linear(4 * h, h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, h = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, s, 3, self.heads, h // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(b, s, h))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, h: int, heads: int, layers: int, seq: int, vocab: int) -> None:
        super().__init__()
        self.emb, self.pos = nn.Embedding(vocab, h), nn.Embedding(seq, h)
        self.blocks = nn.ModuleList(Block(h, heads) for _ in range(layers))
        self.lnf = nn.LayerNorm(h)

    def forward(self, idx: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        x = self.emb(idx) + self.pos(torch.arange(idx.shape[1], device=idx.device))
        for blk in self.blocks:
            x = blk(x)
        logits = F.linear(self.lnf(x), self.emb.weight)
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), target.view(-1))


def step_time(h: int, heads: int, layers: int, seq: int, vocab: int, batch: int) -> dict:
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    model = GPT(h, heads, layers, seq, vocab).cuda()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    idx = torch.randint(0, vocab, (batch, seq), device="cuda")
    tgt = torch.randint(0, vocab, (batch, seq), device="cuda")

    def step() -> None:
        with torch.autocast("cuda", dtype=torch.bfloat16), sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
            loss = model(idx, tgt)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(3):
        step()
    torch.cuda.synchronize()
    times = []
    for _ in range(10):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        step()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) / 1e3)
    params = sum(p.numel() for p in model.parameters())
    out = dict(
        kind="train_step",
        hidden=h,
        heads=heads,
        layers=layers,
        seq=seq,
        vocab=vocab,
        batch=batch,
        params=params,
        time_s=statistics.median(times),
        time_min_s=min(times),
        time_max_s=max(times),
        peak_memory_bytes=torch.cuda.max_memory_allocated(),
    )
    return out


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    env = {
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "device": torch.cuda.get_device_name(),
    }
    print(json.dumps(env), flush=True)
    rows = []
    configs = [
        # (hidden, heads, layers, seq, vocab, micro-batch): GPT-3 paper sizes 350M, 1.3B, 2.7B (Brown et al. 2020
        # Table 2.1) with a vocabulary padded to a multiple of 128 (Megatron-LM), and 350M with the unpadded
        # GPT-2 vocabulary; 6.7B too on a GPU with more than 100 GB.
        (1024, 16, 24, 2048, 50304, 8),
        (2048, 16, 24, 2048, 50304, 4),
        (2560, 32, 32, 2048, 50304, 2),
        (1024, 16, 24, 2048, 50257, 8),
    ]
    if torch.cuda.get_device_properties(0).total_memory > 100e9:
        configs.append((4096, 32, 32, 2048, 50304, 1))  # 6.7B: 16 bytes per parameter alone is 107 GB
    for cfg in configs:
        try:
            r = step_time(*cfg)
        except Exception as e:  # noqa: BLE001 - a failed config is recorded, the rest goes on
            r = dict(kind="train_step", config=list(cfg), error=repr(e)[:300])
        rows.append(r)
        print(json.dumps(r), flush=True)
    (out / "env.json").write_text(json.dumps(env, indent=1))
    (out / "train_steps.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


if __name__ == "__main__":
    main()
