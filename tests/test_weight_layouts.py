"""Teacher weights in the Hugging Face transformers layout: files written by transformers' own
randomly initialised models load into the dinov2, clip and sam teachers and give its features."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file

transformers = pytest.importorskip("transformers")
if not transformers.utils.is_torch_available():  # transformers 5 builds no model on torch < 2.6
    pytest.skip(f"transformers {transformers.__version__} cannot use torch {torch.__version__}",
                allow_module_level=True)

import sak_core
from sak_core.errors import CheckpointError, ConvertedWeightsWarning

OPENAI_MEAN, OPENAI_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)


def save(model: torch.nn.Module, folder) -> str:
    """The model's file as ``save_pretrained`` writes it (the layout of the hub's files)."""
    model.save_pretrained(folder)
    return str(folder / "model.safetensors")


def randomise(model: torch.nn.Module) -> torch.nn.Module:
    """Non-trivial values where transformers initialises constants (biases, layer scale, tokens)."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim <= 1 or "token" in name or "position" in name:
                p.copy_(torch.randn(p.shape, generator=generator) * 0.5)
    return model.eval()


def block_outputs(model: torch.nn.Module, images: torch.Tensor, taps, grid, tokens: bool = True):
    """transformers' hidden state after each tapped block, as B x C x h x w (CLS dropped)."""
    with torch.no_grad():
        states = model(pixel_values=images, output_hidden_states=True).hidden_states
    if not tokens:  # SAM: B x h x w x C
        return [states[t + 1].permute(0, 3, 1, 2) for t in taps]
    return [states[t + 1][:, 1:].transpose(1, 2).reshape(images.shape[0], -1, *grid) for t in taps]


def token_cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return torch.nn.functional.cosine_similarity(a, b, dim=1).mean().item()


# -- DINOv2 -------------------------------------------------------------------------------------


def dinov2_model(**config) -> transformers.Dinov2Model:
    config = {**dict(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, image_size=56, patch_size=14), **config}
    torch.manual_seed(0)
    return randomise(transformers.Dinov2Model(transformers.Dinov2Config(**config)))


@pytest.fixture(scope="module")
def dinov2(tmp_path_factory):
    model = dinov2_model()
    path = save(model, tmp_path_factory.mktemp("dinov2"))
    with pytest.warns(ConvertedWeightsWarning, match=r"transformers Dinov2Model layout; converted to the original "
                                                     r"DINOv2 release on the fly \(\d+ tensors\)"):
        teacher = sak_core.create_teacher("dinov2", size="small", weights=path,
                                          arch=dict(embed_dim=32, depth=4, num_heads=2, img_size=56))
    return model, teacher, path


def test_dinov2_features_equal_transformers_at_the_native_size(dinov2):
    model, teacher, _ = dinov2
    images = torch.randn(2, 3, 56, 56)
    expected = block_outputs(model, images, teacher.spec.tap_indices, (4, 4))
    for got, want in zip(teacher(images).features, expected, strict=True):
        assert torch.allclose(got, want, atol=1e-4, rtol=0), (got - want).abs().max()


