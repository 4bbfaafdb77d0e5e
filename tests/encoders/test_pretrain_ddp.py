"""DDP: two CPU processes on gloo under torchrun run a couple of ct-tiny steps."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from kgdx.encoders.pretrain.monitor import read_loss_log

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_torchrun_two_gloo_processes(tmp_path: Path, synth_manifest: Path) -> None:
    if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available in this torch build")
    cfg = tmp_path / "ddp.yaml"
    cfg.write_text(
        "model: ct-tiny\nfreeze_text: true\nbatch_size: 2\nsteps: 2\nckpt_every: 2\n"
        "moco: {momentum: 0.9, slice_queue: 256, scan_queue: 16, proj_dim: 32}\n"
        "itc: {proj_dim: 32}\nreport: {width: 64, depth: 1, heads: 4, max_length: 48, dropout: 0.0}\n"
        "optim: {lr: 0.001, warmup_steps: 1}\n"
    )
    out = tmp_path / "run"
    with socket.socket() as sock:  # a free port: torchrun's --master_port 0 is not supported here
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    torchrun = Path(sys.executable).with_name("torchrun")
    launcher = [str(torchrun)] if torchrun.is_file() else [sys.executable, "-m", "torch.distributed.run"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    cmd = [
        *launcher,
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(port),
        "-m",
        "kgdx.encoders.pretrain",
        "--config",
        str(cfg),
        "--manifest",
        str(synth_manifest),
        "--out-dir",
        str(out),
        "--device",
        "cpu",
        "--no-progress",
    ]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    recs = read_loss_log(out / "losses.jsonl")
    assert [r["step"] for r in recs] == [1, 2]
    assert (out / "encoder.pt").is_file() and (out / "checkpoints" / "last.pt").is_file()
    state = torch.load(out / "checkpoints" / "last.pt", weights_only=False)
    # keys from both ranks entered the queue: 2 steps x 2 ranks x (2 scans x 32 slices)
    assert int(state["pretrain_model"]["slice_queue.ptr"]) == (2 * 2 * 64) % 256
    assert int(state["pretrain_model"]["scan_queue.ptr"]) == (2 * 2 * 2) % 16
