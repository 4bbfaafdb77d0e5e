"""Training the CT encoder's finding head on a synthetic cohort's train split.

The labels are the cohort's CT findings (``labels.jsonl``): for each term of the head
(:data:`kgdx.encoders.ct_findings.CT_FINDINGS`), 1 when the finding is present *and drawn* in the
volume, else 0. Only the train split is trained on; the validation split picks the epoch (macro
AUROC over the findings) and calibrates the head, and the test split is only measured.

Two stages (see :func:`train_ct_head`): the whole encoder learns from the scan labels and, with
``dense``, from patch- and slice-level labels read off the lesion masks; then the slice fusion
and the head are refit on the frozen slice ViT and calibrated. The encoder starts from random
weights, or from a ``kgdx pretrain`` checkpoint with ``init`` (``epochs=0`` then keeps its slice
ViT as it is: a probe of its features).

With ``robust`` (the default) every training batch is re-"scanned" in HU before windowing: a
random blur or edge enhancement (another reconstruction kernel), added noise (another dose) and
a small HU offset (another scanner's calibration), plus a left–right flip. This is domain
randomisation over acquisitions, so that a model trained on one set of scanners holds on others
(held-out kernels, thicknesses and noise in ``benchmarks/encoders.py``).

The result is an encoder checkpoint (:func:`kgdx.encoders.factory.save_checkpoint`) that
``KGDX_CT_MODEL`` accepts::

    kgdx train-ct-head --cohort cohort --out runs/ct-head/encoder.pt
    KGDX_CT_MODEL=runs/ct-head/encoder.pt kgdx diagnose case.json --ct cohort/ct/synth-000001.nii.gz

Reproducible: the same cohort, config and seed give the same weights (on one thread; several
CPU threads can reorder float sums).
"""

from __future__ import annotations

