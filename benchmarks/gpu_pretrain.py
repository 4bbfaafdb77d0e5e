"""The ct-base pretraining step on one GPU, as fast as this code base can run it: bf16, ``torch.compile``
and flash attention, with volumes/s against the H200's dense bf16 limit.

What one step is: the whole MedMPT objective of ``encoders/pretrain_configs/base.yaml`` (MoCo at
slice and scan level with the momentum encoder, image–report contrastive with the text encoder
trained, MAE with mask ratio 0.2, report generation), forward and backward, AdamW step and
momentum update, on a batch of ``(B, 32, 3, 224, 224)`` volumes and 120-token reports. The inputs
are random tensors already on the GPU, so the figure is the model's, without data loading (a
real run needs ``num_workers`` to keep up; see docs/encoders.md).

How the speed is obtained:

* ``torch.autocast`` in bf16 (fp32 master weights, no grad scaler);
* ``torch.compile`` of the model's forward (default mode; the first steps compile);
* scaled-dot-product attention restricted to the flash and memory-efficient kernels
  (``torch.nn.attention.sdpa_kernel``): PyTorch's ``TransformerEncoderLayer`` calls SDPA when it
  needs no attention weights, as here; the script records which backends were allowed and
  whether the flash kernel is available on the device;
* TF32 matmuls for what stays in fp32.

What it reports: volumes/s over the timed steps, the FLOPs of one step counted with
``torch.utils.flop_counter`` (forward and backward, on the eager model), the achieved TFLOP/s
and its share of the H200's 989 TFLOP/s dense bf16 peak, and volumes/s against the issue's
reference of ≈ 0.56 TFLOP per ct-base volume (≈ 1,400 volumes/s at the limit). A time budget
(``--budget-s``, default 480) stops the timed loop so that the whole run fits in 10 minutes.

Usage::

    python -m benchmarks.gpu_pretrain                           # ct-base on cuda:0, batch 8
    python -m benchmarks.gpu_pretrain --model ct-tiny --device cpu --steps 3 --no-compile   # the CPU check

Writes ``benchmarks/results/gpu_pretrain.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks._common import machine, write_results

ROOT = Path(__file__).resolve().parents[1]
H200_BF16_DENSE_TFLOPS = 989.0
ISSUE_TFLOP_PER_VOLUME = 0.56
ISSUE_VOLUMES_PER_S_AT_LIMIT = 1400.0


def _attention_context(device: torch.device) -> tuple[contextlib.AbstractContextManager, dict[str, Any]]:
    """Flash and memory-efficient SDPA only, on CUDA; what was allowed and what the device has."""
    info: dict[str, Any] = {"backends": "default (CPU)"}
    if device.type != "cuda":
        return contextlib.nullcontext(), info
    from torch.nn.attention import SDPBackend, sdpa_kernel

    info = {
        "backends": ["FLASH_ATTENTION", "EFFICIENT_ATTENTION"],
        "flash_available": bool(torch.backends.cuda.is_flash_attention_available()),
        "flash_enabled": bool(torch.backends.cuda.flash_sdp_enabled()),
    }
    return sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION]), info


def build(model: str, config: Path, device: torch.device):  # noqa: ANN201
    """The pretraining model, its optimiser, and the config it was built from."""
    from kgdx.encoders.factory import get_model_config
    from kgdx.encoders.pretrain.config import load_pretrain_config
    from kgdx.encoders.pretrain.model import PretrainModel
    from kgdx.encoders.pretrain.trainer import _param_groups

    cfg = load_pretrain_config(config, model=model)
    enc_cfg = get_model_config(cfg.model)
    torch.manual_seed(0)
    m = PretrainModel(enc_cfg, cfg).to(device)
    opt = torch.optim.AdamW(_param_groups(m, cfg.optim.weight_decay), lr=cfg.optim.lr, fused=device.type == "cuda")
    return m, opt, cfg, enc_cfg


def make_batch(enc_cfg, cfg, batch: int, device: torch.device) -> dict[str, torch.Tensor]:  # noqa: ANN001
    p = enc_cfg.preprocess
    shape = (batch, p.num_slices, len(p.windows), p.image_size, p.image_size)  # (B, S, C, H, W)
    g = torch.Generator(device="cpu").manual_seed(0)
    length = cfg.report.max_length
    ids = torch.randint(1000, 20000, (batch, length), generator=g)
    ids[:, 0] = 101  # [CLS]
    ids[:, -1] = 102  # [SEP]
    return {
        "view1": torch.randn(shape, generator=g).to(device),
        "view2": torch.randn(shape, generator=g).to(device),
        "input_ids": ids.to(device),
        "attention_mask": torch.ones(batch, length, dtype=torch.long).to(device),
    }


def step(model, opt, fwd, b: dict[str, torch.Tensor], amp: torch.dtype | None, clip: float) -> float:  # noqa: ANN001
    ctx = torch.autocast(b["view1"].device.type, dtype=amp) if amp is not None else contextlib.nullcontext()
    with ctx:
        losses = fwd(b["view1"], b["view2"], b["input_ids"], b["attention_mask"])
    opt.zero_grad(set_to_none=True)
    losses["total"].backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    opt.step()
    model.momentum_step()
    return float(losses["total"].detach())


def count_flops(model, opt, b: dict[str, torch.Tensor], amp: torch.dtype | None) -> float:  # noqa: ANN001
    """FLOPs of one eager step (forward and backward), counted by ``torch.utils.flop_counter``."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc:
        step(model, opt, model, b, amp, 3.0)
    return float(fc.get_total_flops())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="ct-base", help="CT encoder config (default ct-base)")
    ap.add_argument("--config", type=Path, default=ROOT / "encoders" / "pretrain_configs" / "base.yaml")
    ap.add_argument("--device", default="cuda:0" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", type=int, default=8, help="volumes per step")
    ap.add_argument("--steps", type=int, default=50, help="timed steps (at most; see --budget-s)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps first (compilation happens here)")
    ap.add_argument("--budget-s", type=float, default=480.0, help="stop the timed loop after this many seconds")
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile (the CPU check)")
    ap.add_argument("--no-flops", action="store_true", help="skip the FLOP count")
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/results/gpu_pretrain.json)")
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device; pass --device cpu for the CPU check", file=sys.stderr)
        return 2
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    amp = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else None
    model, opt, cfg, enc_cfg = build(args.model, args.config, device)
    model.train()
    b = make_batch(enc_cfg, cfg, args.batch, device)
    flops = None if args.no_flops else count_flops(model, opt, b, amp)
    compiled = not args.no_compile
    fwd = torch.compile(model) if compiled else model
    attn, attn_info = _attention_context(device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    with attn:
        t0 = time.perf_counter()
        for _ in range(args.warmup):
            step(model, opt, fwd, b, amp, cfg.optim.grad_clip)
        sync()
        warm_s = time.perf_counter() - t0
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        done, t0 = 0, time.perf_counter()
        loss = float("nan")
        while done < args.steps and time.perf_counter() - t0 < args.budget_s:
            loss = step(model, opt, fwd, b, amp, cfg.optim.grad_clip)
            done += 1
        sync()
        timed = time.perf_counter() - t0
    vps = args.batch * done / timed if done else 0.0
    out: dict[str, Any] = {
        "machine": machine(),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "model": enc_cfg.name,
        "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
        "batch": args.batch,
        "input_shape": list(b["view1"].shape),
        "precision": "bf16 autocast" if amp is not None else "fp32",
        "compiled": compiled,
        "attention": attn_info,
        "losses": sorted(cfg.losses.enabled()),
        "warmup_steps": args.warmup,
        "warmup_and_compile_s": round(warm_s, 1),
        "timed_steps": done,
        "timed_s": round(timed, 2),
        "volumes_per_s": round(vps, 2),
        "last_loss": round(loss, 4),
        "wall_s": round(time.perf_counter() - t_start, 1),
        "data_loading": "excluded (random tensors on the device)",
    }
    if flops is not None:
        per_volume = flops / args.batch
        out.update(
            flop_per_volume_step=round(per_volume / 1e12, 4),
            flop_counted_by="torch.utils.flop_counter, eager fwd+bwd of one step, per volume (TFLOP)",
            achieved_tflops=round(vps * per_volume / 1e12, 2),
            share_of_h200_bf16_dense_peak=round(vps * per_volume / 1e12 / H200_BF16_DENSE_TFLOPS, 4),
        )
    out["share_of_issue_reference"] = {
        "reference": f"{ISSUE_TFLOP_PER_VOLUME} TFLOP per ct-base volume, ~{ISSUE_VOLUMES_PER_S_AT_LIMIT:.0f} volumes/s "
        "at the H200 dense bf16 limit",
        "share": round(vps / ISSUE_VOLUMES_PER_S_AT_LIMIT, 4) if enc_cfg.name == "ct-base" else None,
    }
    if device.type == "cuda":
        out["cuda_peak_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    path = write_results("gpu_pretrain", out, args.out)
    print(
        f"{enc_cfg.name} pretraining step on {out['device']}: {vps:.2f} volumes/s "
        f"(batch {args.batch}, {done} timed steps, {out['precision']}, compiled={compiled})"
    )
    if flops is not None:
        print(
            f"{out['flop_per_volume_step']} TFLOP per volume-step -> {out['achieved_tflops']} TFLOP/s, "
            f"{100 * out['share_of_h200_bf16_dense_peak']:.1f}% of the H200's {H200_BF16_DENSE_TFLOPS:.0f} TFLOP/s"
        )
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
