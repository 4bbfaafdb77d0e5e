"""Generate a synthetic cohort in parallel (read one back with :mod:`kgdx.ingest.cohort`).

Layout of a cohort folder ``OUT``::

    OUT/manifest.json              config, seed, versions, mask labels, counts, disk use
    OUT/splits.json                case ids per split, and the held-out diseases
    OUT/labels.jsonl               one gold record per case, in case order
    OUT/pretrain_manifest.jsonl    (volume, report_path) pairs of the train split, for `kgdx pretrain`
    OUT/phenopackets/<id>.json     GA4GH Phenopacket v2
    OUT/ct/<id>.nii.gz             CT volume, int16 HU, LPS
    OUT/masks/<id>.nii.gz          lesion label map, uint8
    OUT/reports/<id>.txt           radiology report

Every case is made from its own generators seeded by ``(seed, case index)``, and written by the
worker that made it; the main process writes the shared files in case order. So a seed gives
the same bytes whatever ``workers`` is (``.nii.gz`` are written with gzip ``mtime=0``).

Example:
    >>> from kgdx.synth import SynthConfig, generate_cohort              # doctest: +SKIP
    >>> from kgdx.ingest.cohort import read_cohort                        # doctest: +SKIP
    >>> summary = generate_cohort("cohort", 20, seed=1, workers=2)          # doctest: +SKIP
    >>> case = next(read_cohort("cohort").cases("train"))                     # doctest: +SKIP
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from kgdx.errors import ConfigError
from kgdx.ingest.cohort import LAYOUT
from kgdx.ingest.volume import write_volume
from kgdx.synth.acquisition import Acquisition, acquire, sample_acquisition
from kgdx.synth.config import SynthConfig
from kgdx.synth.findings import CT_CATALOGUE, RENDERED
from kgdx.synth.kg_source import KgSource, load_kg_source
from kgdx.synth.lesions import LesionInfo, draw_findings
from kgdx.synth.patient import Patient, PatientSampler, case_rngs
from kgdx.synth.phantom import make_phantom
from kgdx.synth.phenopacket import build_phenopacket, validate_phenopacket
from kgdx.synth.report import SynthReport, write_report
from kgdx.synth.splits import SPLITS, assign_split

__all__ = ["SynthCase", "make_case", "write_case", "generate_cohort", "CohortSummary"]

_CARDIOMEGALY_SCALE = 1.3


@dataclass
class SynthCase:
    """One generated case in memory: the patient, the image, its mask, the report and the labels."""

    patient: Patient
    ct: np.ndarray  # int16 HU (z, y, x)
    mask: np.ndarray  # uint8 labels (z, y, x)
    clean_hu: np.ndarray | None  # noise-free float32 HU before acquisition (kept only on request)
    tissue: np.ndarray | None  # phantom tissue labels (kept only on request)
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    acquisition: Acquisition
    lesions: dict[str, LesionInfo]
    report: SynthReport
    split: str

    @property
    def id(self) -> str:
        return self.patient.id


def _layout(cfg: SynthConfig) -> dict[str, str]:
    ext = ".nii.gz" if cfg.volume.compress else ".nii"
    return {k: v.replace(".nii.gz", ext) for k, v in LAYOUT.items()}


def make_case(
    index: int, seed: int, cfg: SynthConfig, sampler: PatientSampler | None = None, *, keep_phantom: bool = False
) -> SynthCase:
    """Generate case ``index`` of the cohort with ``seed`` (nothing is written).

    Args:
        index: Case index (its id is ``synth-{index:06d}``).
        seed: Cohort seed.
        cfg: The config.
        sampler: A prepared :class:`PatientSampler` (built from the config's module if omitted).
        keep_phantom: Keep the noise-free HU and the tissue labels (for tests).
    """
    if sampler is None:
        sampler = PatientSampler(load_kg_source(cfg.module), cfg)
    rngs = case_rngs(seed, index)
    patient = sampler.sample(index, rngs["patient"])
    vcfg = cfg.volume
    acq = sample_acquisition(vcfg, rngs["image"])
    spacing = vcfg.spacing_for(acq.fov_mm or vcfg.fov_mm[1])
    heart = _CARDIOMEGALY_SCALE if "HP:0001640" in patient.drawn_findings else 1.0
    ph = make_phantom(vcfg.shape, spacing, rngs["image"], heart_scale=heart)
    labels, lesions = draw_findings(ph, patient.drawn_findings, patient.severity, rngs["image"], patient.hints)
    clean = ph.hu.copy() if keep_phantom else None
    body = None
    if not vcfg.air_noise:
        body = ndimage.binary_dilation(ph.tissue != 0, iterations=2)
    ct = acquire(ph.hu, spacing, acq, rngs["image"], body)
    absent = [s.hpo_id for s in RENDERED if s.hpo_id not in patient.ct_findings]
    report = write_report(patient.ct_findings, lesions, absent, acq, rngs["report"], cfg.difficulty)
    split = assign_split(patient.id, [d for d, _ in patient.diseases], seed, cfg.splits)
    return SynthCase(
        patient,
        ct,
        labels,
        clean,
        ph.tissue if keep_phantom else None,
        spacing,
        ph.grid.origin_lps,
        acq,
        lesions,
        report,
        split,
    )


def label_record(case: SynthCase, kg: KgSource, files: dict[str, str]) -> dict[str, Any]:
    """The gold record of a case (one line of ``labels.jsonl``)."""
    p = case.patient
    ct = []
    for s in CT_CATALOGUE:
        t = p.phenotypes.get(s.hpo_id)
        if t is None:
            continue
        info = case.lesions.get(s.hpo_id)
        ct.append(
            {
                "id": s.hpo_id,
                "label": t.label,
                "key": s.key,
                "present": t.present,
                "mask_label": s.label,
                "drawn": s.label is not None,
                "sources": t.sources,
                **({"lesion": info.to_dict()} if info is not None else {}),
            }
        )
    other = [t.to_dict() for t in p.phenotypes.values() if t.modality != "ct"]
    flagged = [d.id for d in p.drugs.current if d.flags]
    return {
        "id": p.id,
        "index": p.index,
        "split": case.split,
        "sex": p.sex,
        "age": p.age,
        "severity": p.severity,
        "diseases": [{"id": d, "name": kg.name(d), "role": r} for d, r in p.diseases],
        "ct_mimic": {"id": p.ct_mimic, "name": kg.name(p.ct_mimic)} if p.ct_mimic else None,
        "ct_findings": ct,
        "phenotypes": other,
        "labs": [v.to_dict() for v in p.labs],
        "report": {
            "language": case.report.language,
            "mentions": [m.to_dict() for m in case.report.mentions],
            "omitted": case.report.omitted,
        },
        "treatments": p.drugs.treatments,
        "withheld_treatments": p.drugs.withheld,
        "current_drugs": [
            {"id": d.id, "name": d.name, "why": d.why, "flags": [f.to_dict(kg) for f in d.flags]}
            for d in p.drugs.current
        ],
        "flagged_current_drugs": flagged,
        "acquisition": case.acquisition.to_dict(),
        "geometry": {
            "shape": list(case.ct.shape),
            "spacing_zyx_mm": [round(s, 4) for s in case.spacing],
            "origin_lps_mm": [round(o, 4) for o in case.origin],
            "orientation": "LPS",
        },
        "hints": sorted(p.hints),
        "files": files,
    }


def write_case(
    case: SynthCase, out: str | Path, kg: KgSource, cfg: SynthConfig
) -> tuple[dict[str, Any], dict[str, int]]:
    """Write a case's four files under ``out``; return its label record and the bytes per file."""
    out = Path(out)
    lay = {k: v.format(id=case.id) for k, v in _layout(cfg).items()}
    sizes: dict[str, int] = {}
    desc = "kgdx synthetic chest CT"
    for kind, array, what in (("ct", case.ct, desc), ("ct_mask", case.mask, "kgdx synthetic lesion labels")):
        written = write_volume(
            out / lay[kind],
            array,
            case.spacing,
            case.origin,
            compress_level=cfg.volume.compress_level,
            description=what,
        )
        sizes[kind] = written.stat().st_size
    rep = case.report.text.encode("utf-8")
    (out / lay["report"]).write_bytes(rep)
    sizes["report"] = len(rep)
    rel = {k: "../" + v for k, v in lay.items() if k != "phenopacket"}
    doc = build_phenopacket(case.patient, kg, rel, created=cfg.created, report_language=case.report.language)
    validate_phenopacket(doc, where=lay["phenopacket"])
    raw = (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    (out / lay["phenopacket"]).write_bytes(raw)
    sizes["phenopacket"] = len(raw)
    return label_record(case, kg, lay), sizes


# ------------------------------------------------------------------------------ the pool

_STATE: dict[str, Any] = {}


def _init(sampler: PatientSampler, cfg: SynthConfig, out: str, seed: int) -> None:
    _STATE.update(sampler=sampler, cfg=cfg, out=out, seed=seed)
    # The workers are the parallelism: one torch thread each (MONAI's filters in the acquisition),
    # or they oversubscribe the cores. Results do not depend on the thread count.
    import torch

    torch.set_num_threads(1)


def _work(index: int) -> tuple[dict[str, Any], dict[str, int]]:
    s = _STATE
    case = make_case(index, s["seed"], s["cfg"], s["sampler"])
    return write_case(case, s["out"], s["sampler"].kg, s["cfg"])


@dataclass(frozen=True)
class CohortSummary:
    """What :func:`generate_cohort` made."""

    out: Path
    n: int
    seed: int
    splits: dict[str, int]
    bytes_total: int
    bytes_per_case: float


def _versions() -> dict[str, str]:
    out = {}
    for pkg in ("kgdx", "numpy", "scipy", "nibabel", "phenopackets"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def generate_cohort(
    out: str | Path,
    n: int,
    *,
    seed: int = 0,
    cfg: SynthConfig | None = None,
    workers: int = 1,
    progress: bool = False,
    overwrite: bool = False,
) -> CohortSummary:
    """Generate ``n`` cases into the folder ``out`` (layout in the module docstring).

    Args:
        out: Output folder; it must be empty or missing unless ``overwrite``.
        n: Number of cases (>= 1).
        seed: Cohort seed; the same seed and config give the same bytes.
        cfg: The config (default :class:`SynthConfig()`).
        workers: Processes to use (1 = in this process).
        progress: Draw a progress bar on stderr.
        overwrite: Replace an existing non-empty ``out``.

    Raises:
        ConfigError: for a bad ``n``, ``workers`` or a non-empty ``out``.
    """
    cfg = cfg or SynthConfig()
    if n < 1:
        raise ConfigError(f"'n' (got {n}) must be at least 1", field="n")
    if workers < 1:
        raise ConfigError(f"'workers' (got {workers}) must be at least 1", field="workers")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError("the output path exists and is not a folder", file=out)
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise ConfigError("the output folder is not empty (use overwrite / --force to replace it)", file=out)
        shutil.rmtree(out)
    for folder in ("phenopackets", "ct", "masks", "reports"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    kg = load_kg_source(cfg.module)
    sampler = PatientSampler(kg, cfg)
    from kgdx.progress import progress as bar

    records: list[dict[str, Any]] = []
    sizes: Counter = Counter()
    workers = min(workers, n)
    with bar("synth", total=n, enabled=progress) as advance:
        if workers == 1:
            _init(sampler, cfg, str(out), seed)
            results: Iterator = map(_work, range(n))
            for rec, sz in results:
                records.append(rec)
                sizes.update(sz)
                advance(1)
        else:
            ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
            chunk = max(1, min(8, n // (workers * 8) or 1))
            with ctx.Pool(workers, initializer=_init, initargs=(sampler, cfg, str(out), seed)) as pool:
                for rec, sz in pool.imap(_work, range(n), chunksize=chunk):
                    records.append(rec)
                    sizes.update(sz)
                    advance(1)
    return _finish(out, records, sizes, kg, cfg, seed, n)


def _finish(
    out: Path, records: list[dict[str, Any]], sizes: Counter, kg: KgSource, cfg: SynthConfig, seed: int, n: int
) -> CohortSummary:
    with (out / "labels.jsonl").open("w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec, sort_keys=True, ensure_ascii=False) + "\n")
    splits = {s: [r["id"] for r in records if r["split"] == s] for s in SPLITS}
    (out / "splits.json").write_text(
        json.dumps(
            {
                "held_out_diseases": [{"id": d, "name": kg.name(d)} for d in cfg.splits.held_out_diseases],
                "rule": "cases with a held-out disease -> held_out; others by sha256(seed:case_id) against the fractions",
                "fractions": {"train": cfg.splits.train, "validation": cfg.splits.validation, "test": cfg.splits.test},
                **splits,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    with (out / "pretrain_manifest.jsonl").open("w", encoding="utf-8") as f:
        for r in records:
            if r["split"] == "train":
                f.write(
                    json.dumps({"case": r["id"], "volume": r["files"]["ct"], "report_path": r["files"]["report"]})
                    + "\n"
                )
    counts = _counts(records, kg)
    total = int(sum(sizes.values()))
    manifest = {
        "generator": "kgdx synth",
        "seed": seed,
        "n": n,
        "module": {"name": kg.module, "version": kg.version},
        "versions": _versions(),
        "config": cfg.model_dump(mode="json"),
        "layout": _layout(cfg),
        "geometry": {
            "shape_zyx": list(cfg.volume.shape),
            "spacing_zyx_mm": [round(s, 4) for s in cfg.volume.spacing],
            "spacing_note": "at fov_mm; with volume.fov_xy_mm each case has its own in-plane spacing "
            "(labels.jsonl geometry)",
            "orientation": "LPS (nibabel axcodes L, P, S)",
            "ct_dtype": "int16 HU",
            "mask_dtype": "uint8",
        },
        "mask_labels": {str(s.label): {"id": s.hpo_id, "key": s.key, "label": kg.name(s.hpo_id)} for s in RENDERED},
        "counts": counts,
        "disk_bytes": {
            **{k: int(v) for k, v in sorted(sizes.items())},
            "total": total,
            "per_case": round(total / n, 1),
        },
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return CohortSummary(out, n, seed, {k: len(v) for k, v in splits.items()}, total, round(total / n, 1))


def _counts(records: list[dict[str, Any]], kg: KgSource) -> dict[str, Any]:
    dis: Counter = Counter()
    ct: Counter = Counter()
    lang: Counter = Counter()
    split: Counter = Counter()
    errors: Counter = Counter()
    for r in records:
        split[r["split"]] += 1
        lang[r["report"]["language"]] += 1
        for d in r["diseases"]:
            dis[f"{d['id']} {d['name']}"] += 1
        for f in r["ct_findings"]:
            if f["present"]:
                ct[f"{f['id']} {f['label']}"] += 1
        for m in r["report"]["mentions"]:
            errors[m["error"] or "none"] += 1
        errors["omitted"] += len(r["report"]["omitted"])
    return {
        "cases": len(records),
        "splits": dict(sorted(split.items())),
        "diseases": dict(sorted(dis.items())),
        "second_disease": sum(len(r["diseases"]) > 1 for r in records),
        "ct_findings_present": dict(sorted(ct.items())),
        "report_languages": dict(sorted(lang.items())),
        "report_mentions": dict(sorted(errors.items())),
        "flagged_current_drugs": sum(bool(r["flagged_current_drugs"]) for r in records),
    }


def cpu_workers() -> int:
    """A sensible default worker count: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover
        return max(1, os.cpu_count() or 1)