import hashlib
import json
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
    "CohortInputs",
    "finding_targets",
    "cohort_inputs",
    "mask_targets",
    "preprocess_cohort",
    "window",
    "acquisition_augment",
    "train_ct_head",
    "calibrate_head",
    "fit_detector",
    "finding_auroc",
    "predict",
    "format_auroc_table",
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
        flip: Left–right flip augmentation (the labels have no side).
        robust: Acquisition augmentation in stage 1 (:func:`acquisition_augment`).
        patience: Stop stage 2 after this many epochs without a better validation AUROC.
        seed: Seed of initialisation, batch order and augmentation.
        cache: A folder where preprocessed inputs are kept between runs (``None``: none).
    """

    model: str = "ct-tiny"
    init: str | None = None
    freeze_encoder: bool = False
    dense: bool = True
    epochs: int = 20
    batch_size: int = 8
    lr: float = 1e-3
    head_epochs: int = 60
    head_lr: float = 1e-3
    weight_decay: float = 0.05
    flip: bool = True
    robust: bool = True
    patience: int = 15
    seed: int = 0
    cache: str | None = None

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


@dataclass
class CohortInputs:
    """Preprocessed cases of one split, kept compactly.

    Attributes:
        ids: The case ids, in order.
        base: ``(N, S, H, W)`` ``int16`` HU slices after crop, slice selection and resizing
            (windowing happens per batch, after augmentation).
        patches: ``(N, S, L, F)`` ``uint8`` patch-level finding labels from the masks, or ``None``.
        y: ``(N, F)`` float scan-level labels.
    """

    ids: list[str]
    base: torch.Tensor
    patches: torch.Tensor | None
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.ids)


def _mask_values(cohort, findings: tuple[str, ...]) -> dict[int, int]:  # noqa: ANN001
    return {
        int(k): findings.index(v["id"])
        for k, v in cohort.manifest.get("mask_labels", {}).items()
        if v["id"] in findings
    }


def _patches(labels: torch.Tensor, values: dict[int, int], n_find: int, patch: int) -> torch.Tensor:
    """``(S, H, W)`` mask values → ``(S, L, F)`` ``uint8``: patch ``l`` of slice ``s`` shows finding ``f``."""
    onehot = torch.zeros(labels.shape[0], n_find, *labels.shape[1:])  # (S, F, H, W)
    for v, j in values.items():
        onehot[:, j] = torch.maximum(onehot[:, j], (labels == v).float())
    pooled = torch.nn.functional.max_pool2d(onehot, patch)  # (S, F, h, w)
    return pooled.flatten(2).transpose(1, 2).to(torch.uint8)


def cohort_inputs(
    cohort,  # noqa: ANN001 - kgdx.ingest.cohort.Cohort
    ids: list[str],
    cfg,  # noqa: ANN001 - PreprocessCfg
    findings: tuple[str, ...],
    *,
    patch_size: int | None = None,
    cache: str | Path | None = None,
    progress: bool = False,
) -> CohortInputs:
    """Preprocess the cohort's cases ``ids`` (and, with ``patch_size``, their masks) once.

    With ``cache``, the result is kept in that folder under a hash of the cohort, the ids and the
    preprocessing, and read back by later runs.
    """
    from kgdx.encoders.preprocess import CTPreprocessor
    from kgdx.progress import progress as bar

    if not ids:
        raise DataError("no volumes to preprocess", file=getattr(cohort, "root", None))
    key = hashlib.sha256(
        json.dumps(
            [
                str(Path(cohort.root).resolve()),
                cohort.manifest.get("seed"),
                cohort.manifest.get("n"),
                ids,
                asdict(cfg),
                list(findings),
                patch_size,
            ],
            default=str,
        ).encode()
    ).hexdigest()[:16]
    path = Path(cache) / f"ct-inputs-{key}.pt" if cache else None
    if path is not None and path.is_file():
        d = torch.load(path, weights_only=False)
        return CohortInputs(d["ids"], d["base"], d["patches"], d["y"])
    pre = CTPreprocessor(cfg)
    values = _mask_values(cohort, findings) if patch_size else {}
    bases, patches = [], []
    with bar("preprocessing CT", len(ids), enabled=progress) as advance:
        for cid in ids:
            vol = cohort.volume(cid)
            box = pre.box(vol)
            bases.append(pre.base(vol, box).round().clamp(-1024, 3071).to(torch.int16))
            if patch_size and values:
                lab = pre.labels(cohort.volume(cid, "ct_mask").array, box)
                patches.append(_patches(lab, values, len(findings), patch_size))
            advance(1)
    y = torch.from_numpy(np.stack([finding_targets(cohort.labels[i], findings) for i in ids]))
    out = CohortInputs(list(ids), torch.stack(bases), torch.stack(patches) if patches else None, y)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save({"ids": out.ids, "base": out.base, "patches": out.patches, "y": out.y}, tmp)
        tmp.replace(path)
    return out


def window(base: torch.Tensor, cfg) -> torch.Tensor:  # noqa: ANN001 - PreprocessCfg
    """HU slices ``(..., S, H, W)`` → encoder input ``(..., S, C, H, W)``: the config's windows,
    clipped to [0, 1], then normalised (the same as :class:`~kgdx.encoders.preprocess.CTPreprocessor`)."""
    x = base.float()
    chans = [((x - (lvl - w / 2)) / w).clamp(0.0, 1.0) for w, lvl in cfg.windows]
    return (torch.stack(chans, dim=-3) - cfg.mean) / cfg.std


def preprocess_cohort(cohort, ids: list[str], cfg, *, progress: bool = False) -> torch.Tensor:  # noqa: ANN001
    """The encoder inputs of the cohort's volumes ``(N, S, C, H, W)``, float16 to halve memory."""
    inp = cohort_inputs(cohort, ids, cfg, (), progress=progress)
    return window(inp.base, cfg).to(torch.float16)


