"""Training the CT encoder's finding head on a synthetic cohort's train split.

The labels are the cohort's CT findings (``labels.jsonl``): for each term of the head
(:data:`kgdx.encoders.ct_findings.CT_FINDINGS`), 1 when the finding is present *and drawn* in the
volume, else 0. Only the train split is trained on; the validation split picks the epoch (macro
AUROC over the findings), and the test split is only measured.

No pretrained CT checkpoint ships with kgdx (see docs/encoders.md), so by default the whole
encoder is trained from random initialisation, with the lesion masks as extra patch- and
slice-level labels, then the slice fusion and head are trained on the frozen slice ViT and the
head is calibrated (see :func:`train_ct_head`); ``--init`` starts from a ``kgdx pretrain``
checkpoint instead, and ``--epochs 0`` keeps its slice ViT as it is (a probe of its features).
The result is an encoder checkpoint (:func:`kgdx.encoders.factory.save_checkpoint`) that
``KGDX_CT_MODEL`` accepts::

    kgdx train-ct-head --cohort cohort --out runs/ct-head/encoder.pt
    KGDX_CT_MODEL=runs/ct-head/encoder.pt kgdx diagnose case.json --ct cohort/ct/synth-000001.nii.gz

Reproducible: the same cohort, config and seed give the same weights (on one thread; several
CPU threads can reorder float sums).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kgdx.encoders.schedule import cosine_warmup
from kgdx.errors import ConfigError, DataError

__all__ = [
    "CTHeadConfig",
    "finding_targets",
    "mask_targets",
    "preprocess_cohort",
    "train_ct_head",
    "calibrate_head",
    "finding_auroc",
    "predict",
]


@dataclass
class CTHeadConfig:
    """Settings of :func:`train_ct_head` (saved in the checkpoint's ``meta``).

    Attributes:
        model: The encoder config (a packaged name such as ``ct-tiny`` or a JSON path).
        init: An encoder checkpoint to start from (e.g. ``kgdx pretrain``'s ``encoder.pt``).
        freeze_encoder: Skip stage 1: keep the slice ViT as loaded (a probe of its features).
        dense: In stage 1, also learn from the lesion masks (patch- and slice-level labels).
        epochs: Stage 1 passes over the train split (the whole encoder).
        batch_size: Volumes per step in stage 1.
        lr: Stage 1 peak AdamW learning rate (linear warm-up for one epoch, then cosine).
        head_epochs: Stage 2 passes (slice fusion and head on cached slice vectors).
        head_lr: Stage 2 learning rate.
        weight_decay: AdamW weight decay.
        flip: Left–right flip augmentation (findings here have no side in the labels).
        patience: Stop stage 2 after this many epochs without a better validation AUROC.
        seed: Seed of initialisation, batch order and augmentation.
    """

    model: str = "ct-tiny"
    init: str | None = None
    freeze_encoder: bool = False
    dense: bool = True
    epochs: int = 12
    batch_size: int = 16
    lr: float = 1e-3
    head_epochs: int = 60
    head_lr: float = 1e-3
    weight_decay: float = 0.05
    flip: bool = True
    patience: int = 15
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 0:
            raise ValueError(f"'epochs' must be at least 0 (got {self.epochs})")
        for k in ("head_epochs", "batch_size", "patience"):
            if getattr(self, k) < 1:
                raise ValueError(f"'{k}' must be at least 1 (got {getattr(self, k)})")
        if not (self.lr > 0 and self.head_lr > 0):
            raise ValueError(f"'lr' and 'head_lr' must be positive (got {self.lr}, {self.head_lr})")


def finding_targets(record: dict[str, Any], findings: tuple[str, ...]) -> np.ndarray:
    """``(F,)`` 0/1: each of ``findings`` present and drawn in the case's volume (a ``labels.jsonl`` record)."""
    shown = {f["id"] for f in record.get("ct_findings", []) if f.get("present") and f.get("drawn")}
    return np.array([h in shown for h in findings], np.float32)


def preprocess_cohort(cohort, ids: list[str], cfg, *, progress: bool = False) -> torch.Tensor:  # noqa: ANN001
    """The encoder inputs of the cohort's volumes ``(N, S, C, H, W)``, float16 to halve memory."""
    from kgdx.encoders.preprocess import CTPreprocessor
    from kgdx.progress import progress as bar

    pre = CTPreprocessor(cfg)
    out = []
    with bar("preprocessing CT", len(ids), enabled=progress) as advance:
        for cid in ids:
            out.append(pre(cohort.volume(cid)).to(torch.float16))
            advance(1)
    if not out:
        raise DataError("no volumes to preprocess", file=getattr(cohort, "root", None))
    return torch.stack(out)


def finding_auroc(probs: np.ndarray, targets: np.ndarray, findings: tuple[str, ...]) -> dict[str, Any]:
    """Per-finding AUROC (``None`` where a finding has one class only) and their macro mean."""
    from sklearn.metrics import roc_auc_score

    def auroc(y: np.ndarray, s: np.ndarray) -> float | None:
        return float(roc_auc_score(y, s)) if 0 < y.sum() < len(y) else None

    per = {h: auroc(targets[:, j], probs[:, j]) for j, h in enumerate(findings)}
    vals = [v for v in per.values() if v is not None]
    return {
        "macro_auroc": float(np.mean(vals)) if vals else None,
        "per_finding": per,
        "positives": {h: int(targets[:, j].sum()) for j, h in enumerate(findings)},
        "cases": int(len(targets)),
    }


@torch.no_grad()
def predict(encoder, x: torch.Tensor, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    """Scan embeddings ``(N, D)`` and finding probabilities ``(N, F)`` of preprocessed volumes."""
    was = encoder.training
    encoder.eval()
    embs, probs = [], []
    try:
        for i in range(0, len(x), batch_size):
            out = encoder(x[i : i + batch_size].float())
            embs.append(out.scan_embedding.numpy())
            probs.append(out.finding_probs.numpy())
    finally:
        encoder.train(was)
    return np.concatenate(embs), np.concatenate(probs)


def mask_targets(cohort, ids: list[str], cfg, findings: tuple[str, ...], patch_size: int) -> torch.Tensor:  # noqa: ANN001
    """Patch-level finding labels from the cohort's lesion masks: ``(N, S, L, F)`` 0/1, where patch
    ``l`` of encoder slice ``s`` shows finding ``f``. The mask goes through the same slice
    selection, padding and resizing (nearest) as the volume, so patches line up with the ViT's."""
    from monai.transforms import Compose, Resize

    from kgdx.encoders.transforms import PadToSquare, UniformSliceSample

    values = {
        int(k): findings.index(v["id"])
        for k, v in cohort.manifest.get("mask_labels", {}).items()
        if v["id"] in findings
    }
    steps = [UniformSliceSample(cfg.num_slices)]
    if cfg.pad_to_square:
        steps.append(PadToSquare(0.0))
    steps.append(Resize((cfg.image_size, cfg.image_size), mode="nearest"))
    chain = Compose(steps)
    out = []
    for cid in ids:
        m = (
            torch.as_tensor(chain(torch.from_numpy(cohort.volume(cid, "ct_mask").array.astype(np.float32))))
            .round()
            .long()
        )
        onehot = torch.zeros(m.shape[0], len(findings), *m.shape[1:])  # (S, F, H, W)
        for v, j in values.items():
            onehot[:, j] = (m == v).float()
        patches = torch.nn.functional.max_pool2d(onehot, patch_size)  # (S, F, h, w)
        out.append(patches.flatten(2).transpose(1, 2).to(torch.uint8))  # (S, L, F)
    return torch.stack(out)


def _pos_weight(y: torch.Tensor, dims: tuple[int, ...], cap: float) -> torch.Tensor:
    p = y.float().mean(dims)
    return ((1 - p) / p.clamp(min=1e-4)).clamp(1.0, cap)


@torch.no_grad()
def _slice_cls(encoder, x: torch.Tensor, batch_size: int = 32) -> torch.Tensor:  # noqa: ANN001
    encoder.eval()
    return torch.cat([encoder(x[i : i + batch_size].float()).slice_cls for i in range(0, len(x), batch_size)])


def calibrate_head(encoder, logits: np.ndarray, targets: np.ndarray, *, l2: float = 1.0) -> dict[str, list[float]]:  # noqa: ANN001
    """Fit, per finding, ``p = sigmoid(a · logit + c)`` on held-out logits (L2 pull towards a = 1,
    c = 0) and fold it into the head's last linear layer, so that the saved head's probabilities
    are calibrated: the KG reads them as edge weights and thresholds them."""
    z = torch.from_numpy(logits).double()
    y = torch.from_numpy(targets).double()
    log_a = torch.zeros(z.shape[1], dtype=torch.float64, requires_grad=True)
    c = torch.zeros(z.shape[1], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_a, c], lr=0.5, max_iter=200)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        a = log_a.exp()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(a * z + c, y, reduction="sum")
        loss = loss + l2 * ((a - 1) ** 2 + c**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    a, c = log_a.detach().exp().float(), c.detach().float()
    last = [m for m in encoder.finding_head.net if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        last.weight.mul_(a[:, None])
        last.bias.mul_(a).add_(c)
    return {"scale": [round(float(v), 4) for v in a], "shift": [round(float(v), 4) for v in c]}


def train_ct_head(
    cohort: Any,
    out: str | Path,
    config: CTHeadConfig | None = None,
    *,
    inputs: dict[str, torch.Tensor] | None = None,
    progress: bool = True,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train a CT encoder with its finding head on ``cohort``'s train split and save it to ``out``.

    Two stages, both on the train split:

    1. The whole encoder learns from the scan-level labels and, when the cohort has lesion masks
       (``dense``), from patch- and slice-level labels read off the masks through two linear
       heads used only in training. The dense labels say *where* a finding is, which a ViT
       trained from scratch on a few hundred scans cannot find out from scan labels alone.
    2. The slice ViT is frozen; the slice-fusion transformer and the finding head are trained on
       its cached slice vectors (fast), keeping the epoch with the best validation macro AUROC.

    Finally the head is calibrated on the validation split (:func:`calibrate_head`).

    Args:
        cohort: A :class:`kgdx.synth.Cohort` or its folder.
        out: The checkpoint file to write.
        config: Settings.
        inputs: Preprocessed volumes by split (``train``, ``validation``, optionally ``test``),
            as :func:`preprocess_cohort` makes them, to skip preprocessing.
        progress: Draw progress bars.
        on_epoch: Called with each epoch's row of the history.

    Returns:
        The checkpoint path, the history, the calibration, and the per-finding AUROC on
        validation (and on test when the cohort has test cases); ``encoder`` is the model.
    """
    from kgdx.encoders.factory import create_encoder, load_checkpoint, save_checkpoint
    from kgdx.ingest.cohort import read_cohort
    from kgdx.progress import progress as bar

    c = config or CTHeadConfig()
    cohort = read_cohort(cohort) if isinstance(cohort, (str, Path)) else cohort
    torch.manual_seed(c.seed)
    rng = np.random.default_rng(c.seed)
    if c.init:
        encoder = load_checkpoint(c.init, finding_head=True)
        if encoder.finding_head is None:
            raise ConfigError(f"the model of {c.init!r} has no finding head in its config")
    else:
        encoder = create_encoder(c.model)
    findings = encoder.findings
    if not findings:
        raise ConfigError(f"the model {c.model!r} has no finding head in its config")
    ids = {s: cohort.ids(s) for s in ("train", "validation", "test")}
    if not ids["train"] or not ids["validation"]:
        raise DataError(
            f"the cohort needs train and validation cases (got {len(ids['train'])} and {len(ids['validation'])})",
            file=cohort.root,
        )
    inputs = dict(inputs or {})
    for s in ("train", "validation", "test"):
        if s not in inputs and ids[s]:
            inputs[s] = preprocess_cohort(cohort, ids[s], encoder.cfg.preprocess, progress=progress)
    y = {
        s: torch.from_numpy(np.stack([finding_targets(cohort.labels[i], findings) for i in ids[s]]))
        for s in ids
        if ids[s]
    }
    pcfg, vcfg = encoder.cfg.preprocess, encoder.cfg.slice_encoder
    dense = c.dense and bool(cohort.manifest.get("mask_labels")) and not c.freeze_encoder
    masks = mask_targets(cohort, ids["train"], pcfg, findings, vcfg.patch_size) if dense else None
    F, D = len(findings), vcfg.width
    aux_patch, aux_slice = torch.nn.Linear(D, F), torch.nn.Linear(D, F)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    # Rare findings would otherwise be learnt as "never": weight positives by the class ratio
    # (calibration at the end undoes the shift this gives the probabilities).
    pw = _pos_weight(y["train"], (0,), 20.0)
    pw_patch = _pos_weight(masks, (0, 1, 2), 50.0) if dense else None
    pw_slice = _pos_weight(masks.amax(2), (0, 1), 50.0) if dense else None

    n = len(ids["train"])
    history: list[dict[str, Any]] = []
    t0 = time.perf_counter()

    def log(row: dict[str, Any]) -> None:
        row["seconds"] = round(time.perf_counter() - t0, 1)
        history.append(row)
        if on_epoch is not None:
            on_epoch(row)

    # -- stage 1: the whole encoder ----------------------------------------------------------------
    if not c.freeze_encoder and c.epochs:
        params = [*encoder.parameters(), *aux_patch.parameters(), *aux_slice.parameters()]
        decay = [p for p in params if p.ndim >= 2]
        opt = torch.optim.AdamW(
            [
                {"params": decay, "weight_decay": c.weight_decay},
                {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
            ],
            lr=c.lr,
        )
        steps_per_epoch = math.ceil(n / c.batch_size)
        total, step = steps_per_epoch * c.epochs, 0
        with bar("training CT encoder", total, enabled=progress) as advance:
            for epoch in range(1, c.epochs + 1):
                encoder.train()
                order = rng.permutation(n)
                losses = []
                for b in range(steps_per_epoch):
                    idx = torch.from_numpy(order[b * c.batch_size : (b + 1) * c.batch_size])
                    x = inputs["train"][idx].float()  # (B, S, C, H, W)
                    flip = (
                        torch.from_numpy(rng.random(len(idx)) < 0.5)
                        if c.flip
                        else torch.zeros(len(idx), dtype=torch.bool)
                    )
                    x[flip] = x[flip].flip(-1)
                    for g in opt.param_groups:
                        g["lr"] = cosine_warmup(step, steps_per_epoch, total, peak=c.lr)
                    out_ = encoder(x)
                    loss = bce(out_.finding_logits, y["train"][idx], pos_weight=pw)
                    if dense:
                        B, S = x.shape[:2]
                        side = pcfg.image_size // vcfg.patch_size
                        m = masks[idx].float().view(B, S, side, side, F)
                        m[flip] = m[flip].flip(3)  # the patch grid flips with the image
                        m = m.view(B, S, side * side, F)
                        tokens = out_.vit.tokens[:, 1:].reshape(B, S, side * side, D)
                        loss = (
                            loss
                            + bce(aux_patch(tokens), m, pos_weight=pw_patch)
                            + bce(aux_slice(out_.slice_cls), m.amax(2), pos_weight=pw_slice)
                        )
                    opt.zero_grad()
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(params, 3.0)
                    opt.step()
                    losses.append(loss.item())
                    step += 1
                    advance(1)
                log({"stage": 1, "epoch": epoch, "loss": round(float(np.mean(losses)), 5)})

    # -- stage 2: slice fusion and head on the frozen slice ViT ------------------------------------
    cache = {s: _slice_cls(encoder, inputs[s]) for s in ("train", "validation")}  # (N, S, D)
    if c.flip:
        cache["train_flip"] = _slice_cls(encoder, inputs["train"].flip(-1))
    params = [*encoder.fusion.parameters(), *encoder.finding_head.parameters()]
    opt = torch.optim.AdamW(params, lr=c.head_lr, weight_decay=c.weight_decay)
    best, best_epoch, best_state, stale = -1.0, 0, None, 0
    for epoch in range(1, c.head_epochs + 1):
        encoder.train()
        order = torch.from_numpy(rng.permutation(n))
        losses = []
        for b in range(0, n, 32):
            idx = order[b : b + 32]
            xs = cache["train"][idx]
            if c.flip:
                flip = torch.from_numpy(rng.random(len(idx)) < 0.5)
                xs = torch.where(flip[:, None, None], cache["train_flip"][idx], xs)
            loss = bce(encoder.finding_head(encoder.fusion(xs)[0]), y["train"][idx], pos_weight=pw)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        encoder.eval()
        with torch.no_grad():
            pv = torch.sigmoid(encoder.finding_head(encoder.fusion(cache["validation"])[0])).numpy()
        val = finding_auroc(pv, y["validation"].numpy(), findings)["macro_auroc"] or 0.0
        log({"stage": 2, "epoch": epoch, "loss": round(float(np.mean(losses)), 5), "val_macro_auroc": round(val, 4)})
        if val > best:
            best, best_epoch, stale = val, epoch, 0
            best_state = {k: v.detach().clone() for k, v in encoder.state_dict().items()}
        else:
            stale += 1
            if stale >= c.patience:
                break
    encoder.load_state_dict(best_state)
    encoder.eval()
    with torch.no_grad():
        zv = encoder.finding_head(encoder.fusion(cache["validation"])[0]).numpy()
    calibration = calibrate_head(encoder, zv, y["validation"].numpy())
    summary: dict[str, Any] = {
        "best_head_epoch": best_epoch,
        "history": history,
        "dense": dense,
        "seconds": round(time.perf_counter() - t0, 1),
        "train_cases": n,
        "calibration": calibration,
    }
    for s in ("validation", "test"):
        if s in inputs and s in y:
            _, p = predict(encoder, inputs[s])
            summary[s] = finding_auroc(p, y[s].numpy(), findings)
    meta = {
        "trained_by": "kgdx.encoders.train_ct_head",
        "config": asdict(c),
        "cohort": str(cohort.root),
        "cohort_seed": cohort.manifest.get("seed"),
        "cohort_n": cohort.manifest.get("n"),
        "labels": "ct_findings present and drawn (+ lesion masks when dense), train split only; "
        "head epoch chosen and calibrated on validation",
        **{k: summary[k] for k in summary if k != "history"},
        "history": history,
    }
    summary["path"] = str(save_checkpoint(encoder, out, meta=meta))
    summary["encoder"] = encoder
    return summary


def format_auroc_table(result: dict[str, Any], names: dict[str, str] | None = None) -> str:
    """A plain-text table of per-finding AUROC with the positives behind each."""
    names = names or {}
    lines = [f"{'finding':<48} {'AUROC':>6} {'pos':>5}"]
    for h, a in result["per_finding"].items():
        label = f"{h} {names.get(h, '')}".strip()[:48]
        lines.append(f"{label:<48} {(f'{a:.3f}') if a is not None else '   n/a':>6} {result['positives'][h]:>5}")
    m = result["macro_auroc"]
    lines.append(
        f"{'macro (findings with both classes)':<48} {(f'{m:.3f}') if m is not None else 'n/a':>6} {result['cases']:>5}"
    )
    return "\n".join(lines)
