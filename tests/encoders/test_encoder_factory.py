"""Model configs as data, the factory, and checkpoints by name or path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from kgdx.encoders.config import CTEncoderCfg, SliceViTCfg, config_from_dict
from kgdx.encoders.factory import create_encoder, get_model_config, list_models, load_checkpoint, save_checkpoint
from kgdx.errors import ModelError


def test_list_and_configs() -> None:
    assert list_models() == ["ct-base", "ct-small", "ct-tiny", "lab-base", "lab-tiny", "text-minilm"]
    base = get_model_config("ct-base")
    assert isinstance(base, CTEncoderCfg)
    # MedMPT: ViT-B/16 on 224 x 224, 32 slices, fusion 2 layers x 8 heads, FFN 3072, MAE decoder 512 x 4
    assert (
        base.slice_encoder.width,
        base.slice_encoder.depth,
        base.slice_encoder.heads,
        base.slice_encoder.patch_size,
    ) == (768, 12, 12, 16)
    assert (base.fusion.depth, base.fusion.heads, base.fusion.ffn, base.fusion.num_slices) == (2, 8, 3072, 32)
    assert (base.mae_decoder.width, base.mae_decoder.depth, base.mae_decoder.mask_ratio) == (512, 4, 0.2)
    assert base.preprocess.windows == ((1500.0, -400.0), (2000.0, -500.0), (400.0, 60.0))
    assert config_from_dict(base.to_dict()).to_dict() == base.to_dict()


def test_create_by_name_and_path(tmp_path: Path) -> None:
    enc = create_encoder("ct-tiny")
    assert enc.embed_dim == 64 and len(enc.findings) == 16
    cfg = get_model_config("ct-tiny").to_dict()
    cfg["slice_encoder"]["depth"] = 1
    del cfg["name"]  # the file stem names it
    p = tmp_path / "mine.json"
    p.write_text(json.dumps(cfg))
    mine = create_encoder(p)
    assert len(mine.slice_encoder.blocks.layers) == 1 and mine.cfg.name == "mine"


def test_config_errors_name_the_key_and_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"unknown model 'ct-huge'; known: \['ct-base'"):
        create_encoder("ct-huge")
    bad = get_model_config("ct-tiny").to_dict()
    bad["slice_encoder"]["widht"] = 3
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(bad))
    with pytest.raises(ModelError, match=r"bad.json: slice_encoder: unknown key\(s\) \['widht'\]"):
        create_encoder(p)
    p.write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON") as e:
        get_model_config(p)
    assert e.value.file == str(p)
    with pytest.raises(ModelError, match="'kind' must be one of"):
        config_from_dict({"kind": "audio"})


def test_config_checks_say_what_they_got() -> None:
    with pytest.raises(ValueError, match=r"image_size \(got 65\) must be divisible by patch_size \(got 16\)"):
        SliceViTCfg(image_size=65)
    with pytest.raises(ValueError, match=r"width \(got 70\) must be divisible by heads \(got 4\)"):
        SliceViTCfg(width=70, heads=4)
    d = get_model_config("ct-tiny").to_dict()
    d["preprocess"]["num_slices"] = 16
    with pytest.raises(ModelError, match=r"num_slices \(got 16\) must equal fusion.num_slices \(got 32\)"):
        config_from_dict(d)


def test_checkpoint_roundtrip_by_path_and_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    enc = create_encoder("ct-tiny").eval()
    x = torch.randn(1, 32, 3, 128, 128)
    ref = enc(x).scan_embedding
    p = save_checkpoint(enc, tmp_path / "ct.pt", meta={"note": "test"})
    back = load_checkpoint(p)
    torch.testing.assert_close(back(x).scan_embedding, ref)
    monkeypatch.setenv("KGDX_HOME", str(tmp_path / "home"))
    save_checkpoint(enc, tmp_path / "home" / "checkpoints" / "my-ct.pt")
    torch.testing.assert_close(load_checkpoint("my-ct")(x).scan_embedding, ref)
    torch.testing.assert_close(create_encoder("ct-tiny", pretrained="my-ct").eval()(x).scan_embedding, ref)


def test_bad_checkpoints(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no checkpoint named 'nope'"):
        load_checkpoint("nope")
    with pytest.raises(ModelError, match="no such checkpoint file"):
        load_checkpoint(tmp_path / "x.pt")
    p = save_checkpoint(create_encoder("ct-tiny"), tmp_path / "ct.pt")
    data = p.read_bytes()
    bad = tmp_path / "trunc.pt"
    bad.write_bytes(data[: len(data) // 3])
    with pytest.raises(ModelError, match="corrupt or truncated") as e:
        load_checkpoint(bad)
    assert e.value.file == str(bad)
    torch.save({"weights": {}}, tmp_path / "other.pt")
    with pytest.raises(ModelError, match="not a kgdx checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    from kgdx.reasoning.checkpoint import checkpoint_path

    with pytest.raises(ModelError, match="a 'phenotype-model' checkpoint, not 'encoder' or 'pretrain'"):
        load_checkpoint(checkpoint_path("default"))  # the shipped phenotype model is no encoder
    with pytest.raises(ModelError, match="does not fit"):
        create_encoder("ct-small", pretrained=p)


def test_the_shipped_phantom_checkpoint_loads_by_name() -> None:
    """``KGDX_CT_MODEL=ct-tiny-phantom``: a trained finding head, with the record of how it was made."""
    from kgdx import checkpoints
    from kgdx.encoders.ct_findings import CT_FINDING_IDS
    from kgdx.encoders.factory import _shipped

    enc = load_checkpoint("ct-tiny-phantom")
    assert enc.finding_head is not None and enc.findings == CT_FINDING_IDS
    meta = checkpoints.read("ct-tiny-phantom", kinds=("encoder",), shipped=_shipped())["meta"]
    assert meta["finding_head"] == "trained" and meta["cohort_n"] == 1600
    assert (_shipped() / "ct-tiny-phantom.pt").stat().st_size < 50 * 2**20
    with torch.no_grad():
        p = enc(torch.zeros(1, *enc_input_shape(enc))).finding_probs
    assert p.shape == (1, len(CT_FINDING_IDS)) and torch.isfinite(p).all()


def enc_input_shape(enc) -> tuple[int, int, int, int]:  # noqa: ANN001
    c = enc.cfg
    return (c.fusion.num_slices, c.slice_encoder.in_channels, c.slice_encoder.image_size, c.slice_encoder.image_size)
