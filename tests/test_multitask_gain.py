"""Multi-task gain: the paper's dm from its tables, direction from TaskSpecs, table loading."""

from __future__ import annotations

import pytest

from sak_core import TaskSpec, hookimpl
from sak_core.errors import SpecError
from sak_core.evaluation.multitask_gain import (
    list_baselines,
    load_baseline,
    multitask_gain,
    per_task_gain,
)
from sak_core.plugin.registry import temporary_plugin


def spec(name: str, metric: str, higher: bool) -> TaskSpec:
    return TaskSpec(name=f"{name}", factory=lambda s, d: None, metric_name=metric,
                    higher_is_better=higher)


# specs as the task plugins declare them; the core holds no list of directions
SPECS = {
    "semseg": spec("semseg", "mIoU", True),
    "parts": spec("parts", "mIoU", True),
    "saliency": spec("saliency", "maxF", True),
    "normals": spec("normals", "mErr", False),
    "boundaries": spec("boundaries", "odsF", True),
    "depth": spec("depth", "RMSE", False),
}

# SAK ViT-B as reported in the paper
SAK_PASCAL = {"semseg": 81.88, "parts": 74.30, "saliency": 84.79, "normals": 14.02,
              "boundaries": 74.09}
SAK_NYUD = {"semseg": 59.93, "depth": 0.4942, "normals": 17.60, "boundaries": 78.60}


def test_shipped_tables():
    assert {"pascal_context_vit_b", "nyud_v2_vit_b"} <= set(list_baselines())
    table = load_baseline("pascal_context_vit_b")
    assert table.metrics == {"semseg": 80.25, "parts": 70.54, "saliency": 84.54, "normals": 13.57,
                             "boundaries": 74.22}
    assert table.backbone == "ViT-B" and table.dataset == "PASCAL-Context"
    assert load_baseline("nyud_v2_vit_b").metrics["depth"] == 0.5792


def test_reproduces_the_papers_pascal_context_gain():
    assert round(multitask_gain(SAK_PASCAL, "pascal_context_vit_b", SPECS), 2) == 0.83


def test_reproduces_the_papers_nyud_gain():
    assert round(multitask_gain(SAK_NYUD, "nyud_v2_vit_b", SPECS), 2) == 11.11


def test_direction_comes_from_the_spec():
    gains = per_task_gain({"normals": 14.02}, load_baseline("pascal_context_vit_b"), SPECS)
    assert gains["normals"] == pytest.approx(-(14.02 - 13.57) / 13.57 * 100)
    flipped = {"normals": spec("normals", "mErr", True)}
    assert per_task_gain({"normals": 14.02}, {"normals": 13.57}, flipped)["normals"] == pytest.approx(
        -gains["normals"])


def test_score_dicts_use_the_primary_metric():
    scores = {"depth": {"RMSE": 0.4942, "other": 9.0}}
    assert multitask_gain(scores, {"depth": 0.5792}, SPECS) == pytest.approx(
        (0.5792 - 0.4942) / 0.5792 * 100)
    with pytest.raises(SpecError, match="RMSE"):
        multitask_gain({"depth": {"rmse": 1.0}}, {"depth": 0.5792}, SPECS)


def test_specs_default_to_the_registry():
    class Plugin:
        @staticmethod
        @hookimpl
        def sak_register_tasks(register):
            register(spec("toy_lower", "err", False))

    with temporary_plugin(Plugin()):
        assert multitask_gain({"toy_lower": 8.0}, {"toy_lower": 10.0}) == pytest.approx(20.0)


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(SpecError, match="no entry for task 'parts'"):
        multitask_gain({"parts": 70.0}, "nyud_v2_vit_b", SPECS)
    with pytest.raises(SpecError, match="pascal_context_vit_b"):
        load_baseline("pascal_vit_b")
    with pytest.raises(SpecError, match="at least one"):
        multitask_gain({}, "nyud_v2_vit_b", SPECS)


def test_user_tables_load_from_a_path(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\nmetrics:\n  semseg: 50\n  depth: 0.5\n")
    table = load_baseline(path)
    assert table.name == "mine"
    assert multitask_gain({"semseg": 55.0, "depth": 0.45}, table, SPECS) == pytest.approx(10.0)
    (tmp_path / "bad.yaml").write_text("name: bad\n")
    with pytest.raises(SpecError, match="metrics"):
        load_baseline(tmp_path / "bad.yaml")
