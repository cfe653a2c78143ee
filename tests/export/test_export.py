"""`sak export`: the ONNX graph onnxruntime runs gives the PyTorch student's outputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

from sak_core import StudentConfig, create_student, save_student
from sak_core.cli.main import main
from sak_core.config import RunConfig
from sak_core.convert.onnx import MIN_TORCH, compare_with_onnxruntime, export_onnx, read_onnx_metadata

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")
pytestmark = pytest.mark.skipif(torch.__version__ < MIN_TORCH, reason=f"sak export needs torch >= {MIN_TORCH} "
                                "(test_export_torch_floor.py checks the refusal)")

TASKS = {"semseg": 3, "normals": 3}


def tiny_student(seed: int = 0):
    torch.manual_seed(seed)
    config = StudentConfig(
        stem="vit_small", stem_overrides={"embed_dim": 32, "depth": 4, "num_heads": 2}, input_size=(32, 48),
        teachers={"dinov2": 24, "sam": 0}, aligners=True, tasks=TASKS,
    )
    student = create_student(config)
    with torch.no_grad():  # routers and head batch norms away from their initial values
        for name, p in student.named_parameters():
            if "routers" in name or "heads" in name:
                p.add_(torch.randn_like(p) * 0.2)
        for name, b in student.named_buffers():
            if "running_var" in name:
                b.uniform_(0.5, 2.0)
            elif "running_mean" in name:
                b.normal_(0, 0.3)
    return student.eval()


@pytest.fixture
def run_dir(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    save_student(tiny_student(), run / "model.safetensors")
    config = RunConfig(stage=2, tasks=list(TASKS), data={"dataset": "synthetic"})
    (run / "config.yaml").write_text(yaml.safe_dump(config.model_dump(mode="json")))
    return run


def session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_dynamic_export_with_distillation_matches_pytorch_at_two_sizes(run_dir, tmp_path, capsys):
    out = tmp_path / "student.onnx"
    assert main(["export", str(run_dir), "--format", "onnx", "--out", str(out), "--dynamic", "--distill"]) == 0
    printed = capsys.readouterr().out
    assert "max abs difference" in printed

    sess = session(out)
    assert [i.name for i in sess.get_inputs()] == ["image"]
    names = [o.name for o in sess.get_outputs()]
    levels = [f"level{l}" for l in range(4)]
    assert names == ["semseg", "normals", *(f"distill.dinov2.{l}" for l in levels),
                     *(f"distill.sam.{l}" for l in levels)]

    student = tiny_student()
    for size in [(32, 48), (64, 32)]:  # the traced size and another one
        images = torch.randn(3, 3, *size, generator=torch.Generator().manual_seed(sum(size)))
        got = dict(zip(names, sess.run(None, {"image": images.numpy()})))
        with torch.no_grad():
            ref = student(images)
        assert got["semseg"].shape == (3, 3, *size)
        assert got["distill.dinov2.level2"].shape == (3, 24, size[0] // 16, size[1] // 16)
        assert got["distill.sam.level0"].shape == (3, 32, size[0] // 16, size[1] // 16)
        for task, value in ref.tasks.items():
            assert np.abs(got[task] - value.numpy()).max() <= 1e-4, (task, size)
        for teacher, maps in ref.distill.items():
            for level, value in enumerate(maps):
                assert np.abs(got[f"distill.{teacher}.level{level}"] - value.numpy()).max() <= 1e-4

    meta = read_onnx_metadata(out)
    config = json.loads(meta["sak_student_config"])
    assert config["tasks"] == TASKS and config["input_size"] == [32, 48]
    assert yaml.safe_load(meta["sak_run_config"])["data"]["dataset"] == "synthetic"
    assert len(json.loads(meta["sak_mean"])) == 3 and meta["sak_normalisation"] == "dataset synthetic"
    assert json.loads(meta["sak_outputs"])["semseg"] == 3


def test_static_export_of_chosen_tasks_has_a_fixed_size(tmp_path):
    student = tiny_student(seed=1)
    result = export_onnx(student, tmp_path / "s.onnx", size=(48, 32), tasks=["normals"])
    assert result.outputs == {"normals": 3} and not result.dynamic
    sess = session(result.path)
    assert [o.name for o in sess.get_outputs()] == ["normals"]
    assert sess.get_inputs()[0].shape[1:] == [3, 48, 32]
    images = torch.randn(2, 3, 48, 32)
    assert max(compare_with_onnxruntime(student, result.path, images).values()) <= 1e-4
    with pytest.raises(Exception, match="(?i)dimension|shape"):
        sess.run(None, {"image": np.zeros((1, 3, 64, 64), np.float32)})


@pytest.mark.parametrize("args, message", [
    (["--size", "30x32"], "multiples of 16"),
    (["--tasks", "semseg,depth"], "no task depth"),
    (["--opset", "13"], "opset 13 is below 18, the lowest this exporter writes"),
    (["--opset", "99"], "torch's exporter could not write opset 99"),
])
def test_refuses_what_it_cannot_export(run_dir, tmp_path, capsys, args, message):
    assert main(["export", str(run_dir), "--out", str(tmp_path / "x.onnx"), *args]) == 1
    err = capsys.readouterr().err
    assert message in err
    assert err.startswith("error: ") and err.count("\n") == 1  # one line: no onnxscript traceback before it
    assert not (tmp_path / "x.onnx").exists()


def test_the_opset_asked_for_is_the_opset_written(tmp_path):
    result = export_onnx(tiny_student(seed=1), tmp_path / "s.onnx", size=(32, 32), tasks=["normals"], opset=19)
    onnx = pytest.importorskip("onnx")
    assert {o.domain: o.version for o in onnx.load(str(result.path)).opset_import}[""] == 19
