"""Presets: every one validates; the demo trains with the real teacher plugins at tiny size."""

from __future__ import annotations

import pytest

from sak_core.plugin.lookup import list_teachers
from sak_core.config import build_config, deep_merge
from sak_core.errors import ConfigError
from sak_core.presets import PRESETS, get_preset


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_are_valid_run_configs(name):
    config = build_config(get_preset(name).as_layer())
    assert [t.name for t in config.teachers] == ["dinov2", "clip", "sam"]


def test_paper_recipes():
    pascal = build_config(get_preset("paper-pascal").as_layer())
    assert (pascal.optim.lr, pascal.optim.weight_decay, pascal.optim.schedule, pascal.optim.iterations) == (
        2e-5, 1e-6, "poly", 40000)
    assert (pascal.data.batch_size, pascal.optim.grad_clip, pascal.optim.alpha) == (4, 10.0, 1.0)
    stage1 = build_config(get_preset("paper-stage1").as_layer())
    assert (stage1.stage, stage1.optim.epochs, stage1.optim.warmup_epochs, stage1.optim.min_lr) == (1, 30, 2, 1e-5)
    assert tuple(build_config(get_preset("paper-nyud").as_layer()).data.input_size) == (448, 576)


def test_unknown_preset_suggests_the_closest():
    with pytest.raises(ConfigError, match="Did you mean 'demo'"):
        get_preset("demoo")


@pytest.mark.skipif(not {"dinov2", "clip", "sam"} <= set(list_teachers()), reason="teacher plugins not installed")
def test_demo_trains_with_the_real_teachers(tmp_path):
    from sak_core.training import train

    quick = {"data": {"options": {"count": 16}, "val_limit": 4}, "optim": {"iterations": 2},
             "output": {"tensorboard": False}}
    result = train(build_config(deep_merge(get_preset("demo").as_layer(), quick)), tmp_path / "run")
    assert result.step == 2
    assert {"semseg/mIoU", "normals/mErr", "depth/RMSE"} <= set(result.final_scores)
