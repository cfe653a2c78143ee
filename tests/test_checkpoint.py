"""Student checkpoints: safetensors round trip, strict loading, atomic writes, clear errors."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

import sak_core
from sak_core.run.checkpoint import save_student
from sak_core.weights.files import load_state_strict
from sak_core.errors import CheckpointError, EnvironmentProblem
from sak_core.model import SAKStudent, StudentConfig

CONFIG = StudentConfig(
    stem_overrides=dict(embed_dim=32, depth=4, num_heads=2), input_size=(32, 32),
    teachers=dict(a=32, b=16), tasks=dict(seg=3), aligners=True,
)


def test_round_trip_gives_identical_outputs(tmp_path):
    torch.manual_seed(0)
    student = SAKStudent(CONFIG).eval()
    path = save_student(student, tmp_path / "run" / "model.safetensors")
    loaded = sak_core.load_student(tmp_path / "run").eval()  # a run directory works too
    images = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(loaded(images).tasks["seg"], student(images).tasks["seg"], rtol=0, atol=0)
    assert loaded.config == CONFIG
    assert path.exists() and not list(path.parent.glob(".*tmp*"))


def test_truncated_file_is_a_clear_error(tmp_path):
    path = save_student(SAKStudent(CONFIG), tmp_path / "model.safetensors")
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="truncated"):
        sak_core.load_student(path)


def test_foreign_safetensors_is_refused(tmp_path):
    save_file({"w": torch.zeros(1)}, str(tmp_path / "x.safetensors"))
    with pytest.raises(CheckpointError, match="was not written by sak"):
        sak_core.load_student(tmp_path / "x.safetensors")


@pytest.mark.parametrize("stored, problem", [
    ("{not json", "Expecting property name"),
    ("[1, 2]", "it holds a list, not a mapping"),
    (None, "input_size: "),
], ids=["not json", "not a mapping", "bad field"])
def test_a_damaged_config_in_the_metadata_names_the_file_and_the_problem(tmp_path, stored, problem):
    from sak_core.run.checkpoint import CONFIG_KEY

    state = {k: v.contiguous() for k, v in SAKStudent(CONFIG).state_dict().items()}
    text = stored if stored is not None else json.dumps({**json.loads(CONFIG.model_dump_json()), "input_size": "big"})
    save_file(state, str(tmp_path / "m.safetensors"), metadata={CONFIG_KEY: text})
    with pytest.raises(CheckpointError, match=f"m.safetensors: its '{CONFIG_KEY}' metadata is not a valid student "
                                              f"config \\(.*{problem}"):
        sak_core.load_student(tmp_path / "m.safetensors")


def test_weights_that_are_not_finite_are_refused(tmp_path):
    student = SAKStudent(CONFIG)
    with torch.no_grad():
        student.heads["seg"].classify.weight[0, 0] = float("nan")
    path = save_student(student, tmp_path / "m.safetensors")
    with pytest.raises(CheckpointError, match=r"1 tensor\(s\) hold NaN or infinite values, e.g. "
                                              r"heads.seg.classify.weight; .* use an earlier checkpoint"):
        sak_core.load_student(path)


def test_missing_run_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="holds no model.safetensors"):
        sak_core.load_student(tmp_path)


def test_strict_loading_lists_every_problem():
    model = torch.nn.Linear(2, 3)
    with pytest.raises(CheckpointError) as info:
        load_state_strict(model, {"weight": torch.zeros(2, 2), "extra": torch.zeros(1)}, source="ckpt")
    message = str(info.value)
    assert message.startswith("ckpt does not fit the model: ")
    assert "missing keys: bias" in message and "unexpected keys: extra" in message
    assert "shape mismatches (file vs model): weight (2, 2) vs (3, 2)" in message


def test_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = save_student(SAKStudent(CONFIG), tmp_path / "model.safetensors")
    before = path.read_bytes()

    def crash_midway(state, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr("sak_core.run.checkpoint.save_file", crash_midway)
    with pytest.raises(EnvironmentProblem, match=f"{path}: disk full"):  # one line naming the file
        save_student(SAKStudent(CONFIG), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


def test_identical_students_give_byte_identical_files(tmp_path):
    import struct

    from sak_core.model import SAKStudent, StudentConfig

    torch.manual_seed(0)
    student = SAKStudent(StudentConfig(stem="vit_small", input_size=(32, 32), stem_pretrained=False, teachers={"t": 32},
                                       stem_overrides={"embed_dim": 32, "depth": 2, "num_heads": 2}))
    meta = {f"key{i}": str(i) for i in range(12)}  # enough keys for hash order to differ between writes
    files = [save_student(student, tmp_path / f"{i}.safetensors", metadata=meta) for i in range(4)]
    data = [f.read_bytes() for f in files]
    assert all(d == data[0] for d in data)
    size = struct.unpack("<Q", data[0][:8])[0]
    keys = list(json.loads(data[0][8:8 + size])["__metadata__"])
    assert keys == sorted(keys)
    assert sak_core.load_student(files[0]).state_dict().keys() == student.state_dict().keys()


def test_a_torch_file_given_as_a_student_points_to_the_converter(tmp_path):
    torch.save({"model": {"w": torch.zeros(1)}}, tmp_path / "official.pth")
    with pytest.raises(CheckpointError, match=r"official.pth is not a readable safetensors file .*looks like a "
                                              r"PyTorch file: convert the authors' checkpoints with `sak convert official`"):
        sak_core.load_student(tmp_path / "official.pth")
