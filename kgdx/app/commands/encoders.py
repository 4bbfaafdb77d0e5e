"""`kgdx pretrain`, `kgdx train-ct-head` and `kgdx encode`: pretrain the CT encoder, train its finding
head; embed a volume, report or lab table.

Heavy imports (torch, MONAI, transformers) happen inside the commands, so ``kgdx --help`` stays
fast.
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from kgdx.errors import ConfigError, DataError

__all__ = ["pretrain", "encode", "train_ct_head"]


class Kind(str, Enum):
    auto = "auto"
    volume = "volume"
    report = "report"
    labs = "labs"


class Device(str, Enum):
    cpu = "cpu"
    cuda = "cuda"


_DEFAULT_MODEL = {"volume": "ct-tiny", "report": "text-minilm", "labs": "lab-base"}


def pretrain(
    config: Annotated[
        Path,
        typer.Option("--config", "-c", help="YAML/JSON pretraining config, e.g. encoders/pretrain_configs/tiny.yaml."),
    ],
    out_dir: Annotated[
        Path | None,
        typer.Option(help="Output folder (checkpoints, encoder.pt, losses.jsonl, losses.png); overrides out_dir."),
    ] = None,
    steps: Annotated[int | None, typer.Option(min=1, help="Total optimiser steps; overrides steps.")] = None,
    manifest: Annotated[
        Path | None, typer.Option(help="JSONL/CSV of (volume, report) pairs; overrides data.manifest.")
    ] = None,
    device: Annotated[
        Device | None, typer.Option(help="Force a device (default: cuda when available, else cpu).")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Pretrain the CT encoder (MoCo slice+scan, image–report, MAE, report generation).

    For DDP, launch the same command under torchrun, e.g.
    `torchrun --nproc_per_node 2 -m kgdx.encoders.pretrain --config FILE`. A run resumes from
    OUT_DIR/checkpoints/last.pt when it exists (resume: auto).
    """
    from kgdx.encoders.pretrain.config import load_pretrain_config
    from kgdx.encoders.pretrain.trainer import pretrain as run

    cfg = load_pretrain_config(
        config, out_dir=str(out_dir) if out_dir else None, steps=steps, manifest=str(manifest) if manifest else None
    )
    res = run(cfg, progress=progress, device=device.value if device else None)
    first, last = res.first_losses, res.last_losses
    typer.echo(f"pretrained {cfg.model}: steps {res.start_step} -> {res.steps} at {res.steps_per_s:.2f} steps/s")
    for k in sorted(last):
        typer.echo(f"  {k:<11} {first.get(k, float('nan')):9.4f} -> {last[k]:9.4f}")
    typer.echo(f"encoder: {res.encoder}\nloss log: {res.log}\nloss plot: {res.plot}")


def _guess_kind(path: Path) -> str:
    name = path.name.lower()
    if path.is_dir() or name.endswith((".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd", ".dcm", ".dicom", ".ima")):
        return "volume"
    if name.endswith((".txt", ".md", ".report")):
        return "report"
    if name.endswith(".csv"):
        return "labs"
    raise ConfigError(f"cannot tell what {path.name} is from its name; pass --kind volume, report or labs", file=path)


