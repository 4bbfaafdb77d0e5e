"""Training the phenotype model on real cases and cases simulated from the KG (``kgdx train``).

Reproducible: the same KG, cases, config and seed give the same checkpoint. The loss is the
softmax cross-entropy of the true disease over every disease in the KG. Each batch mixes real
cases (a share ``real_rate``) with cases simulated from the KG, so diseases no real case shows are
still learned from their neighbourhood.

Held-out real cases (``kgdx train --real`` holds out whole cohorts of the training folder) choose
the best step and then calibrate the best model's probabilities (:mod:`kgdx.reasoning.calibrate`);
without them, simulated cases from a separate seed choose the step. A further folder of real
phenopackets can be given for a learning curve; it is only measured, never trained on or used to
choose. Each evaluation writes ``last.pt`` (resumable) and, when validation improves, ``best.pt``;
``history.jsonl`` and ``learning_curves.png`` show the curves.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kgdx import checkpoints
from kgdx.encoders.schedule import cosine_warmup
from kgdx.kg.store import KGStore
from kgdx.reasoning.checkpoint import KIND, save_checkpoint
from kgdx.reasoning.evidence import CaseEvidence, EvidenceExtractor
from kgdx.reasoning.index import KGIndex
from kgdx.reasoning.metrics import RankingMetrics, gold_rank
from kgdx.reasoning.model import EvidenceGNN, EvidenceGNNConfig
from kgdx.reasoning.simulate import CaseSimulator, SimulationConfig

__all__ = ["TrainConfig", "train", "calibrate_checkpoint", "RealCase", "held_out_cohort", "held_out_by"]

#: A real case as term indices: (observed, excluded, gold disease index or None if not in the KG).
RealCase = tuple[list[int], list[int], int | None]


@dataclass
class TrainConfig:
    """Everything ``kgdx train`` varies; saved in the checkpoint."""

    steps: int = 500
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-4
    warmup: int = 100
    seed: int = 0
    eval_every: int = 250
    val_cases: int = 400
    init: str | None = None  # a checkpoint to start from (fine-tuning)
    focus: tuple[str, ...] = ()  # disease ids to sample more often (e.g. a new module's)
    focus_rate: float = 0.5  # share of cases drawn from `focus`
    real_rate: float = 0.0  # share of each batch drawn from the real training cases (when given)
    leave_paper_out: bool = False  # real cases see their gold without their own paper's annotations
    holdout: float = 0.2  # share of the real cohorts held out (`held_out_cohort`), recorded for calibration
    holdout_fold: int = 0  # which fold of that share is held out
    model: EvidenceGNNConfig = field(default_factory=EvidenceGNNConfig)
    simulation: SimulationConfig = field(default_factory=SimulationConfig)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        d = dict(d)
        model = EvidenceGNNConfig(**d.pop("model", {}))
        sim = d.pop("simulation", {})
        sim = SimulationConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in sim.items()})
        d["focus"] = tuple(d.get("focus", ()))
        return cls(**d, model=model, simulation=sim)


def held_out_cohort(cohort: str, share: float, seed: int = 0, fold: int = 0) -> bool:
    """Whether a cohort (a phenopacket's folder) is held out: a stable hash of its name, so the
    same cohorts are held out on every machine and whole cohorts, never single cases, are kept out.

    ``fold`` k holds out the cohorts whose hash h/2^64 lies in [k*share, (k+1)*share): with share
    1/K, folds 0..K-1 split the cohorts into K disjoint parts, so K models, each holding out one
    fold, score every case out-of-fold (for calibration). Fold 0 is the plain ``h/2^64 < share``.
    """
    import hashlib

    h = int.from_bytes(hashlib.sha256(f"{seed}:{cohort}".encode()).digest()[:8], "big") / 2**64
    return fold * share <= h < (fold + 1) * share


def held_out_by(train_config: dict[str, Any], cohort: str) -> bool:
    """Whether the checkpoint whose saved ``train_config`` this is held ``cohort`` out of training.

    Checkpoints from before ``holdout`` was recorded were all trained with ``--holdout 0.2``, fold 0,
    which the defaults give.
    """
    c = TrainConfig()
    share = float(train_config.get("holdout", c.holdout))
    return held_out_cohort(
        cohort, share, int(train_config.get("seed", c.seed)), int(train_config.get("holdout_fold", 0))
    )


def _seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _lr(step: int, c: TrainConfig) -> float:
    return cosine_warmup(step, c.warmup, c.steps, peak=c.lr)


@torch.no_grad()
def _validate(model: EvidenceGNN, batches: list[tuple[CaseEvidence, list[int]]]) -> dict[str, float]:
    model.eval()
    m = RankingMetrics()
    for ev, gold in batches:
        scores = model(ev).numpy()
        for row, g in zip(scores, gold):
            m.add(gold_rank(row, g) if g is not None else None)
    model.train()
    return m.summary()["overall"]


def train(
    store: KGStore,
    config: TrainConfig | None = None,
    out_dir: str | Path = "runs/phenotype",
    *,
    dev_cases: list[RealCase] | None = None,
    real_cases: list[RealCase] | None = None,
    holdout_cases: list[RealCase] | None = None,
    real_papers: list[str | None] | None = None,
    resume: bool = False,
    progress: bool = True,
    index: KGIndex | None = None,
) -> dict[str, Any]:
    """Train an :class:`EvidenceGNN` on ``store``'s KG and write checkpoints to ``out_dir``.

    Args:
        store: The KG to simulate from.
        config: Training settings.
        out_dir: Where checkpoints, ``history.jsonl`` and the learning-curve plot go.
        dev_cases: Optional real cases, measured at each evaluation; never trained on or used to choose.
        real_cases: Real training cases (those with a gold disease in the KG are used), drawn for
            a share ``config.real_rate`` of each batch.
        holdout_cases: Real cases kept out of training: they choose the best step and calibrate it.
        real_papers: The PubMed id of each of ``real_cases`` (``None`` where unknown): with
            ``config.leave_paper_out``, a case's gold is seen without the annotations its own
            paper gave (:class:`~kgdx.reasoning.paper_out.PaperHoldout`).
        resume: Continue from ``out_dir/last.pt``.
        progress: Draw a progress bar.
        index: ``store``'s :class:`KGIndex`, when the caller already has it (built otherwise).

    Returns:
        A summary: best validation figures, steps, seconds and the checkpoint paths.
    """
    from kgdx.progress import progress as bar

    c = config or TrainConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _seed(c.seed)
    if c.init:
        from kgdx.reasoning.checkpoint import load_checkpoint

        model, _ = load_checkpoint(c.init)
        model.train()
        c.model = model.config
    else:
        model = EvidenceGNN(c.model)
    if index is None:
        index = KGIndex.for_store(store, text=True) if c.model.uses_text else KGIndex.from_store(store)
    elif c.model.uses_text:
        index.with_text(store, progress=progress)
    extractor = EvidenceExtractor.for_model(index, c.model)
    sim = CaseSimulator(index, c.simulation, seed=c.seed)
    val_sim = CaseSimulator(index, c.simulation, seed=c.seed + 10_000)
    focus = [index.disease_index[d] for d in c.focus if d in index.disease_index]
    focus = [d for d in focus if d in set(sim.diseases.tolist())]
    rng = np.random.default_rng(c.seed + 1)

    def draw(s: CaseSimulator, r: np.random.Generator):  # noqa: ANN202
        return s.sample(int(r.choice(focus)) if focus and r.random() < c.focus_rate else None)

    val_rng = np.random.default_rng(c.seed + 10_001)
    val_cases = [draw(val_sim, val_rng) for _ in range(c.val_cases)]
    val = [
        (
            CaseEvidence.batch(
                [extractor(v.observed, v.excluded, None, v.gene_diseases) for v in val_cases[i : i + 64]]
            ),
            [v.disease for v in val_cases[i : i + 64]],
        )
        for i in range(0, len(val_cases), 64)
    ]
    dev = [(extractor(o, x), [g]) for o, x, g in dev_cases] if dev_cases else None
    held = [(extractor(o, x), [g]) for o, x, g in holdout_cases] if holdout_cases else None
    papers = list(real_papers) if real_papers is not None else [None] * len(real_cases or ())
    if len(papers) != len(real_cases or ()):
        raise ValueError(f"real_papers names {len(papers)} papers for {len(real_cases or ())} real cases")
    real = [(r, p) for r, p in zip(real_cases or (), papers) if r[2] is not None]
    if c.real_rate > 0 and not real:
        raise ValueError("real_rate > 0 needs real training cases with a disease in the KG")
    if c.leave_paper_out:
        from kgdx.reasoning.paper_out import PaperHoldout

        paper_out = PaperHoldout(store, index, extractor)
        real_evidence = lambda r, p: paper_out(r[0], r[1], r[2], p)  # noqa: E731
    else:
        real_evidence = lambda r, p: extractor(r[0], r[1])  # noqa: E731

    def batch() -> tuple[CaseEvidence, list[int]]:
        n_real = int(rng.binomial(c.batch_size, c.real_rate)) if real else 0
        picked = [real[int(i)] for i in rng.integers(len(real), size=n_real)] if n_real else []
        sims = [draw(sim, rng) for _ in range(c.batch_size - n_real)]
        evs = [real_evidence(r, p) for r, p in picked]
        evs += [extractor(s.observed, s.excluded, None, s.gene_diseases) for s in sims]
        return CaseEvidence.batch(evs), [r[2] for r, _ in picked] + [s.disease for s in sims]

    opt = torch.optim.AdamW(model.parameters(), lr=c.lr, weight_decay=c.weight_decay)
    start, history, best = 0, [], -1.0
    if resume and (out / "last.pt").is_file():
        blob = checkpoints.read(out / "last.pt", kinds=(KIND,))
        model.load_state_dict(blob["state_dict"])
        opt.load_state_dict(blob["optimizer"])
        start, history, best = blob["meta"]["step"], blob["meta"]["history"], blob["meta"]["best"]
        sim.rng = np.random.default_rng([c.seed, start])  # a fresh stream per resume point
    t0 = time.perf_counter()
    losses: list[float] = []
    with bar("training", c.steps - start, enabled=progress) as advance:
        for step in range(start, c.steps):
            for g in opt.param_groups:
                g["lr"] = _lr(step, c)
            ev, gold = batch()
            loss = torch.nn.functional.cross_entropy(model(ev), torch.tensor(gold))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            losses.append(loss.item())
            advance(1)
            if (step + 1) % c.eval_every == 0 or step + 1 == c.steps:
                row = {
                    "step": step + 1,
                    "loss": float(np.mean(losses)),
                    "lr": _lr(step, c),
                    "val": _validate(model, val),
                    "seconds": round(time.perf_counter() - t0, 1),
                }
                if held is not None:
                    row["holdout"] = _validate(model, held)
                if dev is not None:
                    row["dev"] = _validate(model, dev)
                losses = []
                history.append(row)
                (out / "history.jsonl").write_text("".join(json.dumps(h) + "\n" for h in history))
                info = {"train_config": asdict(c), "step": step + 1, "history": history, "best": best}
                chosen = row["holdout" if held is not None else "val"]["top1"]
                if chosen > best:
                    best = chosen
                    info["best"] = best
                    save_checkpoint(model, out / "best.pt", meta=info)
                save_checkpoint(model, out / "last.pt", meta=info, optimizer=opt.state_dict())
    _plot(history, out / "learning_curves.png")
    calibration = calibrate_checkpoint(out / "best.pt", holdout_cases, index) if holdout_cases else None
    return {
        "best_val_top1": best,
        "calibration": calibration,
        "steps": c.steps,
        "seconds": round(time.perf_counter() - t0, 1),
        "best": str(out / "best.pt"),
        "last": str(out / "last.pt"),
        "history": history,
    }


@torch.no_grad()
def calibrate_checkpoint(
    path: str | Path,
    cases: list[RealCase],
    index: KGIndex,
    out: str | Path | None = None,
    *,
    top_label: bool = False,
    match_rate: bool = False,
    isotonic: bool = False,
    scored_by: list[str | Path] | None = None,
    gene_diseases: list[list[int]] | None = None,
) -> dict[str, Any]:
    """Fit a checkpoint's calibration on real cases it was not trained on.

    First the temperature and "not in the KG" logit by likelihood, then, with ``top_label``, a
    Platt (or isotonic) map of the top answer's probability on the same cases.
    ``kgdx train --real`` calls this on its held-out cohorts; ``kgdx calibrate --holdout`` on the
    same cohorts again, or on any folder the model never saw. ``kgdx calibrate --oof`` scores each
    case with the fold model that held its cohort out (``scored_by``): out-of-fold scores over a
    whole folder are many more cases to fit on than one model's held-out share.

    Args:
        path: The checkpoint.
        cases: Real cases as term indices, gold ``None`` when the disease is not in the KG.
        index: The KG index the term and disease indices refer to.
        out: Where to save the calibrated checkpoint (default: over ``path``).
        top_label: Also fit the top answer's map (off by default, as in the shipped checkpoint);
            without it, any map the checkpoint had is dropped.
        isotonic: Fit the top answer's map as an isotonic regression (:func:`fit_top_isotonic`),
            not Platt (implies ``top_label``).
        match_rate: Set the not-in-KG logit so that "not in the KG" is as likely on average as it
            is among ``cases``, the temperature by likelihood (:func:`fit_rate_matched`).
        scored_by: For each case, the checkpoint whose scores it is fitted on (default: ``path``
            for all); only ``path``'s calibration is written.
        gene_diseases: For each case, the disease indices its genes are associated with: the
            gene-aware term's weight is then fitted too (:func:`fit_gene_weight`).

    Returns:
        The fitted ``temperature``, ``other_logit`` and ``top_label`` map, with the number of cases
        and how many of them are not in the KG.
    """
    from kgdx.reasoning.calibrate import (
        answers,
        fit_calibration,
        fit_gene_weight,
        fit_rate_matched,
        fit_top_isotonic,
        fit_top_label,
    )
    from kgdx.reasoning.checkpoint import load_checkpoint

    if not cases:
        raise ValueError("calibration needs at least one real case")
    by = [str(path)] * len(cases) if scored_by is None else [str(p) for p in scored_by]
    if len(by) != len(cases):
        raise ValueError(f"scored_by names {len(by)} checkpoints for {len(cases)} cases")
    model, meta = load_checkpoint(path)
    scores = torch.zeros(len(cases), index.num_diseases)
    for ckpt in dict.fromkeys(by):
        rows = [i for i, b in enumerate(by) if b == ckpt]
        scores[rows] = _scores(
            model if ckpt == str(path) else load_checkpoint(ckpt)[0], [cases[i] for i in rows], index
        )
    gold = [g for _, _, g in cases]
    c = model.config
    c.top_label = c.top_isotonic = None
    c.temperature, c.other_logit = (fit_rate_matched if match_rate else fit_calibration)(scores.numpy(), gold)
    if top_label or isotonic:
        p, other = model.probabilities(scores)
        _, best, says_other = answers(p.numpy(), other.numpy())
        truth = np.array([-1 if g is None else g for g in gold])
        correct = np.where(says_other, truth == -1, best == truth)
        if 0 < correct.sum() < len(correct):  # a map needs right and wrong answers to learn from
            logits = torch.cat([scores / c.temperature, torch.full((len(scores), 1), c.other_logit)], 1)
            if isotonic:
                c.top_isotonic = fit_top_isotonic(logits, correct)
            else:
                c.top_label = fit_top_label(logits, correct)
    if gene_diseases is not None:
        c.gene_weight = fit_gene_weight(
            scores, gene_diseases, gold, temperature=c.temperature, other_logit=c.other_logit
        )
    meta["calibration"] = {
        "cases": len(gold),
        "not_in_kg": sum(g is None for g in gold),
        "method": (
            "temperature, not-in-KG logit matched to the not-in-KG rate"
            if match_rate
            else "temperature, not-in-KG logit"
        )
        + (", top-label Platt" if c.top_label else "")
        + (", top-label isotonic" if c.top_isotonic else ""),
    }
    if scored_by is not None:
        meta["calibration"]["scored_by"] = {k: by.count(k) for k in dict.fromkeys(by)}
    if gene_diseases is not None:
        meta["calibration"]["gene_weight"] = c.gene_weight
        meta["calibration"]["gene_cases"] = sum(1 for g, d in zip(gold, gene_diseases) if g is not None and d)
    save_checkpoint(model, out or path, meta=meta)
    maps = {"top_label": c.top_label, "top_isotonic": c.top_isotonic}
    return {"temperature": c.temperature, "other_logit": c.other_logit, **maps, **meta["calibration"]}


def _scores(model: EvidenceGNN, cases: list[RealCase], index: KGIndex) -> torch.Tensor:
    """``model``'s scores of every disease for ``cases``, in batches of 64."""
    model.eval()
    extractor = EvidenceExtractor.for_model(index, model.config)
    return torch.cat(
        [
            model(CaseEvidence.batch([extractor(o, x) for o, x, _ in cases[i : i + 64]]))
            for i in range(0, len(cases), 64)
        ]
    )


def _plot(history: list[dict[str, Any]], path: Path) -> None:
    if not history:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [h["step"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(steps, [h["loss"] for h in history])
    a.set(xlabel="step", ylabel="training loss (cross-entropy)", title="loss")
    b.plot(steps, [h["val"]["top1"] for h in history], label="simulated val top-1")
    b.plot(steps, [h["val"]["top10"] for h in history], label="simulated val top-10")
    if "holdout" in history[-1]:
        b.plot(steps, [h["holdout"]["top1"] for h in history], label="held-out train cohorts top-1")
    if "dev" in history[-1]:
        b.plot(steps, [h["dev"]["top1"] for h in history], label="real dev top-1 (measured only)")
    b.set(xlabel="step", ylabel="share of cases", title="validation", ylim=(0, 1))
    b.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