def mask_targets(cohort, ids: list[str], cfg, findings: tuple[str, ...], patch_size: int) -> torch.Tensor:  # noqa: ANN001
    """Patch-level finding labels from the cohort's lesion masks: ``(N, S, L, F)`` 0/1, where patch
    ``l`` of encoder slice ``s`` shows finding ``f``. The mask goes through the same crop, slice
    selection, padding and resizing (nearest) as the volume, so patches line up with the ViT's."""
    inp = cohort_inputs(cohort, ids, cfg, findings, patch_size=patch_size)
    if inp.patches is None:
        raise DataError("the cohort has no mask labels for these findings", file=getattr(cohort, "root", None))
    return inp.patches


def _blur_kernel(sigma: float) -> torch.Tensor:
    r = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / max(sigma, 1e-3)) ** 2)
    return k / k.sum()


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable in-plane Gaussian blur of ``(N, H, W)``."""
    k = _blur_kernel(sigma)
    r = (len(k) - 1) // 2
    y = torch.nn.functional.conv2d(
        torch.nn.functional.pad(x[:, None], (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1)
    )
    y = torch.nn.functional.conv2d(torch.nn.functional.pad(y, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1))
    return y[:, 0]


def acquisition_augment(base: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Re-"scan" HU slices ``(B, S, H, W)``: per volume, a random kernel (blur σ up to 0.9 px, or
    edge enhancement up to 1.2), added noise (SD up to 14 HU, white or grainy) and an HU offset
    (±12), each with probability 0.5–0.8. Returns a new float tensor."""
    out = base.float().clone()
    for b in range(out.shape[0]):
        u = torch.rand(6, generator=gen)
        v = out[b]  # (S, H, W)
        if u[0] < 0.35:
            v = _blur(v, 0.3 + 0.6 * float(u[1]))
        elif u[0] < 0.7:
            v = v + (0.3 + 0.9 * float(u[1])) * (v - _blur(v, 1.2))
        if u[2] < 0.8:
            noise = torch.randn(v.shape, generator=gen)
            if u[3] < 0.5:
                noise = _blur(noise, 0.7)
                noise = noise / noise.std().clamp(min=1e-6)
            v = v + 14.0 * float(u[4]) * noise
        if u[5] < 0.5:
            v = v + float(torch.empty(1).uniform_(-12.0, 12.0, generator=gen))
        out[b] = v
    return out


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
    """Scan embeddings ``(N, D)`` and finding probabilities ``(N, F)``: of preprocessed volumes
    ``(N, S, C, H, W)``, or of HU slices ``(N, S, H, W)`` (windowed here)."""
    was = encoder.training
    encoder.eval()
    embs, probs = [], []
    try:
        for i in range(0, len(x), batch_size):
            xb = x[i : i + batch_size]
            xb = window(xb, encoder.cfg.preprocess) if xb.ndim == 4 else xb.float()
            out = encoder(xb)
            embs.append(out.scan_embedding.numpy())
            probs.append(out.finding_probs.numpy())
    finally:
        encoder.train(was)
    return np.concatenate(embs), np.concatenate(probs)


def _pos_weight(y: torch.Tensor, dims: tuple[int, ...], cap: float) -> torch.Tensor:
    p = y.float().mean(dims)
    return ((1 - p) / p.clamp(min=1e-4)).clamp(1.0, cap)


@torch.no_grad()
def _slice_cls(encoder, base: torch.Tensor, batch_size: int = 32, flip: bool = False) -> torch.Tensor:  # noqa: ANN001
    encoder.eval()
    out = []
    for i in range(0, len(base), batch_size):
        xb = window(base[i : i + batch_size], encoder.cfg.preprocess)
        out.append(encoder(xb.flip(-1) if flip else xb).slice_cls)
    return torch.cat(out)


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


