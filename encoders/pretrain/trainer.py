"""The pretraining loop: AdamW + cosine warmup, mixed precision, gradient clipping, DDP,
checkpoint and resume, progress bar, loss log and loss plot.

Run it in one process (``kgdx pretrain --config tiny.yaml``) or under ``torchrun`` for DDP
(``torchrun --nproc_per_node 2 -m kgdx.encoders.pretrain --config tiny.yaml``); the same code does
both. What a run writes to ``out_dir``:

* ``checkpoints/last.pt`` (and ``step-NNNNNN.pt`` every ``ckpt_every`` steps): everything needed
  to resume: weights, momentum encoder, queues, optimiser, scheduler, scaler, step;
* ``encoder.pt``: the trained CT encoder alone, for ``load_checkpoint``;
* ``losses.jsonl`` and ``losses.png``.

Resuming restores the step and all state; the data order of the interrupted epoch is redrawn.
"""

from __future__ import annotations

import inspect
import random
import shutil
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from kgdx import checkpoints
from kgdx.encoders.config import CTEncoderCfg
from kgdx.encoders.factory import get_model_config, save_checkpoint
from kgdx.encoders.pretrain.config import PretrainConfig
from kgdx.encoders.pretrain.dataset import CTReportDataset, collate_pairs, worker_init
from kgdx.encoders.pretrain.distributed import DistInfo, all_reduce_mean, cleanup_distributed, setup_distributed
from kgdx.encoders.pretrain.model import PretrainModel
from kgdx.encoders.pretrain.monitor import LossLog, plot_losses
from kgdx.encoders.schedule import cosine_warmup
from kgdx.errors import ConfigError, ModelError

__all__ = ["pretrain", "PretrainResult", "resolve_precision", "cosine_warmup"]


