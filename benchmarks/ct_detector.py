"""A lesion detector on a trained CT finding head: the same encoder and head with and without it,
on the same cases, in one run.

The detector (``finding_head.detector``, :func:`kgdx.encoders.train_ct_head.fit_detector`) is a
small MLP over the frozen slice ViT's patch tokens, fitted on the train split's patch labels (read
off the lesion masks), whose highest patch logits are stacked with the scan head on the
validation split. The encoder, the fusion and the scan head are those of ``--init``, unchanged,
so the difference between the two rows is the detector alone. The test split (held-out seeds) and
the held_out split (held-out diseases) are only measured.

Per finding it also reports the detector's own scan score (its pooled patch logits, no
stacking), to show which findings it sees.

Usage::

    python -m benchmarks.ct_detector --cohort COHORT [--init ct-tiny-phantom] [--cache DIR] [--save CKPT]

Writes ``benchmarks/results/ct-detector.json`` and ``ct-detector.png`` (per-finding AUROC on test,
before and after), and with ``--save`` the checkpoint with the detector, whose ``meta`` records
the parent checkpoint, the cohort and the figures.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks._common import RESULTS, write_results
from benchmarks.ct_head import plot

SPLITS = ("validation", "test", "held_out")


def with_detector(base: Any) -> Any:  # noqa: ANN401 - CTEncoder
    """A copy of ``base`` (a CT encoder with a trained finding head) that also has a detector,
    not yet fitted: until :func:`fit_detector` it scores exactly as ``base`` does."""
    from kgdx.encoders.ct_encoder import CTEncoder

    cfg = copy.deepcopy(base.cfg)
    cfg.finding_head.detector = True
    enc = CTEncoder(cfg)
    missing, unexpected = enc.load_state_dict(base.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("finding_head.") for k in missing), (missing, unexpected)
    return enc.eval()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cohort", type=Path, required=True, help="a `kgdx synth` cohort folder with lesion masks")
    ap.add_argument("--init", default="ct-tiny-phantom", help="a trained finding-head checkpoint (name or path)")
    ap.add_argument("--cache", default=None, help="train_ct_head's cache folder of preprocessed inputs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--save", type=Path, default=None, help="write the checkpoint with the detector here")
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/results/ct-detector.json)")
    args = ap.parse_args(argv)

    import torch

    from kgdx.encoders.factory import load_checkpoint, save_checkpoint
    from kgdx.encoders.train_ct_head import cohort_inputs, finding_auroc, fit_detector, predict, window
    from kgdx.ingest.cohort import read_cohort

    torch.manual_seed(args.seed)
    cohort = read_cohort(args.cohort)
    base = load_checkpoint(args.init, finding_head=True).eval()
    enc = with_detector(base)
    pcfg, patch, findings = base.cfg.preprocess, base.cfg.slice_encoder.patch_size, base.findings
    progress = sys.stderr.isatty()
    data = {
        s: cohort_inputs(
            cohort,
            cohort.ids(s),
            pcfg,
            findings,
            patch_size=patch if s == "train" else None,
            cache=args.cache,
            progress=progress,
        )
        for s in ("train", *SPLITS)
        if cohort.ids(s)
    }
    t0 = time.perf_counter()
    stack = fit_detector(enc, data["train"], data["validation"], seed=args.seed, progress=progress)
    seconds = round(time.perf_counter() - t0, 1)

    res: dict[str, Any] = {
        "cohort": str(args.cohort),
        "cohort_name": args.cohort.name,
        "cohort_seed": cohort.manifest.get("seed"),
        "cases": {s: len(cohort.ids(s)) for s in ("train", *SPLITS)},
        "init": str(base.weights.get("checkpoint")),
        "init_sha256": base.weights.get("sha256"),
        "detector_seconds": seconds,
        "detector": stack,
        "stems": {"scan head": {}, "with detector": {}},
        "detector_alone": {},
    }
    for s in SPLITS:
        if s not in data:
            continue
        y = data[s].y.numpy()
        res["stems"]["scan head"][s] = finding_auroc(predict(base, data[s].base)[1], y, findings)
        stacked, alone = [], []
        with torch.no_grad():  # one pass gives the stacked probabilities and the detector's own score
            for i in range(0, len(data[s].base), 16):
                out = enc(window(data[s].base[i : i + 16], pcfg))
                stacked.append(out.finding_probs)
                alone.append(enc.finding_head.pool(out.patch_logits))
        res["stems"]["with detector"][s] = finding_auroc(torch.cat(stacked).numpy(), y, findings)
        res["detector_alone"][s] = finding_auroc(torch.cat(alone).numpy(), y, findings)
        print(
            f"{s}: macro AUROC scan head {res['stems']['scan head'][s]['macro_auroc']:.3f}, with detector "
            f"{res['stems']['with detector'][s]['macro_auroc']:.3f}, detector alone "
            f"{res['detector_alone'][s]['macro_auroc']:.3f}"
        )
    if args.save:
        meta = dict(base.weights.get("meta") or {})
        meta.update(
            {
                "detector": {
                    **stack,
                    "parent": res["init"],
                    "parent_sha256": res["init_sha256"],
                    "fitted_by": "benchmarks.ct_detector (kgdx.encoders.train_ct_head.fit_detector)",
                    "cohort": str(args.cohort),
                },
                **{s: res["stems"]["with detector"][s] for s in ("validation", "test") if s in data},
                "reproduce": f"{meta.get('reproduce', 'train ' + res['init'])}; then python -m benchmarks.ct_detector "
                f"--cohort {args.cohort.name} --init <that checkpoint> --seed {args.seed} --save {args.save.name}",
            }
        )
        print(f"saved {save_checkpoint(enc, args.save, meta=meta)}")
    path = write_results("ct-detector", res, args.out)
    if "test" in res["stems"]["scan head"]:
        png = path.with_suffix(".png") if args.out else RESULTS / "ct-detector.png"
        plot(res, png, title="ct-tiny finding head with and without the lesion detector", suffix="")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
