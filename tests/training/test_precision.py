"""Mixed precision: what ``auto`` picks, and that bf16 keeps teachers, losses and gradients sound."""

from __future__ import annotations

import pytest
import torch
import yaml

from sak_core.runtime import device as runtime
from sak_core.plugin.lookup import create_teacher
from sak_core.config import build_config
from sak_core.model.distill import distillation_loss
from sak_core.errors import ConfigError
from sak_core.presets.demo import DEMO, TINY_VIT
from sak_core.runtime.device import autocast, grad_scaler, resolve_device, resolve_precision

CPU = torch.device("cpu")

# Every built-in teacher and backend at the demo's tiny size (the real architectures).
TINY_TEACHERS = {
    "dinov2": {"size": "small", "arch": dict(TINY_VIT)},
    "clip (open_clip)": {"arch": dict(TINY_VIT)},
    "clip (timm)": {"backend": "timm", "variant": "vit_base_patch16_clip_224", "pretrained": "openai",
                    "arch": {**TINY_VIT, "img_size": 64}},
    "sam (segment_anything)": {"arch": {**TINY_VIT, "img_size": 128, "global_attn_indexes": [0, 1, 2, 3]}},
    "sam (timm)": {"backend": "timm", "arch": {**TINY_VIT, "img_size": 128, "global_attn_indexes": [0, 1, 2, 3]}},
}


@pytest.fixture
def native_bf16(monkeypatch):
    """``native_bf16(flag)``: pretend this CPU has (or lacks) native bf16."""

    def set_flag(flag: bool) -> None:
        monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: flag)

    return set_flag


def test_auto_picks_bf16_on_a_cpu_that_computes_it_natively(native_bf16):
    native_bf16(True)
    chosen = resolve_precision("auto", CPU)
    assert chosen.name == "bf16" and chosen.dtype == torch.bfloat16
    assert "natively" in chosen.reason
    native_bf16(False)
    chosen = resolve_precision("auto", CPU)
    assert chosen.name == "fp32" and "no native bf16" in chosen.reason


def test_explicit_precisions_are_kept_and_fp32_is_the_reference_mode(native_bf16):
    native_bf16(True)
    assert resolve_precision("fp32", CPU) == ("fp32", "asked for (the reference-exact mode)")
    assert resolve_precision("bf16", CPU).name == "bf16"
    assert resolve_precision("auto", torch.device("meta")).name == "fp32"


def test_fp16_on_cpu_and_unknown_names_are_config_errors():
    with pytest.raises(ConfigError, match="fp16 needs a CUDA GPU"):
        resolve_precision("fp16", CPU)
    with pytest.raises(ConfigError, match="unknown precision 'bf61'"):
        resolve_precision("bf61", CPU)


def test_the_cpu_query_is_torch_own():
    queries = [getattr(torch.cpu, q, None) for q in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    expected = any(query() for query in queries if query is not None)  # torch < 2.4 has neither: False
    assert runtime.cpu_has_native_bf16() == expected


def test_device_errors_name_the_device():
    assert resolve_device("auto") == (torch.device("cuda", 0) if torch.cuda.is_available() else CPU)
    with pytest.raises(ConfigError, match="unknown device 'cdua'"):
        resolve_device("cdua")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="torch sees no GPU"):
            resolve_device("cuda")


def test_autocast_and_scaler_follow_the_resolved_precision(native_bf16):
    native_bf16(True)
    layer = torch.nn.Linear(8, 8)
    x = torch.randn(2, 8)
    with autocast(CPU, "auto"):
        assert layer(x).dtype == torch.bfloat16
    with autocast(CPU, "fp32"):
        assert layer(x).dtype == torch.float32
    assert grad_scaler(CPU, "bf16") is None


def _cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(a.float().flatten(1), b.float().flatten(1)).min())


@pytest.mark.parametrize("label", list(TINY_TEACHERS))
def test_bf16_teacher_features_keep_cosine_0999_with_fp32(label):
    def build():
        torch.manual_seed(0)  # the same random weights each time
        return create_teacher(label.split()[0], weights="random", **TINY_TEACHERS[label])

    images = torch.randn(2, 3, 64, 64)
    reference = build()(images).features
    low = build().place(CPU, "bf16")(images).features
    assert len(low) == len(reference)
    for level, (a, b) in enumerate(zip(low, reference)):
        assert a.dtype == torch.float32 and a.shape == b.shape  # run in bf16, features cast back
        assert _cosine(a, b) >= 0.999, (label, level, _cosine(a, b))


def _demo_student_and_teachers(stage: int):
    """The demo's student and a ``teachers(precision name)`` builder giving the same random teachers."""
    from sak_core.model.assemble import create_student
    from sak_core.training.loop import build_teachers

    config = build_config(DEMO, {"stage": stage, "tasks": [] if stage == 1 else "all"})
    torch.manual_seed(0)
    student = create_student(config)

    def teachers(name: str):
        torch.manual_seed(1)
        return build_teachers(config, CPU, runtime.Precision(name, "asked for"))

    return student, teachers


