"""The stem's patch size is one constant, sak_core.config.PATCH_SIZE: the config's input sizes,
the stem, predict's padding and the ONNX export's size check all follow it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sak_core.config import PATCH_SIZE, RunConfig
from sak_core.errors import ExportError
from sak_core.evaluation.prediction import padded_size

PACKAGE = Path(__file__).resolve().parents[1] / "sak_core"


def test_no_other_module_defines_a_patch_constant():
    defined = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, int):
                defined += [f"{path.relative_to(PACKAGE)}:{t.id}" for t in node.targets
                            if isinstance(t, ast.Name) and "PATCH" in t.id.upper()]
    assert defined == ["config.py:PATCH_SIZE"]


@given(st.integers(1, 2000), st.integers(1, 2000))
def test_predict_pads_to_the_next_multiple_of_the_patch(h, w):
    ph, pw = padded_size((h, w), None, mode="multiple")
    assert ph % PATCH_SIZE == pw % PATCH_SIZE == 0
    assert h <= ph < h + PATCH_SIZE and w <= pw < w + PATCH_SIZE


def test_the_config_and_the_export_refuse_the_same_sizes():
    from sak_core.convert.onnx import _checked_size  # noqa: PLC0415 - torch-needing

    with pytest.raises(ValueError, match=f"multiples of {PATCH_SIZE}"):
        RunConfig.model_validate({"data": {"input_size": [PATCH_SIZE + 1, PATCH_SIZE]}})
    with pytest.raises(ExportError, match=f"multiples of {PATCH_SIZE}"):
        _checked_size((PATCH_SIZE + 1, PATCH_SIZE))


def test_the_stem_has_the_patch_size():
    from sak_core.model.stem import TeacherAgnosticStem  # noqa: PLC0415 - torch-needing

    stem = TeacherAgnosticStem("vit_small", input_size=(2 * PATCH_SIZE, 2 * PATCH_SIZE), embed_dim=16, depth=1, num_heads=1)
    assert stem.patch_size == PATCH_SIZE
