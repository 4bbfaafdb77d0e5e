"""The CT encoder: shapes, masking, the finding head, argument checks, repr and reset."""

from __future__ import annotations

import pytest
import torch

from kgdx.encoders.config import CTEncoderCfg, FindingHeadCfg, SliceFusionCfg, SliceViTCfg
from kgdx.encoders.ct_encoder import CTEncoder
from kgdx.encoders.ct_findings import CT_FINDING_IDS
from kgdx.encoders.factory import create_encoder, get_model_config
from kgdx.encoders.finding_head import FindingHead
from kgdx.encoders.fusion import SliceFusion
from kgdx.encoders.vit import SliceViT
from kgdx.ingest.volume import Volume


@pytest.fixture(scope="module")
def enc() -> CTEncoder:
    torch.manual_seed(0)
    return create_encoder("ct-tiny").eval()


def test_output_shapes(enc: CTEncoder) -> None:
    x = torch.randn(2, 32, 3, 128, 128)  # (B, S, C, H, W)
    out = enc(x)
    assert out.scan_embedding.shape == (2, 64)
    assert out.slice_tokens.shape == (2, 32, 64)
    assert out.slice_cls.shape == (2, 32, 64)
    assert out.finding_logits.shape == (2, len(CT_FINDING_IDS))
    p = out.finding_probs
    assert ((p > 0) & (p < 1)).all()


def test_masking_hides_patches(enc: CTEncoder) -> None:
    out = enc(torch.randn(1, 32, 3, 128, 128), mask_ratio=0.25)
    assert out.vit.mask.shape == (32, 64) and out.vit.mask.sum(1).eq(16).all()
    assert out.vit.tokens.shape == (32, 1 + 48, 64)
    ids = out.vit.ids_restore
    assert (ids.sort(1).values == torch.arange(64)).all()


def test_chunked_inference_matches(enc: CTEncoder) -> None:
    x = torch.randn(2, 32, 3, 128, 128)
    with torch.no_grad():
        torch.testing.assert_close(enc(x, chunk=7).scan_embedding, enc(x).scan_embedding, atol=1e-5, rtol=1e-4)


def test_bad_input_shapes_say_what_they_got(enc: CTEncoder) -> None:
    with pytest.raises(
        ValueError, match=r"expected a batch of shape \(B, 32, 3, 128, 128\), got \(2, 16, 3, 128, 128\)"
    ):
        enc(torch.zeros(2, 16, 3, 128, 128))
    with pytest.raises(ValueError, match=r"got \(32, 3, 128, 128\)"):
        enc(torch.zeros(32, 3, 128, 128))
    with pytest.raises(ValueError, match=r"'mask_ratio' must be in \[0, 1\), got 1.0"):
        enc(torch.zeros(1, 32, 3, 128, 128), mask_ratio=1.0)
    with pytest.raises(ValueError, match="in_dim' must be positive, got 0"):
        SliceFusion(SliceFusionCfg(), in_dim=0)


def test_reprs() -> None:
    vit = SliceViT(SliceViTCfg(image_size=32, patch_size=16, width=32, depth=1, heads=4))
    assert repr(vit).startswith("SliceViT(\n  image_size=32, patch_size=16, width=32, depth=1, heads=4, stem=patch\n")
    fus = SliceFusion(SliceFusionCfg(num_slices=4, width=32, heads=8, ffn=64), in_dim=16)
    assert repr(fus).startswith("SliceFusion(\n  num_slices=4, in_dim=16, width=32, depth=2, heads=8\n")
    head = FindingHead(32, FindingHeadCfg())
    assert repr(head).startswith("FindingHead(\n  in_dim=32, findings=16, hidden=0\n")


def test_reset_parameters_redraws_weights(enc: CTEncoder) -> None:
    e = create_encoder("ct-tiny")
    before = e.fusion.pos_embed.detach().clone()
    w = e.slice_encoder.blocks.layers[0].linear1.weight.detach().clone()
    torch.manual_seed(123)
    e.reset_parameters()
    assert not torch.equal(before, e.fusion.pos_embed) and not torch.equal(
        w, e.slice_encoder.blocks.layers[0].linear1.weight
    )


