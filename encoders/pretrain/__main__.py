"""``python -m kgdx.encoders.pretrain --config FILE`` (and under ``torchrun`` for DDP)."""

from __future__ import annotations

import argparse
import sys

from kgdx.errors import KgdxError


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m kgdx.encoders.pretrain", description="Pretrain the CT encoder (MedMPT-style)."
    )
    ap.add_argument(
        "--config", required=True, help="YAML/JSON pretraining config, e.g. encoders/pretrain_configs/tiny.yaml"
    )
    ap.add_argument("--out-dir", help="Override out_dir.")
    ap.add_argument("--steps", type=int, help="Override steps.")
    ap.add_argument("--manifest", help="Override data.manifest.")
    ap.add_argument("--device", choices=["cpu", "cuda"], help="Force a device (default: cuda when available).")
    ap.add_argument("--no-progress", action="store_true", help="No progress bar.")
    args = ap.parse_args(argv)
    from kgdx.encoders.pretrain.config import load_pretrain_config
    from kgdx.encoders.pretrain.trainer import pretrain

    try:
        cfg = load_pretrain_config(args.config, out_dir=args.out_dir, steps=args.steps, manifest=args.manifest)
        res = pretrain(cfg, progress=not args.no_progress, device=args.device)
    except KgdxError as e:
        print(f"kgdx: error: {e.one_line()}", file=sys.stderr)
        return 1
    first, last = res.first_losses.get("total"), res.last_losses.get("total")
    if first is not None:
        print(
            f"steps {res.start_step}->{res.steps}  total loss {first:.4f} -> {last:.4f}  "
            f"{res.steps_per_s:.2f} steps/s  encoder: {res.encoder}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