def encode(
    path: Annotated[
        Path,
        typer.Argument(help="A volume (DICOM folder, .nii/.nii.gz/.nrrd/.mha), a report (.txt) or a lab table (.csv)."),
    ],
    kind: Annotated[Kind, typer.Option(help="What PATH is; auto guesses from the name.")] = Kind.auto,
    model: Annotated[
        str | None,
        typer.Option(
            help="Encoder name or config JSON, with random (seeded) weights; default for volumes: the trained CT "
            "checkpoint KGDX_CT_MODEL when set, else ct-tiny; for reports text-minilm, for labs lab-base."
        ),
    ] = None,
    checkpoint: Annotated[
        str | None, typer.Option(help="Checkpoint name or path with trained weights (its config wins over --model).")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Write the embedding to a .npy (array) or .json (with metadata) file; default: JSON on stdout.",
        ),
    ] = None,
    section: Annotated[
        str | None,
        typer.Option(help="Reports: embed only this section (findings, impression ...); default: the whole report."),
    ] = None,
    series_uid: Annotated[
        str | None, typer.Option(help="DICOM: the SeriesInstanceUID to read when the folder holds several series.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of random weights (--model without --checkpoint).")] = 0,
    device: Annotated[Device, typer.Option(help="Device to run the encoder on.")] = Device.cpu,
) -> None:
    """Embed one input with its encoder; print or write the embedding (.npy or .json).

    Always says on stderr which weights it used (checkpoint file and SHA-256, or random with the
    seed); the same input, weights and seed give the same numbers. A volume's finding
    probabilities come only from a trained head: an untrained one's are marked "untrained": true,
    with a warning.
    """
    import numpy as np
    import torch

    if not path.exists():
        raise DataError("no such file or folder", file=path)
    if out is not None and out.suffix.lower() not in (".npy", ".json"):
        raise ConfigError(f"--out must end in .npy or .json, got {out.name!r}")
    k = _guess_kind(path) if kind is Kind.auto else kind.value
    from kgdx.encoders.factory import create_encoder, describe_weights, load_checkpoint

    torch.manual_seed(seed)
    if checkpoint is None and model is None and k == "volume":
        from kgdx.settings import get_settings

        checkpoint = get_settings().ct_model or None  # unset: ct-tiny with seeded random weights, marked untrained
    if checkpoint is not None:
        enc = load_checkpoint(checkpoint, device=device.value)
    else:
        enc = create_encoder(model or _DEFAULT_MODEL[k], device=device.value, seed=seed)
    weights = describe_weights(enc)
    if k == "report" and checkpoint is None:
        weights = {"source": "pretrained", "model": getattr(enc.cfg, "model", None)}
    if weights["source"] == "checkpoint":
        typer.echo(f"kgdx: weights: {weights['checkpoint']} (sha256 {weights['sha256'][:12]})", err=True)
    elif weights["source"] == "random":
        typer.echo(
            f"kgdx: warning: weights: {weights['model']} with random weights (seed {seed}); "
            "the embedding is only good for testing the pipeline",
            err=True,
        )
    else:
        typer.echo(f"kgdx: weights: {weights['model']} (the packaged pretrained text model)", err=True)
    enc.eval()
    record: dict[str, Any] = {
        "input": str(path),
        "kind": k,
        "model": getattr(enc.cfg, "name", None),
        "weights": weights,
    }
    if k == "volume":
        from kgdx.encoders.ct_encoder import CTEncoder
        from kgdx.ingest.volume import read_volume

        if not isinstance(enc, CTEncoder):
            raise ConfigError(f"model {record['model']!r} is not a CT encoder; pass --model ct-tiny/ct-small/ct-base")
        vol = read_volume(path, series_uid=series_uid)
        emb, probs = enc.embed([vol])
        record.update(shape=list(vol.shape), spacing=list(vol.spacing), findings=probs[0] if probs else None)
        if probs and weights["finding_head"] != "trained":
            record["untrained"] = True
            typer.echo(
                "kgdx: warning: the finding probabilities come from an untrained head and mean nothing "
                '("untrained": true); use a checkpoint trained with `kgdx train-ct-head`',
                err=True,
            )
    elif k == "report":
        from kgdx.encoders.text import TextEncoder
        from kgdx.ingest.reports import read_report

        if not isinstance(enc, TextEncoder):
            raise ConfigError(f"model {record['model']!r} is not a text encoder; pass --model text-minilm")
        rep = read_report(path)
        text = rep.text if section is None else rep.section(section)
        if not text.strip():
            raise DataError(f"the report has no {section!r} section (it has {rep.names})", file=path)
        emb = enc.encode([text])
        record.update(sections=rep.names, section=section)
    else:
        from kgdx.encoders.lab_panel import lab_flags
        from kgdx.encoders.labs import LabEncoder
        from kgdx.ingest.labs import read_lab_table

        if not isinstance(enc, LabEncoder):
            raise ConfigError(f"model {record['model']!r} is not a lab encoder; pass --model lab-tiny/lab-base")
        rows = read_lab_table(path)
        try:
            batch = enc.tensorize([rows])
        except ValueError as e:
            raise DataError(str(e), file=path) from None
        emb = enc.encode([rows])
        record.update(flags=lab_flags(rows), unknown_tests=batch.unknown[0], measured=int(batch.present.sum()))
    record["dim"] = int(emb.shape[1])
    if out is not None and out.suffix.lower() == ".npy":
        out.parent.mkdir(parents=True, exist_ok=True)
        np.save(out, emb.astype(np.float32))
        typer.echo(f"wrote {tuple(emb.shape)} {k} embedding to {out}", err=True)
        return
    record["embedding"] = [round(float(v), 6) for v in emb[0]]
    text = json.dumps(record, indent=2)
    if out is None:
        sys.stdout.write(text + "\n")
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n", encoding="utf-8")
        typer.echo(f"wrote {k} embedding ({record['dim']}-d) to {out}", err=True)


