"""`kgdx encode` and `kgdx pretrain`: outputs, --help text, and one-line errors with exit 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from kgdx.app.cli import app
from kgdx.encoders.testing import make_phantom
from kgdx.errors import ConfigError, DataError
from kgdx.ingest.volume import write_volume

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def volume(tmp_path: Path) -> Path:
    return write_volume(tmp_path / "ct.nii.gz", make_phantom((8, 32, 32), seed=0).array, (5.0, 1.0, 1.0))


def test_encode_volume_to_npy_and_json(tmp_path: Path, volume: Path) -> None:
    out = tmp_path / "e.npy"
    r = runner.invoke(app, ["encode", str(volume), "--model", "ct-tiny", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert np.load(out).shape == (1, 64)
    js = tmp_path / "e.json"
    r = runner.invoke(app, ["encode", str(volume), "--model", "ct-tiny", "-o", str(js)])
    assert r.exit_code == 0, r.output
    rec = json.loads(js.read_text())
    assert rec["kind"] == "volume" and rec["dim"] == 64 and len(rec["embedding"]) == 64
    assert rec["shape"] == [8, 32, 32] and len(rec["findings"]) == 16


def test_encode_report_and_labs(tmp_path: Path) -> None:
    rep = tmp_path / "r.txt"
    rep.write_text("FINDINGS: No pleural effusion.\nIMPRESSION: Normal chest CT.\n")
    r = runner.invoke(app, ["encode", str(rep), "--section", "impression"])
    assert r.exit_code == 0, r.output
    rec = json.loads(r.stdout)
    assert rec["kind"] == "report" and rec["dim"] == 384 and rec["sections"] == ["findings", "impression"]
    labs = tmp_path / "l.csv"
    labs.write_text("loinc,value,unit,ref_low,ref_high\n718-7,9.1,g/dL,12,17.5\n1988-5,40,mg/L,,5\n")
    r = runner.invoke(app, ["encode", str(labs), "--model", "lab-tiny"])
    assert r.exit_code == 0, r.output
    rec = json.loads(r.stdout[r.stdout.index("{") :])
    assert rec["flags"] == {"718-7": "low", "1988-5": "high"} and rec["dim"] == 32 and rec["measured"] == 2


def test_user_errors_are_typed(tmp_path: Path, volume: Path) -> None:
    r = runner.invoke(app, ["encode", str(tmp_path / "missing.nii.gz")])
    assert isinstance(r.exception, DataError)
    r = runner.invoke(app, ["encode", str(volume), "--model", "ct-tiny", "--out", str(tmp_path / "e.txt")])
    assert isinstance(r.exception, ConfigError)
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    r = runner.invoke(app, ["encode", str(empty)])
    assert isinstance(r.exception, DataError) and "empty" in str(r.exception)
    r = runner.invoke(app, ["encode", str(volume), "--model", "text-minilm"])
    assert isinstance(r.exception, ConfigError) and "not a CT encoder" in str(r.exception)


def test_help_documents_every_option() -> None:
    for cmd in ("encode", "pretrain"):
        r = runner.invoke(app, [cmd, "--help"], env={"COLUMNS": "200"})
        assert r.exit_code == 0
    text = runner.invoke(app, ["pretrain", "--help"], env={"COLUMNS": "200"}).stdout
    for opt in ("--config", "--out-dir", "--steps", "--manifest", "--device", "--progress"):
        assert opt in text
    text = runner.invoke(app, ["train-ct-head", "--help"], env={"COLUMNS": "200"}).stdout
    for opt in ("--cohort", "--init", "--epochs", "--dense", "--robust", "--no-robust", "--cache", "--seed"):
        assert opt in text
    assert "--seed" in runner.invoke(app, ["encode", "--help"], env={"COLUMNS": "200"}).stdout


def test_cli_prints_one_line_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "broken.nii.gz"
    bad.write_bytes(b"junk")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "kgdx", "encode", str(bad), "--model", "ct-tiny"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    err = [ln for ln in proc.stderr.splitlines() if ln.startswith("kgdx: error:")]
    assert len(err) == 1 and "broken.nii.gz" in err[0] and "Traceback" not in proc.stderr


def test_pretrain_command(tmp_path: Path, synth_manifest: Path) -> None:
    cfg = tmp_path / "p.yaml"
    cfg.write_text(
        "model: ct-tiny\nfreeze_text: true\nbatch_size: 2\nsteps: 1\n"
        "losses: {moco_slice: 1.0, moco_scan: 1.0, itc: 1.0, mae: 1.0, report: 0.0}\n"
        "moco: {slice_queue: 128, scan_queue: 8, proj_dim: 16}\nitc: {proj_dim: 16}\n"
    )
    r = runner.invoke(
        app,
        [
            "pretrain",
            "--config",
            str(cfg),
            "--manifest",
            str(synth_manifest),
            "--out-dir",
            str(tmp_path / "o"),
            "--no-progress",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "pretrained ct-tiny: steps 0 -> 1" in r.stdout and (tmp_path / "o" / "encoder.pt").is_file()


def test_encode_is_seeded_says_its_weights_and_marks_an_untrained_head(
    tmp_path: Path, volume: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kgdx.settings import get_settings

    monkeypatch.delenv("KGDX_CT_MODEL", raising=False)
    get_settings.cache_clear()
    recs = []
    for _ in range(2):  # no model, no checkpoint: ct-tiny with seed-0 random weights, twice the same
        r = runner.invoke(app, ["encode", str(volume)])
        assert r.exit_code == 0, r.output
        assert "random weights (seed 0)" in r.stderr and '"untrained": true' in r.stderr
        recs.append(json.loads(r.stdout))
    assert recs[0]["embedding"] == recs[1]["embedding"]
    assert recs[0]["untrained"] is True and recs[0]["weights"]["source"] == "random"
    assert recs[0]["weights"]["finding_head"] == "untrained" and recs[0]["weights"]["seed"] == 0
    other = json.loads(runner.invoke(app, ["encode", str(volume), "--seed", "1"]).stdout)
    assert other["embedding"] != recs[0]["embedding"]

    import torch

    from kgdx.encoders.factory import create_encoder, save_checkpoint

    enc = create_encoder("ct-tiny", seed=0)
    saved = save_checkpoint(enc, tmp_path / "random-head.pt")  # saved, but its head was never trained
    r = runner.invoke(app, ["encode", str(volume), "--checkpoint", str(saved)])
    rec = json.loads(r.stdout)
    assert rec["untrained"] is True and rec["weights"]["source"] == "checkpoint"
    assert str(saved) in r.stderr and len(rec["weights"]["sha256"]) == 64
    with torch.no_grad():
        for p in enc.finding_head.parameters():
            p.mul_(0.5)
    trained = save_checkpoint(enc, tmp_path / "trained.pt", meta={"trained_by": "kgdx.encoders.train_ct_head"})
    from kgdx.settings import get_settings

    monkeypatch.setenv("KGDX_CT_MODEL", str(trained))  # the default for volumes when set
    get_settings.cache_clear()
    try:
        r = runner.invoke(app, ["encode", str(volume)])
    finally:
        monkeypatch.delenv("KGDX_CT_MODEL")
        get_settings.cache_clear()
    rec = json.loads(r.stdout)
    assert "untrained" not in rec and rec["weights"]["finding_head"] == "trained" and "warning" not in r.stderr
    assert rec["weights"]["checkpoint"] == str(trained)