def test_finding_head_probabilities_by_hpo_id() -> None:
    head = FindingHead(8, FindingHeadCfg(findings=("HP:0002202", "HP:0002107"), hidden=4))
    probs = head.probabilities(torch.zeros(3, 8))
    assert len(probs) == 3 and list(probs[0]) == ["HP:0002202", "HP:0002107"]
    with pytest.raises(ValueError, match=r"shape \(B, 8\), got \(3, 9\)"):
        head(torch.zeros(3, 9))


def test_without_head_and_embed_volumes(phantom) -> None:
    e = CTEncoder(get_model_config("ct-tiny"), finding_head=False)
    assert e.finding_head is None and e.findings == ()
    emb, probs = e.embed([Volume(phantom.array), Volume(phantom.array[:5])], batch_size=1)
    assert emb.shape == (2, 64) and probs is None
    emb2, probs2 = create_encoder("ct-tiny").embed(Volume(phantom.array))
    assert emb2.shape == (1, 64) and set(probs2[0]) == set(CT_FINDING_IDS)


def test_backward_reaches_every_parameter() -> None:
    e = create_encoder("ct-tiny")
    out = e(torch.randn(2, 32, 3, 128, 128), mask_ratio=0.2)
    loss = out.scan_embedding.sum() + out.finding_logits.sum() + out.slice_tokens.mean()
    loss = loss + e(torch.randn(1, 32, 3, 128, 128)).finding_logits.sum()  # the lesion detector reads unmasked patches
    loss.backward()
    missing = [n for n, p in e.named_parameters() if p.requires_grad and p.grad is None]
    assert missing == []


def test_conv_stem_gives_the_patch_grid() -> None:
    """The conv stem is a drop-in for the patch embedding: the same tokens, masking and gradients."""
    cfg = SliceViTCfg(image_size=64, patch_size=16, width=32, depth=1, heads=4, stem="conv")
    vit = SliceViT(cfg)
    out = vit(torch.randn(3, 3, 64, 64), mask_ratio=0.25)
    assert out.tokens.shape == (3, 1 + 12, 32) and out.mask.shape == (3, 16)
    out.cls.sum().backward()
    assert [n for n, p in vit.named_parameters() if p.requires_grad and p.grad is None] == []
    assert "patch_embed.position_embeddings" in vit.state_dict()  # fixed sin-cos, saved with the weights
    with pytest.raises(ValueError, match="power of two with stem 'conv' \\(got 12\\)"):
        SliceViTCfg(image_size=48, patch_size=12, width=32, heads=4, stem="conv")
    with pytest.raises(ValueError, match="stem must be 'patch' or 'conv'"):
        SliceViTCfg(stem="resnet")  # type: ignore[arg-type]


def test_slice_context_feeds_each_slice_its_neighbours() -> None:
    """2.5-D input: the neighbours' lung window joins each slice's channels, edge slices repeat."""
    cfg = get_model_config("ct-tiny").to_dict()
    cfg["slice_encoder"]["context"] = 1
    e = create_encoder(CTEncoderCfg.from_dict(cfg)).eval()
    x = torch.arange(32.0).view(1, 32, 1, 1, 1).expand(1, 32, 3, 128, 128)
    ctx = e._with_context(x)
    assert ctx.shape == (1, 32, 5, 128, 128)
    assert ctx[0, :3, 3:, 0, 0].tolist() == [[0.0, 1.0], [0.0, 2.0], [1.0, 3.0]]  # below, above
    assert ctx[0, 31, 3:, 0, 0].tolist() == [30.0, 31.0]
    out = e(torch.randn(2, 32, 3, 128, 128))
    assert out.finding_logits.shape == (2, 16)
    # What the stem reads depends on the neighbours: change slice 5 only, and slice 4's vector moves.
    y = torch.randn(1, 32, 3, 128, 128)
    z = y.clone()
    z[0, 5] += 1.0
    assert not torch.allclose(e(y).slice_cls[0, 4], e(z).slice_cls[0, 4])
    with pytest.raises(ValueError, match="context must be at least 0"):
        SliceViTCfg(context=-1)
