"""The student network: sizes, the adapter recursion, routing, heads and ablation switches."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import sak_core
from sak_core.config import ModelSection, RunConfig, build_config
from sak_core.errors import ConfigError
from sak_core.model import DecodeHead, RepresentationRouter, SAKStudent, StudentConfig, default_tap_indices

TINY = dict(stem_overrides=dict(embed_dim=32, depth=4, num_heads=2), input_size=(32, 32))
PASCAL = dict(semseg=21, parts=7, saliency=2, normals=3, boundaries=1)
NYUD = dict(semseg=40, normals=3, boundaries=1, depth=1)
THREE_TEACHERS = dict(dinov2=768, clip=768, sam=768)


def tiny_student(**changes) -> SAKStudent:
    config = dict(TINY, teachers=dict(a=32, b=32), tasks=dict(seg=5, reg=1))
    config.update(changes)
    torch.manual_seed(0)
    return SAKStudent(StudentConfig(**config))


def millions(module: torch.nn.Module) -> float:
    return sum(p.numel() for p in module.parameters()) / 1e6


@pytest.mark.parametrize(
    "tasks, size, expected",
    [(PASCAL, (512, 512), 133.5), (NYUD, (448, 576), 126.4)],
)
def test_reference_parameter_counts(tasks, size, expected):
    with torch.device("meta"):  # no memory for the weights
        student = SAKStudent(StudentConfig(input_size=size, teachers=THREE_TEACHERS, tasks=tasks))
    total = millions(student)
    print(f"ViT-B student, 3 teachers, {len(tasks)} tasks: {total:.3f}M parameters")
    assert total == pytest.approx(expected, rel=0.005)
    assert millions(student.stem) == pytest.approx(86.4, abs=0.05)
    assert millions(student.adapter_paths) == pytest.approx(11.5, abs=0.05)


def test_pascal_part_sizes_match_the_paper():
    with torch.device("meta"):
        student = SAKStudent(StudentConfig(input_size=(512, 512), teachers=THREE_TEACHERS, tasks=PASCAL))
    assert millions(student.routers) == pytest.approx(6.0, abs=0.05)
    assert millions(student.heads) == pytest.approx(29.5, abs=0.05)


def test_default_tap_indices():
    assert default_tap_indices(12) == [2, 5, 8, 11]
    assert default_tap_indices(24) == [5, 11, 17, 23]
    assert default_tap_indices(3) == [0, 1, 2]


def test_forward_shapes_and_backward():
    student = tiny_student(aligners=True, teachers=dict(a=48, b=16))
    images = torch.randn(2, 3, 32, 48)
    out = student(images)
    assert {k: tuple(v.shape) for k, v in out.tasks.items()} == {"seg": (2, 5, 32, 48), "reg": (2, 1, 32, 48)}
    assert [tuple(f.shape) for f in out.distill["a"]] == [(2, 48, 2, 3)] * 4
    assert [tuple(f.shape) for f in out.distill["b"]] == [(2, 16, 2, 3)] * 4
    loss = sum(v.sum() for v in out.tasks.values()) + sum(f.sum() for fs in out.distill.values() for f in fs)
    loss.backward()
    assert all(p.grad is not None for n, p in student.named_parameters() if "stem.vit.blocks.0" in n)


def test_adapter_path_follows_the_recursion():
    """r0 = A0(x0); r_{i+1} = A_{i+1}(r_i + x_{i+1}); distilled map = LayerNorm of r at the taps."""
    student = tiny_student(tasks={}).eval()
    images = torch.randn(1, 3, 32, 32)
    x = student.stem.embed(images)
    adapters = student.adapter_paths["a"].adapters
    r = adapters[0].up(F.gelu(adapters[0].down(x))) * adapters[0].scale + x
    expected = []
    for i, block in enumerate(student.stem.blocks):
        x = block(x)
        s = r + x
        r = s + adapters[i + 1].up(F.gelu(adapters[i + 1].down(s))) * adapters[i + 1].scale
        if i in student.tap_indices:
            level = student.tap_indices.index(i)
            rep = student.norms[f"level{level}"]["a"](r[:, 1:])  # drop the class token
            expected.append(rep.transpose(1, 2).reshape(1, 32, 2, 2))
    out = student(images)
    for got, want in zip(out.distill["a"], expected, strict=True):
        torch.testing.assert_close(got, want)


def test_router_gate_structure_and_noise():
    router = RepresentationRouter(dim=32, num_experts=3, noisy_gating=True)
    assert router.gate[-1].out_features == 6
    tokens = torch.randn(2, 10, 32)
    router.eval()
    clean = router.gate(tokens).mean(1)[:, :3].softmax(1)
    torch.testing.assert_close(router.weights(tokens), clean)
    router.train()
    torch.manual_seed(1)
    noisy = router.weights(tokens)
    assert not torch.allclose(noisy, clean)
    assert RepresentationRouter(32, 3, noisy_gating=False).gate[-1].out_features == 3


@settings(max_examples=25, deadline=None)
@given(
    batch=st.integers(1, 3),
    tokens=st.integers(1, 20),
    experts=st.integers(1, 5),
    training=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_router_weights_are_a_distribution(batch, tokens, experts, training, seed):
    torch.manual_seed(seed)
    router = RepresentationRouter(16, experts).train(training)
    w = router.weights(torch.randn(batch, tokens, 16) * 5)
    assert w.shape == (batch, experts)
    assert (w >= 0).all()
    torch.testing.assert_close(w.sum(1), torch.ones(batch))


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_eval_routing_is_deterministic(seed):
    student = tiny_student().eval()
    torch.manual_seed(seed)
    images = torch.randn(1, 3, 32, 32)
    first = student(images).tasks["seg"]
    torch.manual_seed(seed + 1)
    torch.testing.assert_close(student(images).tasks["seg"], first)


_SHAPE_STUDENT = tiny_student().eval()


@settings(max_examples=12, deadline=None)
@given(h=st.integers(1, 5), w=st.integers(1, 5))
def test_output_shape_follows_input_size(h, w):
    H, W = 16 * h, 16 * w
    out = _SHAPE_STUDENT(torch.randn(1, 3, H, W))
    assert out.tasks["seg"].shape == (1, 5, H, W)
    assert out.distill["a"][0].shape == (1, 32, h, w)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_sum_router_equals_plain_sum_of_experts(seed):
    """With router=sum each head sees stem tokens + every teacher representation."""
    student = tiny_student(router="sum").eval()
    torch.manual_seed(seed)
    images = torch.randn(1, 3, 32, 32)
    captured = []
    handle = student.heads["seg"].register_forward_pre_hook(lambda m, args: captured.append(args[0]))
    out = student(images)
    handle.remove()
    x = student.stem.embed(images)
    levels = []
    for i, block in enumerate(student.stem.blocks):
        x = block(x)
        if i in student.tap_indices:
            levels.append(x[:, 1:].transpose(1, 2).reshape(1, 32, 2, 2))
    for level, stem_map in enumerate(levels):
        expected = stem_map + out.distill["a"][level] + out.distill["b"][level]  # no aligners: distill = representation
        torch.testing.assert_close(captured[0][level], expected)


def test_head_matches_hand_computation():
    torch.manual_seed(0)
    head = DecodeHead(dim=16, num_outputs=3, num_levels=4).eval()
    levels = [torch.randn(1, 16, 2, 2) for _ in range(4)]
    reduced = [
        F.interpolate(F.linear(f.flatten(2).transpose(1, 2), lin.weight, lin.bias).transpose(1, 2).reshape(1, 4, 2, 2),
                      size=(8, 8), mode="bilinear", align_corners=False)
        for f, lin in zip(levels, head.reduce)
    ]
    fused = head.fuse(torch.cat(reduced, 1))
    expected = F.interpolate(head.classify(fused), size=(32, 32), mode="bilinear", align_corners=False)
    torch.testing.assert_close(head(levels, (32, 32)), expected)


def test_freeze_switches():
    frozen_stem = tiny_student(freeze_stem=True)
    assert not any(p.requires_grad for p in frozen_stem.stem.parameters())
    assert all(p.requires_grad for p in frozen_stem.adapter_paths.parameters())
    routers_only = tiny_student(freeze_all_but_routers=True)
    trainable = {n.split(".")[0] for n, p in routers_only.named_parameters() if p.requires_grad}
    assert trainable == {"routers", "heads"}


def test_adapter_ratio_sets_the_bottleneck():
    student = tiny_student(adapter_ratio=8)
    assert student.adapter_paths["a"].adapters[0].down.out_features == 4


def test_per_level_teacher_widths():
    student = tiny_student(aligners=True, teachers=dict(a=32, conv=[8, 16, 24, 40]))
    out = student(torch.randn(1, 3, 32, 32))
    assert [f.shape[1] for f in out.distill["conv"]] == [8, 16, 24, 40]
    with pytest.raises(ConfigError, match=r"gives 3 level widths \[8, 16, 24\] but the student taps 4"):
        tiny_student(aligners=True, teachers=dict(conv=[8, 16, 24]))


def test_width_mismatch_without_aligners_is_explained():
    with pytest.raises(ConfigError, match="teacher 'b' is 16 wide but the stem is 32: set aligners: true"):
        tiny_student(teachers=dict(a=32, b=16))


def test_input_size_must_be_multiple_of_16():
    with pytest.raises(ValueError, match="multiples of 16"):
        StudentConfig(**dict(TINY, input_size=(30, 32)), teachers=dict(a=32))


def test_the_student_config_is_the_model_section_plus_what_plugins_resolve():
    assert set(StudentConfig.model_fields) - set(ModelSection.model_fields) == {"input_size", "teachers", "tasks"}
    config = StudentConfig(**TINY, teachers=dict(a=32), adapter_ratio=8)
    assert config.model_section() == ModelSection(stem_overrides=TINY["stem_overrides"], adapter_ratio=8)


@pytest.mark.parametrize(
    "layer, where",
    [
        ({"data": {"input_size": [30, 32]}}, "data.input_size: Value error, input_size (30, 32) must be positive multiples of 16"),
        ({"model": {"tap_indices": [1, 1]}}, "model.tap_indices: Value error, tap_indices [1, 1] must be distinct"),
        ({"model": {"adapter_ratio": 0}}, "model.adapter_ratio"),
        ({"model": {"routers": "mor"}}, "model.routers: Extra inputs are not permitted"),
        ({"stage": 1}, "stage 1 distils teachers into the student"),
    ],
)
def test_student_problems_are_config_errors_when_the_config_is_read(layer, where):
    with pytest.raises(ConfigError) as info:
        build_config(layer)
    assert where in str(info.value)


def test_what_plugins_bring_in_fails_as_a_config_error_before_training(toy_plugins):
    """toy_b is 32 wide, the stem 64: without aligners that is a config error naming the fix."""
    config = build_config({"teachers": "toy_a,toy_b", "data": {"dataset": "toy"},
                           "model": {"stem_overrides": dict(embed_dim=64, depth=4, num_heads=2)}})
    with pytest.raises(ConfigError, match=r"teacher 'toy_b' is 32 wide but the stem is 64: set aligners: true \(model.aligners\)"):
        sak_core.create_student(config)
    deep = build_config({"teachers": "toy_a", "data": {"dataset": "toy"},
                         "model": {"stem_overrides": dict(embed_dim=64, depth=4, num_heads=2), "tap_indices": [1, 9]}})
    with pytest.raises(ConfigError, match=r"the stem 'vit_base' has 4 blocks \(model.tap_indices\)"):
        sak_core.create_student(deep)


def test_create_student_from_run_config_uses_plugin_specs(toy_plugins):
    config = RunConfig.model_validate(
        dict(
            teachers="toy_a,toy_b",
            tasks="all",
            model=dict(stem_overrides=dict(embed_dim=64, depth=4, num_heads=2), aligners=True),
            data=dict(dataset="toy"),
        )
    )
    student = sak_core.create_student(config)
    assert student.config.teachers == {"toy_a": 64, "toy_b": 32}
    assert student.config.tasks == {"toy_seg": 2, "toy_reg": 1}
    assert student.config.input_size == (64, 64)


def test_tiny_student_trains_against_toy_teachers(toy_plugins):
    """One distillation + task step with teachers from plugins lowers nothing to NaN and moves weights."""
    from sak_core.model.distill import distillation_loss

    teachers = {n: sak_core.create_teacher(n) for n in ("toy_a", "toy_b")}
    student = SAKStudent(StudentConfig(stem_overrides=dict(embed_dim=64, depth=4, num_heads=2), input_size=(64, 64),
                                       teachers={"toy_a": 64, "toy_b": 32}, tasks={"toy_seg": 2}, aligners=True))
    optimizer = torch.optim.AdamW(student.parameters(), lr=1e-3)
    images = torch.randn(2, 3, 64, 64)
    before = student.stem.vit.blocks[0].attn.qkv.weight.clone()
    out = student(images)
    distill, terms = distillation_loss(out.distill, {n: t(images) for n, t in teachers.items()})
    assert len(terms) == 8
    loss = distill + F.cross_entropy(out.tasks["toy_seg"], (images[:, 0] > 0).long())
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    assert not torch.equal(before, student.stem.vit.blocks[0].attn.qkv.weight)
    assert all(p.grad is None for t in teachers.values() for p in t.parameters())


def test_routing_weights_are_the_clean_eval_gates_whatever_the_mode(tmp_path):
    student = tiny_student(noisy_gating=True, teachers=dict(a=32, b=32, c=32)).train()
    images = torch.randn(2, 3, 32, 32)
    first = student.routing_weights(images)
    assert student.training  # the caller's mode is restored
    second = student.routing_weights(images)
    for task in first:
        assert torch.equal(first[task], second[task])  # no gate noise: deterministic in train mode
    expected = student.eval().routing_weights(images)
    assert not student.training
    for task in first:
        assert first[task].shape == (2, 4, 4)  # B, levels, E (stem + three teachers)
        torch.testing.assert_close(first[task], expected[task], rtol=0, atol=0)


def _force_gate(router: RepresentationRouter, expert: int) -> None:
    """Make ``router`` put all its weight on one expert, whatever the image."""
    last = router.gate[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(-30.0)
        last.bias[expert] = 30.0  # the clean logits are the first E outputs


@pytest.mark.parametrize("expert", [0, 1, 2], ids=["stem", "first-teacher", "second-teacher"])
def test_expert_order_is_the_stem_then_the_teachers_in_config_order(expert):
    student = tiny_student(teachers=dict(b=32, a=32)).eval()  # config order b, a: not alphabetical
    assert student.teacher_names == ["b", "a"]
    key, task = "level1", "seg"
    router = student.routers[key][task]
    _force_gate(router, expert)
    seen: dict[str, torch.Tensor] = {}
    hooks = [router.register_forward_hook(lambda m, args, out: seen.update(stem=args[0], routed=out))]
    for name in student.teacher_names:
        hooks.append(student.norms[key][name].register_forward_hook(
            lambda m, args, out, name=name: seen.update({name: out})))
    try:
        with torch.no_grad():
            student(torch.randn(1, 3, 32, 32))
    finally:
        for h in hooks:
            h.remove()
    source = ["stem", *student.teacher_names][expert]
    tokens = seen[source]  # B, h*w, C
    expected = tokens.transpose(1, 2).reshape(1, -1, 2, 2)  # B, C, h, w
    torch.testing.assert_close(seen["routed"], expected, rtol=0, atol=1e-6)
    others = [s for s in ["stem", *student.teacher_names] if s != source]
    assert all(not torch.allclose(seen["routed"], seen[o].transpose(1, 2).reshape(1, -1, 2, 2)) for o in others)
