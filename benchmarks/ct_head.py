"""The CT finding head's stem, side by side: ct-tiny with ViT's patch embedding against ct-tiny
with a convolutional stem, trained from scratch by the same recipe on the same cohort in one run.

Both are trained by :func:`kgdx.encoders.train_ct_head.train_ct_head` (train split only; the
validation split picks the head epoch and calibrates it) with the same seed, epochs, batch size
and learning rate; only ``slice_encoder.stem`` differs. Each is measured on the test split
(held-out seeds) and the held_out split (held-out diseases): per-finding AUROC and its macro mean
over the findings with both classes. The figure is the macro AUROC of each against the other,
on the same cases.

Usage::

    python -m benchmarks.ct_head --cohort COHORT [--cache DIR] [--epochs 20] [--batch-size 8]
    python -m benchmarks.ct_head --cohort COHORT --stems conv --slices pick slab --out benchmarks/results/ct-slices.json

``--baseline CKPT`` measures an existing checkpoint on the same cases in the same run (keyed
``baseline-<file stem>``), for example the shipped head against one trained on a larger cohort
whose prefix is the shipped head's cohort (``kgdx synth`` is prefix-stable: case ``i`` and its
split depend only on the seed and ``i``, so the baseline never sees the new validation, test or
held_out cases). ``--stems`` with no value trains nothing.

``--slices`` varies the slice reduction as well (picked slices, MedMPT's, against averaged slabs)
and ``--context`` the neighbouring slices each slice sees (2.5-D input): one run per combination,
keyed ``<stem>[-<mode>][-context<k>]``.

A 400-case cohort (``kgdx synth --n 400 --seed 100 --size 64x160x160``) takes about 12 minutes a
stem on 2 cores. Writes ``benchmarks/results/ct-head.json``, ``ct-head.png`` (per-finding AUROC,
one bar per stem) and, with ``--save DIR``, each checkpoint as ``DIR/ct-tiny-<stem>.pt``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks._common import RESULTS, write_results


def plot(res: dict[str, Any], path: Path, split: str = "test", title: str | None = None, suffix: str = " stem") -> None:
    """Per-finding AUROC on ``split``, one bar per run in ``res["stems"]`` (named ``<key><suffix>``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from kgdx.encoders.ct_findings import CT_FINDINGS

    names = {f.hpo_id: f.name for f in CT_FINDINGS}
    stems = list(res["stems"])
    ids = list(res["stems"][stems[0]][split]["per_finding"])
    x = np.arange(len(ids))
    fig, ax = plt.subplots(figsize=(11, 4.5))
    for k, stem in enumerate(stems):
        r = res["stems"][stem][split]
        vals = [r["per_finding"][h] if r["per_finding"][h] is not None else np.nan for h in ids]
        ax.bar(x + (k - 0.5) * 0.4, vals, 0.4, label=f"{stem}{suffix} (macro {r['macro_auroc']:.3f})")
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.set_xticks(x, [names.get(h, h) for h in ids], rotation=60, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel(f"AUROC, {split} split")
    title = title or "ct-tiny finding head from scratch: patch vs conv stem"
    ax.set_title(f"{title} ({res['cohort_name']}, {split})")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def recipe_args(ap: argparse.ArgumentParser) -> None:
    """The cohort and the head-training recipe, shared with ``ct_pretrain.py``."""
    ap.add_argument("--cohort", type=Path, required=True, help="a `kgdx synth` cohort folder")
    ap.add_argument("--cache", default=None, help="train_ct_head's cache folder of preprocessed inputs")
    ap.add_argument("--epochs", type=int, default=20, help="stage 1 epochs")
    ap.add_argument("--head-epochs", type=int, default=60, help="stage 2 epochs")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)


def header(cohort: Any, args: argparse.Namespace) -> dict[str, Any]:
    """The results' record of the cohort and recipe; runs go under ``"stems"``."""
    return {
        "cohort": str(args.cohort),
        "cohort_name": args.cohort.name,
        "cohort_seed": cohort.manifest.get("seed"),
        "cases": {s: len(cohort.ids(s)) for s in ("train", "validation", "test", "held_out")},
        "recipe": {k: getattr(args, k) for k in ("epochs", "head_epochs", "batch_size", "lr", "seed")},
        "stems": {},
    }


def head_config(args: argparse.Namespace, **kw: Any) -> Any:  # noqa: ANN401 - CTHeadConfig
    from kgdx.encoders.train_ct_head import CTHeadConfig

    return CTHeadConfig(
        epochs=args.epochs,
        head_epochs=args.head_epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        cache=args.cache,
        **kw,
    )


def measured(cohort: Any, run: dict[str, Any], cache: str | None, name: str) -> dict[str, Any]:
    """One trained head's row: its time and per-finding AUROC on validation, test and held_out."""
    from kgdx.encoders.train_ct_head import cohort_inputs, finding_auroc, predict

    row: dict[str, Any] = {
        "seconds": run["seconds"],
        "best_head_epoch": run["best_head_epoch"],
        "history": run["history"],
    }
    for s in ("validation", "test", "held_out"):
        if s in run:
            row[s] = run[s]
        elif cohort.ids(s):
            enc = run["encoder"]
            data = cohort_inputs(cohort, cohort.ids(s), enc.cfg.preprocess, enc.findings, cache=cache)
            row[s] = finding_auroc(predict(enc, data.base)[1], data.y.numpy(), enc.findings)
    print(
        f"{name}: "
        + ", ".join(f"{s} macro AUROC {row[s]['macro_auroc']:.3f}" for s in ("test", "held_out") if s in row)
        + f" ({row['seconds']} s)"
    )
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    recipe_args(ap)
    ap.add_argument("--stems", nargs="*", default=["patch", "conv"], choices=["patch", "conv"])
    ap.add_argument("--baseline", nargs="+", type=Path, default=[], help="trained checkpoints to measure as well")
    ap.add_argument(
        "--slices",
        nargs="+",
        default=None,
        choices=["pick", "slab"],
        help="also vary preprocess.slices (one run per stem and mode); default: the config's",
    )
    ap.add_argument(
        "--context",
        nargs="+",
        type=int,
        default=None,
        help="also vary slice_encoder.context, the neighbouring slices each slice sees; default: the config's",
    )
    ap.add_argument("--save", type=Path, default=None, help="keep each checkpoint in this folder")
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/results/ct-head.json)")
    args = ap.parse_args(argv)

    from kgdx.encoders.factory import get_model_config, load_checkpoint
    from kgdx.encoders.train_ct_head import train_ct_head
    from kgdx.ingest.cohort import read_cohort

    cohort = read_cohort(args.cohort)
    res = header(cohort, args)
    runs = [(st, m, k) for st in args.stems for m in (args.slices or [None]) for k in (args.context or [None])]
    for ckpt in args.baseline:
        enc = load_checkpoint(str(ckpt), finding_head=True).eval()
        run = {"seconds": 0.0, "best_head_epoch": None, "history": [], "encoder": enc}
        res["stems"][f"baseline-{ckpt.stem}"] = measured(cohort, run, args.cache, f"baseline {ckpt}")
    with tempfile.TemporaryDirectory() as tmp:
        for stem, mode, context in runs:
            cfg = get_model_config("ct-tiny").to_dict()
            cfg["slice_encoder"]["stem"] = stem
            name = stem
            if mode is not None:
                cfg["preprocess"]["slices"] = mode
                name += f"-{mode}"
            if context is not None:
                cfg["slice_encoder"]["context"] = context
                name += f"-context{context}"
            model = Path(tmp) / f"ct-tiny-{name}.json"
            model.write_text(json.dumps(cfg))
            out = (args.save or Path(tmp)) / f"ct-tiny-{name}.pt"
            run = train_ct_head(cohort, out, head_config(args, model=str(model)), progress=sys.stderr.isatty())
            res["stems"][name] = measured(cohort, run, args.cache, name)
    path = write_results("ct-head", res, args.out)
    if len(res["stems"]) == 2 and "test" in next(iter(res["stems"].values())):
        title = "ct-tiny finding head from scratch: " + " vs ".join(res["stems"])
        plot(res, path.with_suffix(".png") if args.out else RESULTS / "ct-head.png", title=title, suffix="")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
