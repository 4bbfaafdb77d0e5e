"""A non-deep baseline for the CT finding head: regional HU histograms and logistic regression.

Each preprocessed volume (the encoder's own input: chest crop, 32 slices, 128 px, in HU) is cut
into 4 slabs × 2 × 2 blocks; each block gives a 28-bin HU histogram (−1000 to 400 HU). One
L2-regularised logistic regression per finding is fitted on the **train split only** and measured
on the test split (held-out seeds) and the held_out split (held-out diseases). It says whether
the inputs carry the findings, independently of how well a ViT learns them.

Usage::

    python -m benchmarks.ct_probe --cohort COHORT [--cache DIR]

Writes ``benchmarks/results/ct-probe.json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from benchmarks._common import machine, write_results


def features(base) -> np.ndarray:  # noqa: ANN001 - (N, S, H, W) int16 HU tensor
    import torch

    b = base.float()
    n, s, h, w = b.shape
    edges = torch.linspace(-1000.0, 400.0, 29)
    out = []
    for z in range(0, s, s // 4):
        for y in range(0, h, h // 2):
            for x in range(0, w, w // 2):
                blk = b[:, z : z + s // 4, y : y + h // 2, x : x + w // 2].reshape(n, -1)
                out.append(
                    torch.stack([((blk >= edges[i]) & (blk < edges[i + 1])).float().mean(1) for i in range(28)], 1)
                )
    return torch.cat(out, 1).numpy()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cohort", type=Path, required=True, help="a `kgdx synth` cohort folder")
    ap.add_argument("--model", default="ct-tiny", help="whose preprocessing to use")
    ap.add_argument("--cache", default=None, help="train_ct_head's cache folder of preprocessed inputs")
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/results/ct-probe.json)")
    args = ap.parse_args(argv)

    from sklearn.linear_model import LogisticRegression

    from kgdx.encoders.ct_findings import CT_FINDING_IDS
    from kgdx.encoders.factory import get_model_config
    from kgdx.encoders.train_ct_head import cohort_inputs, finding_auroc
    from kgdx.ingest.cohort import read_cohort

    cohort = read_cohort(args.cohort)
    cfg = get_model_config(args.model).preprocess
    splits = [s for s in ("train", "test", "held_out") if cohort.ids(s)]
    data = {s: cohort_inputs(cohort, cohort.ids(s), cfg, CT_FINDING_IDS, cache=args.cache) for s in splits}
    x = {s: features(d.base) for s, d in data.items()}
    mu, sd = x["train"].mean(0), x["train"].std(0) + 1e-6
    x = {s: (v - mu) / sd for s, v in x.items()}
    ytr = data["train"].y.numpy()
    res: dict = {"benchmark": "ct_probe", "machine": machine(), "cohort": str(args.cohort), "model": args.model}
    for s in splits[1:]:
        p = np.full((len(x[s]), len(CT_FINDING_IDS)), 0.5)
        for j in range(len(CT_FINDING_IDS)):
            if 0 < ytr[:, j].sum() < len(ytr):
                p[:, j] = LogisticRegression(C=0.05, max_iter=2000).fit(x["train"], ytr[:, j]).predict_proba(x[s])[:, 1]
        res[s] = finding_auroc(p, data[s].y.numpy(), CT_FINDING_IDS)
        print(f"{s}: macro AUROC {res[s]['macro_auroc']:.3f} ({res[s]['cases']} cases)")
    print(f"wrote {write_results('ct-probe', res, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
