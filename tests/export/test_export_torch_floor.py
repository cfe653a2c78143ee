"""`sak export` on a torch older than the exporter needs: one sentence naming both versions, no file,
instead of torch.export's multi-page trace (torch 2.5-2.7 cannot trace the student)."""

from __future__ import annotations

import pytest
import sak_floors
import torch
from torch.torch_version import TorchVersion

from sak_core import StudentConfig, create_student, save_student
from sak_core.cli.main import main
from sak_core.convert.onnx import MIN_TORCH


@pytest.mark.parametrize("old", ["2.7.1+cu126", "2.3.0"])
def test_an_older_torch_is_refused_by_name(tmp_path, capsys, monkeypatch, old):
    config = StudentConfig(stem="vit_small", stem_overrides={"embed_dim": 32, "depth": 2, "num_heads": 2},
                           input_size=(32, 32), teachers={}, tasks={"semseg": 3})
    save_student(create_student(config), tmp_path / "s.safetensors")
    monkeypatch.setattr(torch, "__version__", TorchVersion(old))
    assert main(["export", str(tmp_path / "s.safetensors"), "--out", str(tmp_path / "s.onnx")]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert f"ONNX export needs torch >= {MIN_TORCH}" in err and f"has torch {old}" in err, err
    assert not (tmp_path / "s.onnx").exists()


def test_the_floor_is_what_the_onnx_extra_asks_for():
    project = sak_floors.tomllib.loads((sak_floors.ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert f"torch>={MIN_TORCH}" in extras["onnx"] and f"torch>={MIN_TORCH}" in extras["test"]
