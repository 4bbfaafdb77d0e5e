"""`kgdx synth`: generate the synthetic multimodal chest cohort (CT, mask, report, labs, drugs).

Heavy work happens in :mod:`kgdx.synth`; this module only parses options and prints a summary.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from kgdx.errors import ConfigError

__all__ = ["synth"]


def synth(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (created; must be empty unless --force).")],
    n: Annotated[int, typer.Option("--n", min=1, help="Number of cases to generate.")] = 2000,
    seed: Annotated[int, typer.Option(help="Cohort seed: the same seed, size and config give the same bytes.")] = 0,
    workers: Annotated[int | None, typer.Option(min=1, help="Worker processes (default: the CPUs available).")] = None,
    size: Annotated[
        str | None,
        typer.Option(
            help="Volume size ZxYxX in voxels, e.g. 64x128x128 (the default), or one in-plane size such as 96."
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="YAML/JSON SynthConfig (difficulty knobs, splits, volume); a cohort's manifest.json works too.",
        ),
    ] = None,
    montage: Annotated[
        list[str] | None,
        typer.Option(
            help="Case id to draw as OUT/montages/<id>.png (repeatable). With an existing cohort in OUT and no --force, "
            "only the montages are drawn."
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace a non-empty output folder.")] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Generate a synthetic chest cohort grounded in the KG's respiratory module.

    Writes phenopackets, CT volumes (NIfTI, LPS), lesion masks, reports, labels.jsonl,
    splits.json and manifest.json to OUT; see docs/synthetic-cohort.md.
    """
    from kgdx.synth import SynthConfig, generate_cohort, parse_size, render_case_montage
    from kgdx.synth.cohort import cpu_workers

    if montage and (out / "manifest.json").is_file() and not force:
        for cid in montage:
            typer.echo(f"montage: {render_case_montage(out, cid)}")
        return
    cfg = SynthConfig.from_file(config) if config else SynthConfig()
    if size:
        cfg = cfg.with_volume(shape=parse_size(size))
    w = workers or cpu_workers()
    if montage:
        bad = [m for m in montage if not m.startswith("synth-") or not m[6:].isdigit() or int(m[6:]) >= n]
        if bad:
            raise ConfigError(
                f"--montage names cases this run does not make: {bad} (ids are synth-000000 .. synth-{n - 1:06d})",
                field="montage",
            )
    t0 = time.perf_counter()
    summary = generate_cohort(out, n, seed=seed, cfg=cfg, workers=w, progress=progress, overwrite=force)
    dt = time.perf_counter() - t0
    z, y, x = cfg.volume.shape
    typer.echo(f"synth: {n} cases in {dt:.1f} s ({n / dt:.2f} cases/s, {w} workers), volumes {z}x{y}x{x}")
    typer.echo("splits: " + ", ".join(f"{k} {v}" for k, v in summary.splits.items()))
    typer.echo(f"disk: {summary.bytes_total / 2**20:.1f} MiB ({summary.bytes_per_case / 2**10:.0f} KiB per case)")
    typer.echo(f"output: {summary.out}")
    for cid in montage or []:
        typer.echo(f"montage: {render_case_montage(out, cid)}")
