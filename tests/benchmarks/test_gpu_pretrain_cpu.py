"""The GPU pretraining recipe, checked on the CPU at ct-tiny size (no GPU is lent to the test run)."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.gpu_pretrain import main

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_recipe_runs_on_cpu_at_tiny_size(tmp_path: Path) -> None:
    out = tmp_path / "gpu.json"
    rc = main(
        [
            "--model",
            "ct-tiny",
            "--config",
            str(ROOT / "encoders" / "pretrain_configs" / "tiny.yaml"),
            "--device",
            "cpu",
            "--steps",
            "1",
            "--warmup",
            "1",
            "--batch",
            "2",
            "--no-compile",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    r = json.loads(out.read_text())
    assert r["timed_steps"] == 1 and r["volumes_per_s"] > 0 and r["input_shape"] == [2, 32, 3, 128, 128]
    assert r["flop_per_volume_step"] > 0 and set(r["losses"]) >= {"itc", "mae", "moco_scan", "moco_slice"}