@dataclass
class PretrainResult:
    """What a run produced (on rank 0; other ranks get the same paths)."""

    out_dir: Path
    steps: int
    start_step: int
    first_losses: dict[str, float] = field(default_factory=dict)
    last_losses: dict[str, float] = field(default_factory=dict)
    steps_per_s: float = 0.0
    checkpoint: Path | None = None
    encoder: Path | None = None
    log: Path | None = None
    plot: Path | None = None


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device``; ``None`` means full fp32."""
    if precision == "fp32":
        return None
    if device.type != "cuda":
        if precision == "auto":
            return None  # CPU autocast is slower than fp32 for these models; off
        if precision == "fp16":
            raise ConfigError("fp16 needs a CUDA device; use precision: auto or fp32 on the CPU")
        return torch.bfloat16
    if precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if precision == "bf16" else torch.float16


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    # No decay on biases, norms, tokens and position embeddings (every tensor below 2-D, or named so).
    decay, no_decay, seen = [], [], set()
    for name, p in model.named_parameters():
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        if p.ndim < 2 or "token" in name or "pos_embed" in name or "logit_scale" in name:
            no_decay.append(p)
        else:
            decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _no_buffer_sync() -> dict[str, bool]:
    # Queues stay identical on every rank because keys are gathered before enqueueing, so DDP
    # need not broadcast buffers each forward. Newer torch renamed the switch.
    params = inspect.signature(DistributedDataParallel.__init__).parameters
    return {"forward_sync_buffers": False} if "forward_sync_buffers" in params else {"broadcast_buffers": False}


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def _infinite(loader: DataLoader, sampler: DistributedSampler | None, epoch: int):
    while True:
        if sampler is not None:
            sampler.set_epoch(epoch)
        yield from loader
        epoch += 1


def pretrain(cfg: PretrainConfig, *, progress: bool = True, device: str | None = None) -> PretrainResult:
    """Run (or resume) pretraining as configured; see the module docstring for what it writes.

    Raises:
        ConfigError: for an inconsistent config (no manifest, fp16 on CPU ...).
        DataError: for a bad manifest, volume or report (naming the file and line).
        ModelError: for an unknown model or an unreadable checkpoint.
    """
    if not cfg.data.manifest:
        raise ConfigError("data.manifest is not set; point it at a JSONL/CSV of (volume, report) pairs")
    info = setup_distributed(device)
    try:
        return _run(cfg, info, progress)
    finally:
        cleanup_distributed()


def _run(cfg: PretrainConfig, info: DistInfo, progress: bool) -> PretrainResult:
    enc_cfg = get_model_config(cfg.model)
    if not isinstance(enc_cfg, CTEncoderCfg):
        raise ConfigError(f"model {cfg.model!r} is not a CT encoder config")
    out = Path(cfg.out_dir)
    ckpt_dir = out / "checkpoints"
    _seed_all(cfg.seed)  # same init on every rank; DDP also broadcasts it
    model = PretrainModel(enc_cfg, cfg).to(info.device)
    amp_dtype = resolve_precision(cfg.precision, info.device)
    scaler = torch.amp.GradScaler(info.device.type, enabled=amp_dtype == torch.float16)
    opt = torch.optim.AdamW(_param_groups(model, cfg.optim.weight_decay), lr=cfg.optim.lr, betas=cfg.optim.betas)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: cosine_warmup(s, cfg.optim.warmup_steps, cfg.steps, cfg.optim.min_lr_ratio)
    )
    start = 0
    resume = _resume_path(cfg, ckpt_dir)
    if resume is not None:
        start = _load_state(resume, model, opt, sched, scaler)
    ddp = (
        DistributedDataParallel(
            model,
            device_ids=[info.device.index] if info.device.type == "cuda" else None,
            find_unused_parameters=cfg.find_unused_parameters,
            **_no_buffer_sync(),
        )
        if info.distributed
        else model
    )
    _seed_all(cfg.seed + 1000 * info.rank + start)  # different augmentations per rank and on resume
    data = CTReportDataset(
        cfg.data.manifest,
        enc_cfg.preprocess,
        cfg.augment,
        cache=cfg.data.cache,
        seed=cfg.seed + 1000 * info.rank + start,
    )
    if len(data) < cfg.batch_size * info.world_size:
        raise ConfigError(
            f"the manifest has {len(data)} pairs but one step needs batch_size × processes = "
            f"{cfg.batch_size} × {info.world_size}",
            file=cfg.data.manifest,
        )
    sampler = (
        DistributedSampler(data, info.world_size, info.rank, shuffle=True, seed=cfg.seed) if info.distributed else None
    )
    loader = DataLoader(
        data,
        batch_size=cfg.batch_size,
        shuffle=sampler is None,
        sampler=sampler,
        drop_last=True,
        num_workers=cfg.data.num_workers,
        collate_fn=collate_pairs,
        worker_init_fn=worker_init,
        persistent_workers=cfg.data.num_workers > 0,
    )
    steps_per_epoch = max(1, len(loader))
    batches = _infinite(loader, sampler, start // steps_per_epoch)
    log = LossLog(out / "losses.jsonl")
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        if start:
            log.truncate_after(start)  # a resumed run redoes any steps logged after its checkpoint
        else:
            log.path.unlink(missing_ok=True)
    bar = None
    if progress and info.is_main:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.steps, initial=start, desc=f"pretrain {enc_cfg.name}", unit="step", dynamic_ncols=True)
    result = PretrainResult(out, cfg.steps, start)
    tok = model.text_encoder
    model.train()
    t0, step = time.perf_counter(), start
    while step < cfg.steps:
        batch = next(batches)
        v1 = batch["view1"].to(info.device, non_blocking=True)  # (B, S, C, H, W)
        v2 = batch["view2"].to(info.device, non_blocking=True)
        ids = mask = None
        if tok is not None:
            t = tok.tokenize(batch["report"], max_length=min(cfg.report.max_length, tok.cfg.max_length))
            ids, mask = t["input_ids"].to(info.device), t["attention_mask"].to(info.device)
        autocast = torch.autocast(info.device.type, dtype=amp_dtype) if amp_dtype is not None else nullcontext()
        with autocast:
            losses = ddp(v1, v2, ids, mask)
        total = losses["total"]
        if not torch.isfinite(total):
            raise ModelError(
                f"the loss became {total.item()} at step {step + 1}; lower optim.lr or use precision: fp32"
            )
        opt.zero_grad(set_to_none=True)
        scaler.scale(total).backward()
        scaler.unscale_(opt)
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
        scaler.step(opt)
        scaler.update()
        sched.step()
        model.momentum_step()
        step += 1
        if step % cfg.log_every == 0 or step == cfg.steps or step == start + 1:
            vals = {k: float(v.detach()) for k, v in losses.items()}
            vals = all_reduce_mean(vals, info.device)
            rec = {
                "step": step,
                "lr": sched.get_last_lr()[0],
                "grad_norm": float(grad_norm),
                **vals,
                "time_s": round(time.perf_counter() - t0, 3),
            }
            if info.is_main:
                log.write(rec)
            if not result.first_losses:
                result.first_losses = vals
            result.last_losses = vals
            if bar is not None:
                bar.set_postfix({k: f"{v:.3f}" for k, v in vals.items() if k == "total" or len(vals) < 5})
        if bar is not None:
            bar.update(1)
        if step % cfg.ckpt_every == 0 or step == cfg.steps:
            _save_state(ckpt_dir, step, cfg, enc_cfg, model, opt, sched, scaler, info, keep=step % cfg.ckpt_every == 0)
    if bar is not None:
        bar.close()
    elapsed = time.perf_counter() - t0
    result.steps_per_s = (step - start) / elapsed if elapsed > 0 else 0.0
    result.checkpoint = ckpt_dir / "last.pt"
    result.encoder = out / "encoder.pt"
    result.log = log.path
    result.plot = out / "losses.png"
    if info.is_main:
        save_checkpoint(model.encoder, result.encoder, meta={"pretrain_steps": step, "pretrain_config": cfg.to_dict()})
        if log.path.is_file():
            plot_losses(
                log.path, result.plot, title=f"pretraining {enc_cfg.name} ({step} steps, {info.world_size} proc)"
            )
    return result


def _resume_path(cfg: PretrainConfig, ckpt_dir: Path) -> Path | None:
    if cfg.resume == "never":
        return None
    if cfg.resume == "auto":
        last = ckpt_dir / "last.pt"
        return last if last.is_file() else None
    p = Path(cfg.resume).expanduser()
    if not p.is_file():
        raise ConfigError("resume checkpoint not found", file=p)
    return p


def _save_state(
    ckpt_dir: Path,
    step: int,
    cfg: PretrainConfig,
    enc_cfg: CTEncoderCfg,
    model: PretrainModel,
    opt: torch.optim.Optimizer,
    sched: Any,
    scaler: Any,
    info: DistInfo,
    keep: bool,
) -> None:
    if info.is_main:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        full = model.state_dict()
        if cfg.freeze_text and model.text_encoder is not None:
            # A frozen text encoder is the packaged one; do not copy 90 MB into every checkpoint.
            full = {k: v for k, v in full.items() if not k.startswith("text_encoder.")}
        # The encoder's weights are the checkpoint's state_dict, so it loads as an encoder too.
        checkpoints.save(
            ckpt_dir / "last.pt",
            kind="pretrain",
            config=enc_cfg.to_dict(),
            state_dict=model.encoder.state_dict(),
            meta={"pretrain_config": cfg.to_dict()},
            step=step,
            pretrain_model=full,
            optimizer=opt.state_dict(),
            scheduler=sched.state_dict(),
            scaler=scaler.state_dict(),
            torch_rng=torch.get_rng_state(),
        )
        if keep:
            shutil.copyfile(ckpt_dir / "last.pt", ckpt_dir / f"step-{step:06d}.pt")
    if info.distributed:
        torch.distributed.barrier()


def _load_state(path: Path, model: PretrainModel, opt: torch.optim.Optimizer, sched: Any, scaler: Any) -> int:
    state = checkpoints.read(path, kinds=("pretrain",))
    missing, unexpected = model.load_state_dict(state["pretrain_model"], strict=False)
    missing = [
        k for k in missing if not k.startswith("text_encoder.") and not k.startswith("report_decoder.word_embeddings")
    ]
    if missing or unexpected:
        raise ModelError(
            f"checkpoint does not fit this config: missing {missing[:5]}, unexpected {unexpected[:5]}", file=path
        )
    try:
        opt.load_state_dict(state["optimizer"])
    except ValueError as e:
        raise ModelError(f"optimizer state does not fit this config: {e}", file=path) from None
    sched.load_state_dict(state["scheduler"])
    scaler.load_state_dict(state["scaler"])
    return int(state["step"])
