"""Pretraining: each objective, switches and weights, queues, checkpoint + resume, log and plot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from kgdx.encoders.factory import get_model_config, load_checkpoint
from kgdx.encoders.pretrain.config import LossWeights, PretrainConfig, load_pretrain_config
from kgdx.encoders.pretrain.dataset import CTReportDataset, collate_pairs, read_manifest
from kgdx.encoders.pretrain.mae import patchify
from kgdx.encoders.pretrain.moco import KeyQueue, moco_loss
from kgdx.encoders.pretrain.model import PretrainModel
from kgdx.encoders.pretrain.monitor import read_loss_log
from kgdx.encoders.pretrain.trainer import cosine_warmup, pretrain, resolve_precision
from kgdx.errors import ConfigError, DataError

SMALL = {
    "model": "ct-tiny",
    "freeze_text": True,
    "batch_size": 2,
    "steps": 2,
    "ckpt_every": 2,
    "precision": "auto",
    "moco": {"momentum": 0.9, "slice_queue": 256, "scan_queue": 16, "proj_dim": 32},
    "itc": {"proj_dim": 32},
    "report": {"width": 64, "depth": 1, "heads": 4, "max_length": 48, "dropout": 0.0},
    "optim": {"lr": 1e-3, "warmup_steps": 1},
}


def _cfg(manifest: Path, out: Path, **kw) -> PretrainConfig:
    d = json.loads(json.dumps(SMALL))
    d.update(kw)
    d["out_dir"] = str(out)
    d["data"] = {"manifest": str(manifest)}
    return PretrainConfig.from_dict(d)


@pytest.fixture(scope="module")
def shared_text():
    from kgdx.encoders.text import TextEncoder

    return TextEncoder()


def _batch(manifest: Path):
    ds = CTReportDataset(manifest, get_model_config("ct-tiny").preprocess, PretrainConfig().augment, seed=0)
    return collate_pairs([ds[0], ds[1]])


def test_every_loss_is_finite_and_switchable(synth_manifest: Path, tmp_path: Path, shared_text) -> None:
    cfg = _cfg(synth_manifest, tmp_path)
    b = _batch(synth_manifest)
    tok = shared_text.tokenize(b["report"], max_length=48)
    model = PretrainModel(get_model_config("ct-tiny"), cfg, text_encoder=shared_text)
    losses = model(b["view1"], b["view2"], tok["input_ids"], tok["attention_mask"])
    assert set(losses) == {"moco_slice", "moco_scan", "itc", "mae", "report", "total"}
    assert all(torch.isfinite(v) for v in losses.values())
    torch.testing.assert_close(losses["total"], sum(losses[k] for k in cfg.losses.enabled()))
    # switch all but MAE off: no momentum encoder, queues, text encoder or report decoder are built
    only = PretrainConfig.from_dict(
        {**SMALL, "losses": {"moco_slice": 0, "moco_scan": 0, "itc": 0, "mae": 2.0, "report": 0}}
    )
    m2 = PretrainModel(get_model_config("ct-tiny"), only)
    assert not hasattr(m2, "encoder_m") and m2.text_encoder is None and not hasattr(m2, "report_decoder")
    l2 = m2(b["view1"], b["view2"])
    assert set(l2) == {"mae", "total"} and l2["total"].item() == pytest.approx(2.0 * l2["mae"].item())
    with pytest.raises(ValueError, match="every loss weight is 0"):
        LossWeights(0, 0, 0, 0, 0)


def test_decoders_repr_and_generation(shared_text) -> None:
    from kgdx.encoders.config import MAEDecoderCfg
    from kgdx.encoders.pretrain.config import ReportDecoderCfg
    from kgdx.encoders.pretrain.mae import MAEDecoder
    from kgdx.encoders.pretrain.report_decoder import ReportDecoder

    mae = MAEDecoder(64, 64, 16, 3, MAEDecoderCfg(width=32, depth=1, heads=4))
    assert repr(mae).startswith("MAEDecoder(\n  width=32, depth=1, heads=4, mask_ratio=0.2\n")
    dec = ReportDecoder(shared_text.word_embeddings, 64, ReportDecoderCfg(width=64, depth=1, heads=4, max_length=16))
    assert repr(dec).startswith("ReportDecoder(\n  width=64, depth=1, heads=4, max_length=16, vocab=30522\n")
    tok = shared_text.tokenizer
    ids = dec.eval().generate(torch.randn(2, 32, 64), tok.cls_token_id, tok.sep_token_id, max_new=5)
    assert ids.shape[0] == 2 and 2 <= ids.shape[1] <= 6 and (ids[:, 0] == tok.cls_token_id).all()


def test_queue_wraps_and_loss_is_infonce() -> None:
    q = KeyQueue(4, 5)
    q.enqueue(torch.eye(4)[:3])
    q.enqueue(torch.eye(4))
    assert int(q.ptr) == 2 and torch.equal(q.keys[3:5], torch.eye(4)[:2]) and torch.equal(q.keys[:2], torch.eye(4)[2:])
    assert repr(q) == "KeyQueue(size=5, dim=4)"
    x = torch.eye(4)[:3]  # orthonormal: negatives are -1 or 0 away from each query
    easy = moco_loss(x, x, -x, 0.07)  # positives identical, negatives opposite
    hard = moco_loss(x, -x, x, 0.07)
    assert easy < 1e-3 < hard


def test_patchify_order_matches_the_vit() -> None:
    img = torch.arange(2 * 4 * 4, dtype=torch.float32).view(1, 2, 4, 4)
    p = patchify(img, 2)  # (1, 4, 2*2*2)
    assert p.shape == (1, 4, 8)
    assert p[0, 1].tolist() == [2, 18, 3, 19, 6, 22, 7, 23]  # top-right patch, channel last


def test_schedule_and_precision() -> None:
    assert cosine_warmup(0, 10, 100, 0.0) == pytest.approx(0.1)
    assert cosine_warmup(10, 10, 100, 0.0) == pytest.approx(1.0)
    assert cosine_warmup(100, 10, 100, 0.05) == pytest.approx(0.05)
    assert resolve_precision("auto", torch.device("cpu")) is None
    with pytest.raises(ConfigError, match="fp16 needs a CUDA device"):
        resolve_precision("fp16", torch.device("cpu"))


def test_train_checkpoint_resume_log_and_plot(synth_manifest: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    res = pretrain(_cfg(synth_manifest, out, steps=2), progress=False)
    assert (
        res.start_step == 0
        and (out / "checkpoints" / "last.pt").is_file()
        and (out / "checkpoints" / "step-000002.pt").is_file()
    )
    assert res.plot.is_file() and res.plot.stat().st_size > 1000
    assert [r["step"] for r in read_loss_log(res.log)] == [1, 2]
    # resume to 3 steps: continues from step 2
    res2 = pretrain(_cfg(synth_manifest, out, steps=3), progress=False)
    assert res2.start_step == 2
    recs = read_loss_log(res2.log)
    assert [r["step"] for r in recs] == [1, 2, 3]
    assert {"moco_slice", "moco_scan", "itc", "mae", "report", "total", "lr", "grad_norm"} <= set(recs[-1])
    state = torch.load(out / "checkpoints" / "last.pt", weights_only=False)
    assert state["step"] == 3 and not any(k.startswith("text_encoder.") for k in state["pretrain_model"])
    enc = load_checkpoint(res2.encoder)
    assert enc.finding_head is None and enc(torch.zeros(1, 32, 3, 128, 128)).scan_embedding.shape == (1, 64)
    # the pretraining checkpoint itself also loads as an encoder
    assert load_checkpoint(out / "checkpoints" / "last.pt").embed_dim == 64


def test_config_file_errors(tmp_path: Path, synth_manifest: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("model: ct-tiny\nlosses:\n  mea: 1.0\n")
    with pytest.raises(ConfigError, match=r"c.yaml: losses: unknown key\(s\) \['mea'\]"):
        load_pretrain_config(p)
    p.write_text("model: ct-tiny\nsteps: [\n")
    with pytest.raises(ConfigError, match="cannot parse") as e:
        load_pretrain_config(p)
    assert e.value.file == str(p)
    p.write_text(f"model: ct-tiny\ndata:\n  manifest: {synth_manifest.name}\n")
    (tmp_path / synth_manifest.name).write_text(synth_manifest.read_text().replace('"vol_', '"synth/vol_'))
    assert load_pretrain_config(p).data.manifest == str((tmp_path / synth_manifest.name).resolve())
    with pytest.raises(ConfigError, match="data.manifest is not set"):
        pretrain(PretrainConfig(), progress=False)
    with pytest.raises(ConfigError, match="manifest has 6 pairs but one step needs batch_size"):
        pretrain(_cfg(synth_manifest, tmp_path / "r", batch_size=8), progress=False)


def test_manifest_errors(tmp_path: Path, synth_manifest: Path) -> None:
    m = tmp_path / "m.jsonl"
    m.write_text('{"volume": "missing.nii.gz", "report": "No effusion."}\n')
    with pytest.raises(DataError, match="does not exist") as e:
        read_manifest(m)
    assert (e.value.file, e.value.line) == (str(m), 1)
    vol = synth_manifest.parent / "vol_000.nii.gz"
    m.write_text(f'{{"volume": "{vol}", "report": "  "}}\n')
    with pytest.raises(DataError, match="the report is empty") as e:
        read_manifest(m)
    assert e.value.line == 1
    m.write_text("{oops\n")
    with pytest.raises(DataError, match="not valid JSON"):
        read_manifest(m)
    c = tmp_path / "m.csv"
    c.write_text(f"volume,report\n{vol},Small left pleural effusion.\n")
    assert read_manifest(c)[0].report == "Small left pleural effusion."