@pytest.mark.parametrize(("side", "floor"), [(84, 0.99), (28, 0.95)])
def test_dinov2_differs_slightly_where_position_embeddings_are_resized(dinov2, side, floor):
    """timm resizes position embeddings with antialiased bicubic, transformers with plain bicubic
    (another kernel, even when enlarging): off the native grid the features differ a little."""
    model, teacher, _ = dinov2
    images = torch.randn(2, 3, side, side)
    grid = (side // 14, side // 14)
    expected = block_outputs(model, images, teacher.spec.tap_indices, grid)
    cosines = [token_cosine(g, w) for g, w in zip(teacher(images).features, expected)]
    assert all(floor < c < 1 - 1e-6 for c in cosines), cosines


def test_dinov2_swiglu_giant_layout(tmp_path):
    # giant's SwiGLU MLP (weights_in / weights_out); 48 wide gives both libraries the same hidden width
    model = dinov2_model(hidden_size=48, num_hidden_layers=2, use_swiglu_ffn=True)
    path = save(model, tmp_path)
    with pytest.warns(ConvertedWeightsWarning):
        teacher = sak_core.create_teacher("dinov2", size="giant", weights=path,
                                          arch=dict(embed_dim=48, depth=2, num_heads=2, img_size=56))
    images = torch.randn(1, 3, 56, 56)
    for got, want in zip(teacher(images).features, block_outputs(model, images, teacher.spec.tap_indices, (4, 4))):
        assert torch.allclose(got, want, atol=1e-4, rtol=0)


def test_dinov2_classifier_file_loads_its_backbone_and_names_the_head(tmp_path, dinov2):
    model, teacher, path = dinov2
    state = {f"dinov2.{k}": v for k, v in load_file(path).items()}
    state["classifier.weight"], state["classifier.bias"] = torch.zeros(1000, 64), torch.zeros(1000)
    save_file(state, tmp_path / "classifier.safetensors")
    with pytest.warns(ConvertedWeightsWarning, match=r"left out: classifier\.\* \(2 tensors\)"):
        again = sak_core.create_teacher("dinov2", size="small", weights=tmp_path / "classifier.safetensors",
                                        arch=dict(embed_dim=32, depth=4, num_heads=2, img_size=56))
    images = torch.randn(1, 3, 56, 56)
    assert all(torch.equal(a, b) for a, b in zip(again(images).features, teacher(images).features))


def test_unknown_or_incomplete_keys_are_named_not_skipped(tmp_path, dinov2):
    _, _, path = dinov2
    state = load_file(path)
    state["embeddings.register_tokens"] = torch.zeros(1, 4, 32)  # a layout the converter does not know
    del state["encoder.layer.1.attention.attention.key.weight"]  # q, k, v cannot be fused
    save_file(state, tmp_path / "odd.safetensors")
    with pytest.warns(ConvertedWeightsWarning), pytest.raises(CheckpointError) as error:
        sak_core.create_teacher("dinov2", size="small", weights=tmp_path / "odd.safetensors",
                                arch=dict(embed_dim=32, depth=4, num_heads=2, img_size=56))
    message = str(error.value)
    assert "embeddings.register_tokens" in message and "blocks.1.attn.qkv.weight" in message
    assert "blocks.1.attn.query.weight" in message  # the unfused pieces, listed as unexpected


# -- CLIP ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    vision = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128, image_size=32,
                  patch_size=16, hidden_act="gelu")  # ViT-B-16 laion2b uses GELU, not OpenAI's quick GELU
    text = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    torch.manual_seed(0)
    config = transformers.CLIPConfig(vision_config=vision, text_config=text, projection_dim=512)
    model = randomise(transformers.CLIPModel(config))
    return model, save(model, tmp_path_factory.mktemp("clip"))


@pytest.mark.parametrize(("backend", "variant"), [("open_clip", "ViT-B-16"), ("timm", "vit_base_patch16_clip_224.laion2b")])
def test_clip_features_equal_transformers(clip, backend, variant):
    model, path = clip
    variant, _, tag = variant.partition(".")
    with pytest.warns(ConvertedWeightsWarning, match=r"CLIPModel layout; converted to open_clip's CLIP layout .*"
                                                     r"left out: logit_scale, text_model\.\* \(\d+ tensors\), text_projection"):
        teacher = sak_core.create_teacher(
            "clip", backend=backend, variant=variant, pretrained=tag or None, weights=path,
            arch=dict(embed_dim=32, depth=2, num_heads=2, img_size=32), input_mean=OPENAI_MEAN, input_std=OPENAI_STD,
        )
    images = torch.randn(2, 3, 32, 32)
    expected = block_outputs(model.vision_model, images, teacher.spec.tap_indices, (2, 2))
    for got, want in zip(teacher(images).features, expected, strict=True):
        assert torch.allclose(got, want, atol=1e-4, rtol=0)


def test_clip_fine_tuned_timm_teacher_refuses_the_transformers_file(clip):
    """The paper's timm CLIP is fine-tuned on ImageNet: its 1000-class head is not in a
    transformers CLIP file, which is therefore a different model, refused by name."""
    _, path = clip
    with pytest.warns(ConvertedWeightsWarning), pytest.raises(CheckpointError, match=r"head\.weight \(512, 32\) vs \(1000, 32\)"):
        sak_core.create_teacher("clip", backend="timm", weights=path, arch=dict(embed_dim=32, depth=2, num_heads=2, img_size=32))


# -- SAM ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["segment_anything", "timm"])
def test_sam_features_equal_transformers(tmp_path, backend):
    vision = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_dim=128, image_size=64,
                  patch_size=16, global_attn_indexes=[0, 1], window_size=2)
    torch.manual_seed(0)
    model = randomise(transformers.SamModel(transformers.SamConfig(vision_config=vision)))
    path = save(model, tmp_path)
    with pytest.warns(ConvertedWeightsWarning, match=r"SamModel layout; converted to the official SAM layout .*"
                                                     r"left out: mask_decoder\.\* .*prompt_encoder\.\*"):
        teacher = sak_core.create_teacher("sam", backend=backend, weights=path, arch=dict(
            embed_dim=32, depth=2, num_heads=2, img_size=64, global_attn_indexes=[0, 1], window_size=2))
    images = torch.randn(2, 3, 64, 64)
    expected = block_outputs(model.vision_encoder, images, teacher.spec.tap_indices, (4, 4), tokens=False)
    for got, want in zip(teacher(images).features, expected, strict=True):
        assert torch.allclose(got, want, atol=1e-4, rtol=0)