def test_distillation_loss_at_bf16_is_within_one_percent_of_fp32():
    student, teachers = _demo_student_and_teachers(stage=1)
    images = torch.randn(4, 3, 64, 64)
    losses = {}
    for name in ("fp32", "bf16"):
        targets = {n: t(images) for n, t in teachers(name).items()}
        with torch.no_grad(), autocast(CPU, name):
            out = student(images)
            losses[name] = float(distillation_loss(out.distill, targets)[0])
    assert losses["bf16"] == pytest.approx(losses["fp32"], rel=0.01), losses


def test_a_stage2_step_at_bf16_gives_finite_gradients_to_every_trainable_parameter():
    from sak_core.plugin.lookup import create_task, get_dataset_spec
    from sak_core.model.assemble import add_derived_targets
    from sak_core.evaluation import collate_samples

    student, teachers = _demo_student_and_teachers(stage=2)
    spec = get_dataset_spec("synthetic")
    tasks = list(student.task_names)
    data = spec.create("train", train=True, input_size=(64, 64), tasks=tasks, count=12)
    batch = add_derived_targets(collate_samples([data[i] for i in range(4)]), tasks)
    images = batch["image"]
    targets = {n: t(images) for n, t in teachers("bf16").items()}
    student.train()
    with autocast(CPU, "bf16"):
        out = student(images)
        total = distillation_loss(out.distill, targets)[0]
        for name in tasks:
            task = create_task(name, spec)
            total = total + task.loss_weight * task.loss()(out.tasks[name], batch[name])
    total.backward()
    trainable = [(n, p) for n, p in student.named_parameters() if p.requires_grad]
    assert trainable
    missing = [n for n, p in trainable if p.grad is None]
    bad = [n for n, p in trainable if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert not missing and not bad, (missing[:5], bad[:5])
    assert all(p.grad.dtype == torch.float32 for _, p in trainable)  # fp32 master weights


def test_plain_training_picks_auto_says_why_and_records_the_resolved_value(native_bf16, tmp_path, toy_config):
    from rich.console import Console

    from sak_core.training.loop import Trainer

    native_bf16(True)
    console = Console(record=True, width=400)
    trainer = Trainer(toy_config(optim={"iterations": 1}), tmp_path / "run", console=console)
    trainer.run()
    banner = console.export_text()
    assert "precision: student bf16 (auto: this CPU computes bf16 natively" in banner
    assert "teachers bf16" in banner
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["optim"]["precision"] == "bf16" and saved["optim"]["teacher_precision"] == "bf16"

    console = Console(record=True, width=400)
    Trainer(toy_config(optim={"iterations": 1, "precision": "fp32", "teacher_precision": "fp32"}),
            tmp_path / "exact", console=console).run()
    assert "precision: student fp32 (asked for (the reference-exact mode)); teachers fp32" in console.export_text()
    saved = yaml.safe_load((tmp_path / "exact" / "config.yaml").read_text())
    assert saved["optim"]["precision"] == "fp32"


@pytest.mark.parametrize("backend", ["aot_eager", pytest.param(True, marks=pytest.mark.slow)])
def test_a_compiled_student_trains_and_its_checkpoint_loads_uncompiled(tmp_path, toy_config, backend):
    """optim.compile traces the real student (aot_eager: dynamo and autograd, no code generation;
    true: inductor, which compiles C++ and takes minutes on a CPU)."""
    from sak_core.run.checkpoint import load_student
    from sak_core.training.loop import Trainer

    torch._dynamo.reset()
    run = tmp_path / "run"
    result = Trainer(toy_config(optim={"iterations": 2, "compile": backend}), run).run()
    assert result.step == 2
    losses = [json for json in (run / "metrics.jsonl").read_text().splitlines() if '"train"' in json]
    assert losses and all("NaN" not in line for line in losses)
    student = load_student(run)
    assert not any(k.startswith("_orig_mod") for k in student.state_dict())


def _cpu_autocast_enabled() -> bool:
    try:
        return torch.is_autocast_enabled("cpu")
    except TypeError:  # torch < 2.4 asks per device
        return torch.is_autocast_cpu_enabled()


def test_autocast_keeps_no_cast_weights_without_autograd():
    """In inference every weight is cast once and used once: autocast's cache of cast weights would
    only hold a second copy of the model (measured: 1.12x the fp32 peak with it, 0.91x without)."""
    with torch.no_grad(), autocast(CPU, "bf16"):
        assert _cpu_autocast_enabled() and not torch.is_autocast_cache_enabled()
    with autocast(CPU, "bf16"):
        assert torch.is_autocast_cache_enabled()