@torch.no_grad()
def _patch_tokens(encoder, base: torch.Tensor, batch_size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: ANN001
    """The frozen slice ViT's patch tokens ``(N, S, L, D)`` (float16) and the scan head's logits
    ``(N, F)`` for HU slices ``(N, S, H, W)``."""
    encoder.eval()
    head, toks, logits = encoder.finding_head, [], []
    for i in range(0, len(base), batch_size):
        x = window(base[i : i + batch_size], encoder.cfg.preprocess)
        vit = encoder.encode_slices(x)
        b, s = x.shape[:2]
        toks.append(vit.tokens[:, 1:].reshape(b, s, -1, vit.tokens.shape[-1]).half())
        logits.append(head(encoder.fusion(vit.cls.view(b, s, -1))[0]))
    return torch.cat(toks), torch.cat(logits)


def fit_detector(
    encoder,  # noqa: ANN001 - CTEncoder with finding_head.detector
    train: CohortInputs,
    validation: CohortInputs,
    *,
    epochs: int = 20,
    lr: float = 3e-3,
    seed: int = 0,
    l2: float = 0.1,
    progress: bool = True,
) -> dict[str, Any]:
    """Fit the finding head's lesion detector, then stack it with the scan head.

    1. On the train split, the detector learns each patch's findings from the frozen slice
       ViT's patch tokens, against the patch labels read off the lesion masks (``train.patches``;
       positives weighted by the class ratio, up to 50). The tokens are standardised first and the
       standardisation folded into its first layer.
    2. On the validation split, per finding, ``w_scan · scan logit + w_det · detector score + b``
       is fitted by logistic regression with an L2 pull towards the scan head alone
       ``(1, 0, 0)``. The scan head is already calibrated there, so a finding the detector does not
       help keeps ``w_det`` near 0, and the result is calibrated too.

    The slice ViT, the fusion and the scan head are not changed. Returns the stacking weights and
    the detector's training loss per epoch.
    """
    from kgdx.progress import progress as bar

    head = encoder.finding_head
    if head is None or head.detector is None:
        raise ConfigError("the model has no lesion detector (set finding_head.detector in its config)")
    if train.patches is None:
        raise DataError("the lesion detector learns from lesion masks; the cohort's train split has none")
    x = _patch_tokens(encoder, train.base)[0].flatten(0, 2)  # (N * S * L, D)
    y = train.patches.flatten(0, 2).float()  # (N * S * L, F)
    mu = x.float().mean(0)
    sd = x.float().std(0).clamp(min=1e-6)
    net = head.detector
    with torch.random.fork_rng():  # a seeded start that leaves the caller's random state alone
        torch.manual_seed(seed)
        for m in net.modules():
            if isinstance(m, torch.nn.Linear):
                m.reset_parameters()
    net.train()
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    pw = _pos_weight(y, (0,), 50.0)
    batch, losses = 8192, []
    with bar("fitting lesion detector", epochs, enabled=progress) as advance:
        for _ in range(epochs):
            order, total = torch.randperm(len(x), generator=gen), 0.0
            for i in range(0, len(x), batch):
                j = order[i : i + batch]
                loss = torch.nn.functional.binary_cross_entropy_with_logits(
                    net((x[j].float() - mu) / sd), y[j], pos_weight=pw
                )
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item() * len(j)
            losses.append(round(total / len(x), 5))
            advance(1)
    net.eval()
    first = net[0] if isinstance(net, torch.nn.Sequential) else net
    with torch.no_grad():  # fold the standardisation into the first layer
        first.bias.sub_((first.weight * (mu / sd)).sum(1))
        first.weight.div_(sd)
    del x, y
    tokens, scan = _patch_tokens(encoder, validation.base)
    with torch.no_grad():
        det = torch.cat([head.pool(head.detect(t.float())) for t in tokens.split(16)]).double()
    z, t = scan.double(), validation.y.double()
    w = torch.tensor([1.0, 0.0], dtype=torch.float64).repeat(z.shape[1], 1).requires_grad_(True)
    c = torch.zeros(z.shape[1], dtype=torch.float64, requires_grad=True)
    lbfgs = torch.optim.LBFGS([w, c], lr=0.5, max_iter=200)
    prior = torch.tensor([1.0, 0.0], dtype=torch.float64)

    def closure() -> torch.Tensor:
        lbfgs.zero_grad()
        logit = w[:, 0] * z + w[:, 1] * det + c
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logit, t, reduction="sum")
        loss = loss + l2 * (((w - prior) ** 2).sum() + (c**2).sum())
        loss.backward()
        return loss

    lbfgs.step(closure)
    with torch.no_grad():
        head.stack_weight.copy_(w.detach().float())
        head.stack_bias.copy_(c.detach().float())
    return {
        "detector_loss": losses,
        "stack_weight": [[round(float(v), 4) for v in row] for row in w.detach()],
        "stack_bias": [round(float(v), 4) for v in c.detach()],
    }


