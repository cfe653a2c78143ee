"""A student whose outputs are not finite stops `sak eval` and `sak predict` with one line naming
the tasks and the samples (it was scored with exit 0, normals and depth shown as `-`)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from sak_core import load_student, save_student
from sak_core.datasets.batch import non_finite_error
from sak_core.cli.main import main


def _overflowing_depth_head(run) -> None:
    """Give the depth head finite weights whose products overflow: +-3e38 -> inf - inf = NaN.
    (Weights that are NaN themselves are refused when the checkpoint is loaded.)"""
    student = load_student(run / "model.safetensors")
    with torch.no_grad():
        weight = student.heads["depth"].classify.weight  # 1 x C x 1 x 1
        weight[:, 0::2] = 3e38
        weight[:, 1::2] = -3e38
    save_student(student, run / "model.safetensors")


def _one_error_line(err: str) -> str:
    (line,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert "Traceback" not in err and "bug" not in err, err
    return line


def test_eval_of_a_student_with_non_finite_outputs_names_tasks_and_samples(tiny_run, tmp_path, capsys):
    _overflowing_depth_head(tiny_run)
    out = tmp_path / "metrics.json"
    code = main(["eval", str(tiny_run), "--device", "cpu", "--workers", "0", "--batch-size", "2",
                 "--precision", "fp32", "--out", str(out)])
    line = _one_error_line(capsys.readouterr().err)
    assert code == 1 and not out.exists()
    assert "not finite" in line and "task(s) depth," in line and "normals" not in line
    assert "samples probe0, probe1:" in line  # the first batch's images


def test_predict_of_a_student_with_non_finite_outputs_names_tasks_and_image(tiny_run, tmp_path, capsys):
    _overflowing_depth_head(tiny_run)
    image = tmp_path / "photo.png"
    Image.fromarray(np.full((20, 30, 3), 128, np.uint8)).save(image)
    out = tmp_path / "pred"
    code = main(["predict", str(tiny_run), str(image), "--out", str(out), "--device", "cpu",
                 "--precision", "fp32"])
    line = _one_error_line(capsys.readouterr().err)
    assert code == 1 and "not finite" in line and "task(s) depth," in line and "samples photo:" in line
    assert not (out / "depth").exists()


def test_the_check_names_only_the_images_and_tasks_that_hold_them():
    outputs = {"depth": torch.zeros(3, 1, 4, 5), "normals": torch.zeros(3, 3, 4, 5), "semseg": torch.zeros(3, 2, 4, 5)}
    assert non_finite_error(outputs, [{"id": "a"}, {"id": "b"}, {"id": "c"}]) is None
    outputs["depth"][1, 0, 2, 3] = float("nan")
    outputs["normals"][2, 1, 0, 0] = float("-inf")
    message = str(non_finite_error(outputs, [{"id": "a"}, {"id": "b"}, {"id": "c"}]))
    assert "task(s) depth, normals," in message and "samples b, c:" in message
