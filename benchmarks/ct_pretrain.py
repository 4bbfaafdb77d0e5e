"""Does MedMPT pretraining help ct-tiny's finding head? Pretrained against scratch, same budget.

In one run on one ``kgdx synth`` cohort:

1. pretrain ct-tiny (its packaged config, conv stem) with the five MedMPT objectives of
   ``encoders/pretrain_configs/tiny.yaml`` (MoCo slice and scan, image–report ITC, MAE, report
   generation) on the **train split's** volumes and generated reports only, for ``--steps``
   steps; its loss log says what each objective does over training;
2. train the finding head twice by :func:`kgdx.encoders.train_ct_head.train_ct_head`'s recipe
   (same seed, epochs, batch size, learning rate): once from scratch, once starting from the
   pretrained encoder (``CTHeadConfig.init``);
3. measure both on the test split (held-out seeds) and the held_out split (held-out diseases):
   per-finding AUROC and the macro mean over findings with both classes.

The pretraining steps are extra compute the scratch run does not get; "same budget" here means
the same head-training recipe, which is the question a user faces (start from the pretrained
weights or not).

Usage::

    python -m benchmarks.ct_pretrain --cohort COHORT [--cache DIR] [--steps 400] [--epochs 20]

Writes ``benchmarks/results/ct-pretrain.json``, ``ct-pretrain.png`` (per-finding AUROC, scratch
against pretrained) and ``ct-pretrain-losses.png`` (the pretraining losses).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks._common import RESULTS, write_results
from benchmarks.ct_head import head_config, header, measured, plot, recipe_args

ROOT = Path(__file__).resolve().parents[1]
PRETRAIN_CONFIG = ROOT / "encoders" / "pretrain_configs" / "tiny.yaml"


def train_manifest(cohort: Any, folder: Path) -> Path:
    """A pretraining manifest of the train split's volumes and reports (never another split's)."""
    train = set(cohort.ids("train"))
    rows = [json.loads(line) for line in (cohort.root / "pretrain_manifest.jsonl").read_text().splitlines() if line]
    outside = [r["case"] for r in rows if r["case"] not in train]
    if outside:
        raise SystemExit(f"the cohort's pretrain manifest holds {len(outside)} cases outside train: {outside[:3]}")
    out = folder / "train-pairs.jsonl"
    out.write_text(
        "".join(
            json.dumps({"volume": str(cohort.root / r["volume"]), "report_path": str(cohort.root / r["report_path"])})
            + "\n"
            for r in rows
        )
    )
    return out


def loss_summary(log: Path, window: int = 20) -> dict[str, dict[str, float]]:
    """Each loss's mean over the first and the last ``window`` logged steps."""
    rows = [json.loads(line) for line in log.read_text().splitlines() if line]
    keys = [k for k in rows[0] if k not in ("step", "time_s", "lr", "grad_norm")]
    head, tail = rows[:window], rows[-window:]
    return {
        k: {
            "first": round(statistics.fmean(r[k] for r in head), 4),
            "last": round(statistics.fmean(r[k] for r in tail), 4),
        }
        for k in keys
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    recipe_args(ap)
    ap.add_argument("--steps", type=int, default=400, help="pretraining steps (batch 4)")
    ap.add_argument("--save", type=Path, default=None, help="keep the encoder and both heads in this folder")
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/results/ct-pretrain.json)")
    args = ap.parse_args(argv)

    from kgdx.encoders.pretrain.config import load_pretrain_config
    from kgdx.encoders.pretrain.trainer import pretrain
    from kgdx.encoders.train_ct_head import train_ct_head
    from kgdx.ingest.cohort import read_cohort

    cohort = read_cohort(args.cohort)
    res = header(cohort, args)  # runs under "stems", as in ct_head.py: "scratch" and "pretrained"
    progress = sys.stderr.isatty()
    with tempfile.TemporaryDirectory() as tmp:
        keep = args.save or Path(tmp)
        keep.mkdir(parents=True, exist_ok=True)
        cfg = load_pretrain_config(
            PRETRAIN_CONFIG,
            out_dir=str(Path(tmp) / "pretrain"),
            steps=args.steps,
            manifest=str(train_manifest(cohort, Path(tmp))),
        )
        pre = pretrain(cfg, progress=progress)
        res["pretraining"] = {
            "config": str(PRETRAIN_CONFIG.relative_to(ROOT)),
            "model": cfg.model,
            "steps": pre.steps,
            "batch_size": cfg.batch_size,
            "pairs": res["cases"]["train"],
            "steps_per_s": round(pre.steps_per_s, 3),
            "losses": loss_summary(Path(pre.log)),
        }
        print(f"pretrained {cfg.model} for {pre.steps} steps at {pre.steps_per_s:.2f} steps/s")
        for k, v in res["pretraining"]["losses"].items():
            print(f"  {k:<11} {v['first']:9.4f} -> {v['last']:9.4f}")
        figures = Path(args.out).parent if args.out else RESULTS
        figures.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(pre.plot, figures / "ct-pretrain-losses.png")
        encoder = keep / "ct-tiny-pretrained-encoder.pt"
        shutil.copyfile(pre.encoder, encoder)

        for name, init in (("scratch", None), ("pretrained", str(encoder))):
            run = train_ct_head(
                cohort, keep / f"ct-tiny-head-{name}.pt", head_config(args, init=init), progress=progress
            )
            res["stems"][name] = measured(cohort, run, args.cache, name)
    path = write_results("ct-pretrain", res, args.out)
    plot(res, path.with_suffix(".png"), title="ct-tiny finding head: from scratch vs MedMPT-pretrained", suffix="")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
