"""Run configuration: YAML, overrides, validation messages, the resolved file."""

from __future__ import annotations

import json

import pytest
import yaml

from sak_core.config import RunConfig, load_config, parse_override, write_resolved
from sak_core.errors import ConfigError


def test_defaults_follow_the_paper_stage2_recipe():
    config = RunConfig()
    assert (config.optim.lr, config.optim.weight_decay, config.optim.schedule) == (2e-5, 1e-6, "poly")
    assert (config.optim.iterations, config.optim.grad_clip, config.optim.alpha) == (40000, 10.0, 1.0)
    assert config.data.batch_size == 4 and config.model.router == "mor"


def test_yaml_then_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("teachers: dinov2,clip\noptim:\n  lr: 0.001\n  iterations: 10\nmodel:\n  aligners: true\n")
    config = load_config(path, ["optim.lr=3e-4", "tasks=semseg,normals", "model.stem_overrides={embed_dim: 64}"])
    assert config.optim.lr == pytest.approx(3e-4)
    assert config.optim.iterations == 10
    assert [t.name for t in config.teachers] == ["dinov2", "clip"]
    assert config.tasks == ["semseg", "normals"]
    assert config.model.aligners is True
    assert config.model.stem_overrides == {"embed_dim": 64}


def test_base_layer_is_overridden_by_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("optim:\n  lr: 0.5\n")
    config = load_config(path, base={"optim": {"lr": 0.1, "iterations": 7}})
    assert (config.optim.lr, config.optim.iterations) == (0.5, 7)


def test_readable_validation_errors(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("optim:\n  lr: -1\n  colour: red\nmodel:\n  router: magic\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    assert "optim.lr: Input should be greater than 0" in message
    assert "optim.colour: Extra inputs are not permitted" in message
    assert "model.router: Input should be 'mor' or 'sum'" in message


@pytest.mark.parametrize(
    "text, error",
    [("optim.lr", "is not KEY=VALUE"), ("=3", "is not KEY=VALUE"), ("a=[1,", "not valid YAML")],
)
def test_bad_overrides(text, error):
    with pytest.raises(ConfigError, match=error):
        parse_override(text)


def test_missing_and_non_mapping_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(tmp_path / "list.yaml")


def test_teacher_entries_with_options():
    config = RunConfig.model_validate({"teachers": [{"name": "sam", "options": {"size": "vit_l"}, "weights": "random"}, "clip"]})
    assert config.teachers[0].options == {"size": "vit_l"} and config.teachers[0].weights == "random"
    assert config.teachers[1].name == "clip"


def test_resolved_config_round_trips(tmp_path):
    config = load_config(overrides=["teachers=dinov2", "optim.lr=0.01"])
    write_resolved(tmp_path / "run", config, [{"distribution": "sak-core", "version": "0.1.0"}])
    again = RunConfig.model_validate(yaml.safe_load((tmp_path / "run" / "config.yaml").read_text()))
    assert again == config
    assert json.loads((tmp_path / "run" / "plugins.json").read_text())[0]["distribution"] == "sak-core"
    assert not list((tmp_path / "run").glob(".*tmp*"))


def test_a_preset_s_dataset_options_stay_with_its_dataset():
    from sak_core.config import build_config, parse_override
    from sak_core.presets import get_preset

    demo = get_preset("demo").as_layer()
    assert demo["data"]["options"] == {"count": 300}
    other = build_config(demo, {"data": {"dataset": "pascal-context", "root": None}})
    assert other.data.dataset == "pascal-context" and other.data.options == {}
    assert build_config(demo, {"data": {"dataset": "synthetic"}}).data.options == {"count": 300}
    assert build_config(demo, parse_override("data.options={}")).data.options == {}  # {} replaces
    assert build_config(demo, parse_override("data.options.seed=4")).data.options == {"count": 300, "seed": 4}
    both = build_config(demo, {"data": {"dataset": "nyud", "options": {"on_error": "skip"}}})
    assert both.data.options == {"on_error": "skip"}  # the layer that names the dataset sets its own