def train_ct_head(
    cohort: Any,
    out: str | Path,
    config: CTHeadConfig | None = None,
    *,
    inputs: dict[str, torch.Tensor | CohortInputs] | None = None,
    progress: bool = True,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train a CT encoder with its finding head on ``cohort``'s train split and save it to ``out``.

    Two stages, both on the train split:

    1. The whole encoder learns from the scan-level labels and, when the cohort has lesion masks
       (``dense``), from patch- and slice-level labels read off the masks through two linear
       heads used only in training. The dense labels say *where* a finding is, which a ViT
       cannot find out from a few hundred scan labels alone. Batches are augmented (flip, and
       with ``robust`` another kernel, dose and calibration).
    2. The slice ViT is frozen; the slice-fusion transformer and the finding head are trained on
       its cached slice vectors (fast), keeping the epoch with the best validation macro AUROC.

    Finally the head is calibrated on the validation split (:func:`calibrate_head`) and, when the
    model has a lesion detector (``finding_head.detector``), the detector is fitted on the train
    split's patch tokens and stacked with the head on validation (:func:`fit_detector`).

    Args:
        cohort: A :class:`kgdx.ingest.cohort.Cohort` or its folder.
        out: The checkpoint file to write.
        config: Settings.
        inputs: Preprocessed splits (``train``, ``validation``, optionally ``test``), as
            :func:`cohort_inputs` makes them, to skip preprocessing.
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
    gen = torch.Generator().manual_seed(c.seed)
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
    pcfg, vcfg = encoder.cfg.preprocess, encoder.cfg.slice_encoder
    dense = c.dense and bool(cohort.manifest.get("mask_labels")) and not c.freeze_encoder
    detector = encoder.finding_head.detector is not None
    if detector and not cohort.manifest.get("mask_labels"):
        raise DataError(
            "the model's lesion detector (finding_head.detector) learns from lesion masks, and the cohort has none",
            file=cohort.root,
        )
    data: dict[str, CohortInputs] = {}
    for s in ("train", "validation", "test"):
        if not ids[s]:
            continue
        need_masks = (dense or detector) and s == "train"
        given = (inputs or {}).get(s)
        if isinstance(given, CohortInputs) and (given.patches is not None or not need_masks):
            data[s] = given
        else:
            data[s] = cohort_inputs(
                cohort,
                ids[s],
                pcfg,
                findings,
                patch_size=vcfg.patch_size if need_masks else None,
                cache=c.cache,
                progress=progress,
            )
    train = data["train"]
    masks = train.patches if dense else None
    dense = masks is not None
    F, D = len(findings), vcfg.width
    aux_patch, aux_slice = torch.nn.Linear(D, F), torch.nn.Linear(D, F)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    # Rare findings would otherwise be learnt as "never": weight positives by the class ratio
    # (calibration at the end undoes the shift this gives the probabilities).
    pw = _pos_weight(train.y, (0,), 20.0)
    pw_patch = _pos_weight(masks, (0, 1, 2), 50.0) if dense else None
    pw_slice = _pos_weight(masks.amax(2), (0, 1), 50.0) if dense else None

    n = len(train)
    history: list[dict[str, Any]] = []
    t0 = time.perf_counter()

    def log(row: dict[str, Any]) -> None:
        row["seconds"] = round(time.perf_counter() - t0, 1)
        history.append(row)
        if on_epoch is not None:
            on_epoch(row)

    def val_auroc() -> float:
        _, p = predict(encoder, data["validation"].base)
        return finding_auroc(p, data["validation"].y.numpy(), findings)["macro_auroc"] or 0.0

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
        side = pcfg.image_size // vcfg.patch_size
        with bar("training CT encoder", total, enabled=progress) as advance:
            for epoch in range(1, c.epochs + 1):
                encoder.train()
                order = rng.permutation(n)
                losses = []
                for b in range(steps_per_epoch):
                    idx = torch.from_numpy(order[b * c.batch_size : (b + 1) * c.batch_size])
                    hu = acquisition_augment(train.base[idx], gen) if c.robust else train.base[idx].float()
                    flip = (
                        torch.from_numpy(rng.random(len(idx)) < 0.5)
                        if c.flip
                        else torch.zeros(len(idx), dtype=torch.bool)
                    )
                    hu[flip] = hu[flip].flip(-1)
                    x = window(hu, pcfg)  # (B, S, C, H, W)
                    for g in opt.param_groups:
                        g["lr"] = cosine_warmup(step, steps_per_epoch, total, peak=c.lr)
                    out_ = encoder(x)
                    loss = bce(out_.finding_logits, train.y[idx], pos_weight=pw)
                    if dense:
                        B, S = x.shape[:2]
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
                log(
                    {
                        "stage": 1,
                        "epoch": epoch,
                        "loss": round(float(np.mean(losses)), 5),
                        "val_macro_auroc": round(val_auroc(), 4),
                    }
                )

    # -- stage 2: slice fusion and head on the frozen slice ViT ------------------------------------
    cache = {s: _slice_cls(encoder, data[s].base) for s in ("train", "validation")}  # (N, S, D)
    if c.flip:
        cache["train_flip"] = _slice_cls(encoder, train.base, flip=True)
    params = [*encoder.fusion.parameters(), *encoder.finding_head.parameters()]
    opt = torch.optim.AdamW(params, lr=c.head_lr, weight_decay=c.weight_decay)
    best, best_epoch, best_state, stale = -1.0, 0, None, 0
    yv = data["validation"].y.numpy()
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
            loss = bce(encoder.finding_head(encoder.fusion(xs)[0]), train.y[idx], pos_weight=pw)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        encoder.eval()
        with torch.no_grad():
            pv = torch.sigmoid(encoder.finding_head(encoder.fusion(cache["validation"])[0])).numpy()
        val = finding_auroc(pv, yv, findings)["macro_auroc"] or 0.0
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
    calibration = calibrate_head(encoder, zv, yv)
    # -- stage 3: the lesion detector on the frozen patch tokens, stacked on validation ----------
    stack = fit_detector(encoder, train, data["validation"], seed=c.seed, progress=progress) if detector else None
    summary: dict[str, Any] = {
        "best_head_epoch": best_epoch,
        "history": history,
        "dense": dense,
        "robust": c.robust,
        "seconds": round(time.perf_counter() - t0, 1),
        "train_cases": n,
        "calibration": calibration,
        "detector": stack,
    }
    for s in ("validation", "test"):
        if s in data:
            _, p = predict(encoder, data[s].base)
            summary[s] = finding_auroc(p, data[s].y.numpy(), findings)
    meta = {
        "trained_by": "kgdx.encoders.train_ct_head",
        "finding_head": "trained",
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