def train_ct_head(
    cohort: Annotated[Path, typer.Option(help="A synthetic cohort folder (`kgdx synth`).")],
    out: Annotated[Path, typer.Option(help="The encoder checkpoint to write (for KGDX_CT_MODEL).")],
    model: Annotated[str, typer.Option(help="Encoder config name or JSON file.")] = "ct-tiny",
    init: Annotated[
        str | None, typer.Option(help="Start from this encoder checkpoint (e.g. from `kgdx pretrain`).")
    ] = None,
    epochs: Annotated[
        int, typer.Option(min=0, help="Stage 1 epochs (the whole encoder); 0 keeps the slice ViT as loaded.")
    ] = 20,
    head_epochs: Annotated[int, typer.Option(min=1, help="Stage 2 epochs (slice fusion and head).")] = 60,
    dense: Annotated[bool, typer.Option(help="Also learn from the lesion masks in stage 1.")] = True,
    robust: Annotated[
        bool, typer.Option(help="Re-scan each stage-1 batch in HU: another kernel, noise and an HU offset.")
    ] = True,
    cache: Annotated[
        Path | None, typer.Option(help="Keep preprocessed inputs in this folder between runs (int16 HU).")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Volumes per step in stage 1.")] = 8,
    lr: Annotated[float, typer.Option(help="Stage 1 peak learning rate.")] = 1e-3,
    seed: Annotated[int, typer.Option(help="Seed of initialisation, batch order and augmentation.")] = 0,
    threads: Annotated[int | None, typer.Option(min=1, help="torch CPU threads (default: torch's).")] = None,
    as_json: Annotated[Path | None, typer.Option("--json", help="Also write the summary as JSON here.")] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Train the CT encoder's finding head on a cohort's train split; the validation split picks the
    epoch and the test split is only measured. Prints per-finding AUROC.

    Example: kgdx train-ct-head --cohort cohort --out runs/ct-head/encoder.pt
    """
    import torch

    from kgdx.encoders.ct_findings import CT_FINDINGS
    from kgdx.encoders.train_ct_head import CTHeadConfig, format_auroc_table
    from kgdx.encoders.train_ct_head import train_ct_head as run

    if threads:
        torch.set_num_threads(threads)
    cfg = CTHeadConfig(
        model=model,
        init=init,
        freeze_encoder=epochs == 0,
        dense=dense,
        robust=robust,
        cache=None if cache is None else str(cache),
        epochs=epochs,
        head_epochs=head_epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
    )

    def on_epoch(h: dict[str, Any]) -> None:
        val = f", validation macro AUROC {h['val_macro_auroc']:.3f}" if "val_macro_auroc" in h else ""
        print(f"stage {h['stage']} epoch {h['epoch']}: loss {h['loss']:.4f}{val} ({h['seconds']} s)", file=sys.stderr)

    res = run(cohort, out, cfg, progress=progress, on_epoch=on_epoch)
    names = {f.hpo_id: f.name for f in CT_FINDINGS}
    typer.echo(f"saved {res['path']} (head epoch {res['best_head_epoch']}, {res['seconds']} s)")
    for s in ("validation", "test"):
        if s in res:
            typer.echo(f"\n{s} split:\n{format_auroc_table(res[s], names)}")
    if as_json:
        as_json.write_text(json.dumps({k: v for k, v in res.items() if k != "encoder"}, indent=2) + "\n")
