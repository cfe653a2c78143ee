"""Choosing tasks for a dataset, including tasks whose targets derive from other labels."""

from __future__ import annotations

import types

import pytest
import torch

import sak_core
from sak_core.model.assemble import add_derived_targets, resolve_tasks, student_config
from sak_core.config import RunConfig
from sak_core.errors import ConfigError, UnknownNameError
from sak_core.plugin.registry import temporary_plugin
from sak_core.plugin.specs import TaskSpec


def doubled(batch):
    return 2 * batch["toy_reg"]


DERIVED = types.SimpleNamespace(
    sak_register_tasks=sak_core.hookimpl(
        lambda register: register(
            TaskSpec(name="toy_double", factory=sak_core.Task, default_outputs=1,
                     derive_target=doubled, requires=("toy_reg",))
        )
    )
)
NEEDS_MISSING = types.SimpleNamespace(
    sak_register_tasks=sak_core.hookimpl(
        lambda register: register(
            TaskSpec(name="toy_needs_depth", factory=sak_core.Task, default_outputs=1,
                     derive_target=doubled, requires=("depth",))
        )
    )
)


def run(**kw) -> RunConfig:
    return RunConfig.model_validate({"teachers": "toy_a", "data": {"dataset": "toy"}, **kw})


def test_all_means_every_installed_task_the_dataset_supports(toy_plugins):
    with temporary_plugin(DERIVED), temporary_plugin(NEEDS_MISSING):
        assert resolve_tasks(run()) == ["toy_seg", "toy_reg", "toy_double"]
        assert resolve_tasks(run(tasks="toy_double")) == ["toy_double"]
        with pytest.raises(ConfigError, match=r"no labels for task 'toy_needs_depth' \(its targets derive from \['depth'\]\)"):
            resolve_tasks(run(tasks="toy_needs_depth"))


def test_stage1_has_no_tasks(toy_plugins):
    assert resolve_tasks(run(stage=1)) == []


def test_unknown_task_lists_installed(toy_plugins):
    with pytest.raises(UnknownNameError, match="Did you mean 'toy_seg'"):
        resolve_tasks(run(tasks="toy_sag"))


def test_derived_targets_fill_the_batch(toy_plugins):
    with temporary_plugin(DERIVED):
        batch = {"toy_reg": torch.tensor([1.0, -2.0])}
        add_derived_targets(batch, ["toy_reg", "toy_double"])
        torch.testing.assert_close(batch["toy_double"], torch.tensor([2.0, -4.0]))


def test_student_config_resolves_widths_outputs_and_size(toy_plugins):
    config = student_config(run(teachers="toy_b", data={"dataset": "toy", "input_size": (32, 48)},
                                model={"aligners": True}))
    assert config.teachers == {"toy_b": 32} and config.tasks == {"toy_seg": 2, "toy_reg": 1}
    assert config.input_size == (32, 48) and config.aligners


def test_teacher_options_reach_the_spec(toy_plugins):
    config = student_config(
        RunConfig.model_validate({"teachers": [{"name": "toy_a", "options": {"arch": {"embed_dim": 16}}}],
                                  "data": {"dataset": "toy"}, "model": {"aligners": True}})
    )
    assert config.teachers == {"toy_a": 16}
